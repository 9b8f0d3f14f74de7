"""Research endpoints: queued work answers 202 with a status URL; bad input is a 400 that writes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from analytics.models import WalkForwardRun
from backtests.models import ResearchJob, RunStatus
from tests import factories as f

pytestmark = pytest.mark.django_db
BASE = "/api/v1/backtesting"


@pytest.fixture
def staff_client():
    client = APIClient()
    client.force_authenticate(User.objects.create_user("op", is_staff=True))
    return client


def test_strategies_are_listed_with_parameters(staff_client):
    strategies = staff_client.get(f"{BASE}/strategies").json()
    names = {s["name"] for s in strategies}
    assert {"defi_derivatives_momentum", "stable_lp_yield", "curve_wars", "layer2_growth", "lending_value"} <= names
    one = staff_client.get(f"{BASE}/strategies/curve_wars").json()
    assert one["universe"] == ["CRV", "CVX", "FXS"] and "default" in next(iter(one["parameters"].values()))
    assert staff_client.get(f"{BASE}/strategies/nope").status_code == 404


def test_walkforward_is_queued_and_runs(staff_client, btc_candles_in_db, django_capture_on_commit_callbacks):
    payload = {"strategy": "sma_crossover", "symbols": ["BTC"], "timeframe": "1h",
               "start": "2021-12-01T00:00:00Z", "end": "2022-05-01T00:00:00Z", "train_months": 1,
               "test_months": 1, "max_trials": 3}
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"{BASE}/walkforward", payload, format="json")
    assert response.status_code == 202, response.content
    detail = staff_client.get(response.json()["status_url"]).json()
    assert detail["status"] == "succeeded", detail["error"]
    assert len(detail["periods"]) >= 2 and detail["holdout_metrics"]["evaluations"] == 1
    listing = staff_client.get(f"{BASE}/walkforward-runs?strategy=sma_crossover").json()
    assert listing["count"] == 1


@pytest.mark.parametrize(("change", "field"), [({"train_months": 0}, "train_months"),
                                               ({"strategy": "x"}, "strategy"),
                                               ({"holdout_fraction": 1.5}, "holdout_fraction")])
def test_walkforward_validation(staff_client, change, field):
    payload = {"strategy": "sma_crossover", "start": "2021-12-01T00:00:00Z", "end": "2022-05-01T00:00:00Z", **change}
    response = staff_client.post(f"{BASE}/walkforward", payload, format="json")
    assert response.status_code == 400 and field in response.json()
    assert WalkForwardRun.objects.count() == 0


def test_montecarlo_needs_a_succeeded_run(staff_client):
    pending = f.backtest_config()
    response = staff_client.post(f"{BASE}/montecarlo", {"config_id": pending.pk}, format="json")
    assert response.status_code == 400 and "config_id" in response.json()
    response = staff_client.post(f"{BASE}/montecarlo", {"config_id": 99999}, format="json")
    assert response.status_code == 400
    assert ResearchJob.objects.count() == 0


def test_montecarlo_job_runs_on_a_stored_run(staff_client, django_capture_on_commit_callbacks):
    config = f.backtest_config(status=RunStatus.SUCCEEDED)
    for i in range(40):  # 40 positions (each its own entry), plus one partial-exit leg of the last one
        entry = f.T0 + timedelta(hours=6 * i)
        f.backtest_trade(config, entry_time=entry, exit_time=entry + timedelta(hours=5),
                         pnl=100.0 if i % 3 else -80.0, return_pct=0.001)
    f.backtest_trade(config, entry_time=entry, exit_time=entry + timedelta(hours=2), pnl=5.0, is_partial=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"{BASE}/montecarlo", {"config_id": config.pk, "iterations": 200}, format="json")
    assert response.status_code == 202
    job = staff_client.get(response.json()["status_url"]).json()
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["bootstrap"]["n_iterations"] == 200 and job["result"]["shuffle"]["n_trades"] == 40
    assert staff_client.get(f"{BASE}/montecarlo").json()["count"] == 1


def test_stress_test_validation_and_listing(staff_client):
    response = staff_client.post(f"{BASE}/stress-tests", {"strategy": "curve_wars", "events": ["moon-landing"]},
                                 format="json")
    assert response.status_code == 400 and "events" in response.json()
    response = staff_client.post(f"{BASE}/stress-tests", {"strategy": "curve_wars", "parameters": {"bb_std": 99}},
                                 format="json")
    assert response.status_code == 400 and "parameters" in response.json()
    events = staff_client.get(f"{BASE}/stress-events").json()
    assert {e["slug"] for e in events["results"]} >= {"covid-2020", "luna-2022", "ftx-2022", "svb-2023"}


def test_capacity_endpoint_queues_the_curve_and_refuses_bad_capitals(staff_client, btc_candles_in_db,
                                                                      django_capture_on_commit_callbacks):
    payload = {"strategy": "sma_crossover", "parameters": {"fast": 10, "slow": 30, "stop_pct": 0.05},
               "start": "2022-02-01T00:00:00Z", "end": "2022-04-01T00:00:00Z", "capitals": [1e4, 1e7]}
    for bad, field in (({"capitals": [1e7, 1e4]}, "capitals"), ({"capitals": [1e4]}, "capitals"),
                       ({"parameters": {"fast": "x"}}, "parameters"), ({"end": "2022-01-01T00:00:00Z"}, "end")):
        response = staff_client.post(f"{BASE}/capacity", {**payload, **bad}, format="json")
        assert response.status_code == 400 and field in response.json(), response.json()
    assert ResearchJob.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"{BASE}/capacity", payload, format="json")
    assert response.status_code == 202
    job = staff_client.get(response.json()["status_url"]).json()
    assert job["status"] == "succeeded", job["error"]
    points = job["result"]["points"]
    assert [p["capital"] for p in points] == [1e4, 1e7] and points[0]["n_trades"] > 0
    assert points[1]["slippage_per_traded"] > points[0]["slippage_per_traded"]


def test_lookahead_endpoint_runs_the_check(staff_client, btc_candles_in_db, django_capture_on_commit_callbacks):
    payload = {"strategy": "sma_crossover", "symbols": ["BTC"], "timeframe": "1h", "start": "2022-01-01T00:00:00Z",
               "end": "2022-03-01T00:00:00Z", "sample": 3}
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"{BASE}/lookahead", payload, format="json")
    assert response.status_code == 202
    job = staff_client.get(response.json()["status_url"]).json()
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["passed"] is True and job["result"]["status"] == "passed"
    assert job["result"]["signal_cuts"] == 3 and job["result"]["non_signal_cuts"] == 3


def test_data_quality_report_is_queued_then_served(staff_client, btc_candles_in_db,
                                                   django_capture_on_commit_callbacks):
    assert staff_client.get(f"{BASE}/data-quality/latest").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"{BASE}/data-quality", {"symbols": ["BTC"], "timeframe": "1h"}, format="json")
    assert response.status_code == 202
    latest = staff_client.get(f"{BASE}/data-quality/latest").json()
    series = latest["result"]["series"]
    assert series[0]["symbol"] == "BTC" and series[0]["rows"] == len(btc_candles_in_db)


@pytest.mark.parametrize(("change", "field"), [({"holdout_fraction": 0.9}, "holdout_fraction"),
                                               ({"strategies": ["moon_shot"]}, "strategies"),
                                               ({"cluster": "sometimes"}, "cluster"),
                                               ({"max_trials": 0}, "max_trials")])
def test_research_request_validation(staff_client, change, field):
    response = staff_client.post(f"{BASE}/research", {"strategies": ["lending_value"], **change}, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert ResearchJob.objects.count() == 0


def test_research_is_queued_as_a_job_with_its_options(staff_client):
    """POST research queues the research job (202 + status URL) with the options the research run takes."""
    response = staff_client.post(f"{BASE}/research", {"strategies": ["lending_value"], "max_trials": 4,
                                                       "permutations": 0, "cluster": True}, format="json")
    assert response.status_code == 202, response.json()
    job = ResearchJob.objects.get()
    assert job.kind == "research" and job.status == "pending"
    assert job.params == {"strategies": ["lending_value"], "max_trials": 4, "train_months": 6, "test_months": 3,
                          "holdout_fraction": 0.3, "mc_iterations": 1000, "permutations": 0, "seed": 42,
                          "cluster": True}
    from analytics.research import ResearchOptions

    assert ResearchOptions(**job.params).cluster is True  # what the job adapter builds from them
