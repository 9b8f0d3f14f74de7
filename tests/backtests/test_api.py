"""REST API v1: 202 + status URL for work, 400 with field errors for bad input, auth and permissions."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from backtests.models import BacktestConfig, ResearchJob, RunStatus
from tests import factories as f

pytestmark = pytest.mark.django_db

RUN_URL = "/api/v1/backtesting/run"
INGEST_URL = "/api/v1/backtesting/ingest-data"
CONFIGS_URL = "/api/v1/backtesting/configs"

VALID_RUN = {"strategy": "sma_crossover", "symbols": ["BTC"], "timeframe": "1h",
             "start": "2022-01-15T00:00:00Z", "end": "2022-05-01T00:00:00Z",
             "parameters": {"fast": 20, "slow": 50, "stop_pct": 0.05}, "initial_capital": 50000}


@pytest.fixture
def staff_client():
    user = User.objects.create_user("operator", password="pw-12345-xyz", is_staff=True)
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def reader_client():
    user = User.objects.create_user("reader", password="pw-12345-xyz")
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_reading_needs_authentication():
    assert APIClient().get(CONFIGS_URL).status_code in (401, 403)


def test_starting_work_needs_staff(reader_client):
    response = reader_client.post(RUN_URL, VALID_RUN, format="json")
    assert response.status_code == 403
    assert BacktestConfig.objects.count() == 0
    assert reader_client.get(CONFIGS_URL).status_code == 200


def test_token_authentication(staff_client):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=User.objects.get(username="operator"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get(CONFIGS_URL).status_code == 200


def test_run_is_queued_and_its_status_moves_to_succeeded(staff_client, btc_candles_in_db,
                                                         django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # Q_SYNC=1 runs the queued task inline
        response = staff_client.post(RUN_URL, VALID_RUN, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "pending" and body["status_url"].endswith(f"/configs/{body['id']}")
    detail = staff_client.get(body["status_url"]).json()
    assert detail["status"] == "succeeded", detail["error"]
    assert detail["num_trades"] > 0 and detail["initial_capital"] == 50000
    assert detail["cost_model"]["short_carry_rate_per_hour"] == pytest.approx(0.0001 / 8)  # the defaults, stored
    assert detail["summary"]["execution"]["slippage_model"] == "fixed"
    trades = staff_client.get(f"{CONFIGS_URL}/{body['id']}/trades").json()
    assert trades["count"] == detail["num_trades"]
    assert all(trade["carry"] == 0.0 for trade in trades["results"])  # long-only spot: no carry
    metrics = staff_client.get(f"{CONFIGS_URL}/{body['id']}/metrics").json()
    assert metrics["count"] > 1000 and len(metrics["results"]) == 100  # paginated


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"strategy": "no_such_strategy"}, "strategy"),
        ({"symbols": ["DOGE"]}, "symbols"),
        ({"end": "2021-01-01T00:00:00Z"}, "end"),
        ({"initial_capital": -5}, "initial_capital"),
        ({"parameters": {"fast": 5000}}, "parameters"),
        ({"parameters": {"nope": 1}}, "parameters"),
        ({"initial_capital": "lots"}, "initial_capital"),
        ({"start": "yesterday"}, "start"),
        ({"timeframe": "3h"}, "timeframe"),
        ({"fee_rate": 0.5}, "fee_rate"),
        ({"risk_limits": {"max_drawdown_pct": 7}}, "risk_limits"),
        ({"risk_limits": {"unknown": 1}}, "risk_limits"),
        ({"cost_model": {"slippage_model": "magic"}}, "cost_model"),
        ({"cost_model": {"max_volume_share": "all"}}, "cost_model"),
        ({"cost_model": {"short_carry_rate_per_hour": 5}}, "cost_model"),
        ({"cost_model": {"spread": 0.1}}, "cost_model"),
        ({"cost_model": [1, 2]}, "cost_model"),
        ({"symbols": "BTC"}, "symbols"),
    ],
)
def test_bad_input_gets_400_with_field_errors_and_writes_nothing(staff_client, change, field):
    response = staff_client.post(RUN_URL, {**VALID_RUN, **change}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert BacktestConfig.objects.count() == 0 and ResearchJob.objects.count() == 0


def test_huge_payload_is_refused_without_a_500(staff_client):
    payload = json.dumps({**VALID_RUN, "name": "x" * (2 * 1024 * 1024)})
    response = staff_client.post(RUN_URL, payload, content_type="application/json")
    assert 400 <= response.status_code < 500
    assert BacktestConfig.objects.count() == 0


def test_malformed_json_is_a_400(staff_client):
    response = staff_client.post(RUN_URL, "{not json", content_type="application/json")
    assert response.status_code == 400


def test_ingest_data_queues_a_job_with_a_status_url(staff_client):
    response = staff_client.post(INGEST_URL, {"symbols": ["btc", "ETH"], "timeframe": "1d",
                                              "start": "2023-01-01T00:00:00Z", "end": "2023-02-01T00:00:00Z"},
                                 format="json")
    assert response.status_code == 202, response.content
    job = ResearchJob.objects.get(pk=response.json()["id"])
    assert job.kind == "ingest_ohlcv" and job.params["symbols"] == ["BTC", "ETH"]
    status = staff_client.get(response.json()["status_url"]).json()
    assert status["status"] in {"pending", "running", "succeeded", "failed"}


@pytest.mark.parametrize(
    ("change", "field"),
    [({"source": "kraken"}, "source"), ({"end": "2022-12-01T00:00:00Z"}, "end"), ({"symbols": []}, "symbols"),
     ({"timeframe": "2d"}, "timeframe")],
)
def test_ingest_data_validates(staff_client, change, field):
    payload = {"symbols": ["BTC"], "timeframe": "1d", "start": "2023-01-01T00:00:00Z",
               "end": "2023-02-01T00:00:00Z", **change}
    response = staff_client.post(INGEST_URL, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert ResearchJob.objects.count() == 0


def test_configs_are_filterable(staff_client):
    f.backtest_config(strategy="a", symbols=["BTC", "ETH"], status=RunStatus.SUCCEEDED)
    f.backtest_config(strategy="b", symbols=["OP"], status=RunStatus.FAILED)
    f.backtest_config(strategy="b", symbols=["OPX"], status=RunStatus.FAILED)

    def ids(query):
        return sorted(r["strategy"] + ":" + r["status"] for r in staff_client.get(CONFIGS_URL + query).json()["results"])

    assert ids("?strategy=a") == ["a:succeeded"]
    assert ids("?status=failed") == ["b:failed", "b:failed"]
    assert ids("?symbol=eth") == ["a:succeeded"]
    assert len(ids("?symbol=OP")) == 1
    assert staff_client.get(CONFIGS_URL + "?created_after=not-a-date").status_code == 400


def test_openapi_schema_is_served(reader_client):
    response = reader_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert "/api/v1/backtesting/run/" in schema["paths"]


def test_date_filters_accept_any_offset_and_refuse_unrepresentable_values(staff_client):
    """Found by the schemathesis fuzz on PostgreSQL: an offset beyond +/-15:59 was a 500."""
    f.backtest_config()
    ok = staff_client.get(CONFIGS_URL, {"created_after": "2000-01-01T00:00:00+18:23"})
    assert ok.status_code == 200 and ok.json()["count"] == 1
    overflow = staff_client.get(CONFIGS_URL, {"created_after": "9999-12-31T23:59:59-23:59"})
    assert overflow.status_code == 400 and "created_after" in overflow.json()
