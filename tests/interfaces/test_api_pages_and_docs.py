"""Clients choose their page size (within a cap), and the API docs are served from our own static files."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from rest_framework.test import APIClient

from backtests.models import BacktestMetric
from interfaces.api.pagination import MAX_PAGE_SIZE
from tests import factories as f

pytestmark = pytest.mark.django_db

BASE = "/api/v1/backtesting"


@pytest.fixture
def staff_client() -> APIClient:
    user = get_user_model().objects.create_user("pages", password="x", is_staff=True)
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def snapshots():
    config = f.backtest_config()
    BacktestMetric.objects.bulk_create(
        BacktestMetric(config=config, timestamp=f.T0 + timedelta(hours=i), equity=100_000.0 + i, cash=100_000.0,
                       drawdown=0.0) for i in range(MAX_PAGE_SIZE + 184))
    return config


def test_page_size_is_the_clients_choice_up_to_the_cap(staff_client, snapshots):
    url = f"{BASE}/configs/{snapshots.pk}/metrics"
    default = staff_client.get(url).json()
    assert default["count"] == MAX_PAGE_SIZE + 184 and len(default["results"]) == 100
    page = staff_client.get(url, {"page_size": 500, "page": 3}).json()
    assert len(page["results"]) == 184 and page["next"] is None  # 1,184 rows in pages of 500
    assert len(staff_client.get(url, {"page_size": 50_000}).json()["results"]) == MAX_PAGE_SIZE


def test_the_swagger_ui_is_served_from_the_project_not_a_cdn(staff_client):
    html = staff_client.get("/api/v1/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


def test_the_schema_documents_each_job_endpoint_with_its_own_request_body():
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    bodies = {path.rsplit("/", 2)[-2]: op["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
              for path, op in paths.items() if "post" in op}
    assert {name: ref.rsplit("/", 1)[-1] for name, ref in bodies.items()} == {
        "capacity": "CapacityRequest", "data-quality": "DataQualityRequest", "ingest-data": "IngestRequest",
        "lookahead": "LookaheadRequest",
        "montecarlo": "MonteCarloRequest", "parameter-heatmap": "ParameterHeatmapRequest", "run": "BacktestRequest",
        "research": "ResearchRequest", "stress-tests": "StressTestRequest", "walkforward": "WalkForwardRequest"}


def test_the_strategies_endpoint_answers_what_its_schema_says(staff_client):
    from interfaces.api.analytics_serializers import StrategyParameterSerializer, StrategySerializer

    listed = staff_client.get(f"{BASE}/strategies").json()
    assert listed and all(set(item) == set(StrategySerializer().fields) for item in listed)
    parameter_fields = set(StrategyParameterSerializer().fields)
    assert all(set(param) == parameter_fields for item in listed for param in item["parameters"].values())


def test_trades_and_snapshots_download_as_one_csv_file(staff_client, snapshots):
    f.backtest_trade(snapshots, exit_reason="stop_loss")
    f.backtest_trade(snapshots, entry_time=f.T0 + timedelta(days=1), exit_time=f.T0 + timedelta(days=2))
    response = staff_client.get(f"{BASE}/configs/{snapshots.pk}/metrics", {"format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="metrics-{snapshots.pk}.csv"'
    lines = response.content.decode().splitlines()
    assert len(lines) == MAX_PAGE_SIZE + 184 + 1  # every snapshot, not one page, plus the header
    assert "equity" in lines[0].split(",")
    trades = staff_client.get(f"{BASE}/configs/{snapshots.pk}/trades", {"format": "csv", "exit_reason": "stop_loss"})
    rows = trades.content.decode().splitlines()
    assert len(rows) == 2 and "stop_loss" in rows[1]  # filters apply to the file too
    assert staff_client.get(f"{BASE}/configs/{snapshots.pk}/trades").json()["count"] == 2  # JSON stays paged
