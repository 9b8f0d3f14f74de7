"""The operator console: start work from the admin, watch status, compare runs, export trades as CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.models import WalkForwardRun
from backtests.models import BacktestConfig, ResearchJob, RunStatus
from tests import factories as f

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:backtests_backtestconfig_changelist")


def test_add_form_queues_a_backtest_that_runs(admin_client, btc_candles_in_db, django_capture_on_commit_callbacks):
    form = {"name": "from admin", "strategy": "sma_crossover", "symbols": ["BTC"], "timeframe": "1h",
            "start_0": "2022-01-15", "start_1": "00:00:00", "end_0": "2022-05-01", "end_1": "00:00:00",
            "parameters": '{"stop_pct": 0.05}', "initial_capital": "100000", "fee_rate": "0.001",
            "slippage_rate": "0.005", "latency_ms": "100", "risk_limits": "{}",
            "cost_model": '{"slippage_model": "volume_share"}', "seed": "42"}
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:backtests_backtestconfig_add"), form)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    config = BacktestConfig.objects.get(name="from admin")
    assert config.status == RunStatus.SUCCEEDED, config.error
    page = admin_client.get(reverse("admin:backtests_backtestconfig_change", args=[config.pk])).content.decode()
    assert 'id="run-equity"' in page and 'id="run-drawdown"' in page and 'id="run-candles-0"' in page
    assert "buy and hold (equal weight)" in page and "sma_20" in page and "sma_50" in page  # benchmark, both SMAs
    assert config.cost_model["slippage_model"] == "volume_share" and config.cost_model["max_volume_share"] == 0.025
    assert "Fees / slippage / carry paid" in page and "slippage model volume_share" in page


def test_add_form_explains_parameters_and_takes_the_strategys_own_timeframe(admin_client):
    page = admin_client.get(reverse("admin:backtests_backtestconfig_add")).content.decode()
    assert "parameters of each strategy" in page and "bb_std 2.0 (1.5..2.5 step 0.5)" in page
    assert "the strategy&#x27;s own" in page or "the strategy's own" in page
    form = {"name": "own timeframe", "strategy": "curve_wars", "timeframe": "", "start_0": "2022-01-15",
            "start_1": "00:00:00", "end_0": "2022-05-01", "end_1": "00:00:00", "parameters": "",
            "initial_capital": "100000", "fee_rate": "0.001", "slippage_rate": "0.005", "latency_ms": "100",
            "risk_limits": "{}", "seed": "42"}
    response = admin_client.post(reverse("admin:backtests_backtestconfig_add"), form)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    config = BacktestConfig.objects.get(name="own timeframe")
    assert config.timeframe == "4h" and config.symbols == ["CRV", "CVX", "FXS"]
    assert config.parameters["bb_std"] == 2.0  # empty parameters: the defaults


def test_add_form_rejects_bad_parameters_and_writes_nothing(admin_client):
    form = {"strategy": "sma_crossover", "timeframe": "1h", "start_0": "2022-05-01", "start_1": "00:00:00",
            "end_0": "2022-01-01", "end_1": "00:00:00", "parameters": '{"fast": 5000}', "initial_capital": "-1",
            "fee_rate": "0.001", "slippage_rate": "0.005", "latency_ms": "100", "risk_limits": "{}",
            "cost_model": '{"slippage_model": "magic"}', "seed": "1"}
    response = admin_client.post(reverse("admin:backtests_backtestconfig_add"), form)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"end", "parameters", "initial_capital", "cost_model"} <= set(errors)
    assert "slippage_model must be one of" in str(errors["cost_model"])
    assert BacktestConfig.objects.count() == 0


def test_export_trades_csv(admin_client):
    config = f.backtest_config(status=RunStatus.SUCCEEDED)
    f.backtest_trade(config, pnl=12.5)
    f.backtest_trade(config, entry_time=f.T0 + timedelta(days=1), exit_time=f.T0 + timedelta(days=2), pnl=-3.0)
    response = admin_client.post(CHANGELIST, {"action": "export_trades_csv", "_selected_action": [config.pk]})
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [float(r["pnl"]) for r in rows] == [12.5, -3.0]
    assert rows[0]["run_id"] == str(config.pk) and rows[0]["strategy"] == "sma_crossover"


def test_compare_runs_side_by_side(admin_client):
    a = f.backtest_config(strategy="curve_wars", status=RunStatus.SUCCEEDED, sharpe_ratio=1.25)
    b = f.backtest_config(strategy="lending_value", status=RunStatus.SUCCEEDED, sharpe_ratio=-0.5)
    for config, equity in ((a, 101000.0), (b, 99000.0)):
        f.backtest_metric(config, equity=100000.0)
        f.backtest_metric(config, timestamp=f.T0 + timedelta(hours=1), equity=equity)
    response = admin_client.post(CHANGELIST, {"action": "compare_runs", "_selected_action": [a.pk, b.pk]})
    body = response.content.decode()
    assert response.status_code == 200 and "compare-table" in body
    assert "curve_wars" in body and "lending_value" in body and "1.25" in body and "<polyline" in body


def test_retry_requeues_failed_runs_only(admin_client, django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr("core.lifecycle.queue_task", lambda kind, pk, *args, name: queued.append(pk))
    failed = f.backtest_config(status=RunStatus.FAILED, error="boom")
    done = f.backtest_config(status=RunStatus.SUCCEEDED)
    pending = f.backtest_config(status=RunStatus.PENDING)
    running = f.backtest_config(status=RunStatus.RUNNING, started_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(CHANGELIST, {"action": "retry_runs", "_selected_action": [
            failed.pk, done.pk, pending.pk, running.pk]}, follow=True)
    failed.refresh_from_db()
    assert queued == [failed.pk] and failed.status == RunStatus.PENDING and failed.error == ""
    body = response.content.decode()
    assert "1 run(s) queued again" in body and "it is pending (already queued)" in body
    assert "it is running and not stale" in body and "it succeeded" in body


def test_stale_running_run_is_shown_as_such(admin_client):
    from django.utils import timezone

    f.backtest_config(status=RunStatus.RUNNING, started_at=timezone.now() - timedelta(days=2))
    body = admin_client.get(CHANGELIST).content.decode()
    assert "stale" in body


def test_start_ingestion_form_queues_a_job(admin_client, django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr("core.lifecycle.queue_task", lambda kind, pk, *args, name: queued.append(pk))
    url = reverse("admin:backtests_researchjob_start_ingestion")
    assert admin_client.get(url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"symbols": ["BTC", "ETH"], "timeframe": "1d", "start": "2023-01-01 00:00",
                                           "end": "2023-02-01 00:00", "source": ""})
    job = ResearchJob.objects.get()
    assert response.status_code == 302 and job.kind == "ingest_ohlcv" and queued == [job.pk]
    assert job.params["symbols"] == ["BTC", "ETH"] and job.params["source"] is None
    bad = admin_client.post(url, {"symbols": ["BTC"], "timeframe": "1d", "start": "2023-02-01 00:00",
                                  "end": "2023-01-01 00:00"})
    assert bad.status_code == 200 and "end must be after start" in bad.content.decode()
    assert ResearchJob.objects.count() == 1


def test_walkforward_add_form_queues_a_run(admin_client, django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr("core.lifecycle.queue_task", lambda kind, pk, *args, name: queued.append(pk))
    form = {"strategy": "curve_wars", "timeframe": "4h", "start_0": "2022-01-01",
            "start_1": "00:00:00", "end_0": "2023-06-01", "end_1": "00:00:00", "train_months": "6",
            "test_months": "3", "objective": "sharpe", "holdout_fraction": "0.3", "settings": "{}", "seed": "42"}
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:analytics_walkforwardrun_add"), form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    run = WalkForwardRun.objects.get()
    assert queued == [run.pk] and run.symbols == ["CRV", "CVX", "FXS"]
