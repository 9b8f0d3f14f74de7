"""Runs and jobs belong to their maker; errors without tracebacks; docs behind login; limits shared and bounded."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.test import RequestFactory
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle, UserRateThrottle

from analytics.models import WalkForwardRun
from backtests.models import ResearchJob, RunStatus
from tests import factories as f
from tests.markers import committed_db

pytestmark = pytest.mark.django_db
BASE = "/api/v1/backtesting"
User = get_user_model()


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def people():
    alice = User.objects.create_user("alice")
    bob = User.objects.create_user("bob")
    staff = User.objects.create_user("ops", is_staff=True)
    return alice, bob, staff


def test_a_users_runs_jobs_and_trades_are_theirs_alone(people):
    alice, bob, staff = people
    config = f.backtest_config(created_by=alice, status=RunStatus.SUCCEEDED)
    f.backtest_trade(config)
    job = ResearchJob.objects.create(kind="montecarlo", params={"config_id": config.pk}, created_by=alice)
    run = WalkForwardRun.objects.create(strategy="sma_crossover", start=f.T0, end=f.T0 + timedelta(days=400),
                                     created_by=alice)
    paths = [f"{BASE}/configs/{config.pk}", f"{BASE}/configs/{config.pk}/trades", f"{BASE}/jobs/{job.pk}",
             f"{BASE}/walkforward-runs/{run.pk}"]
    for path in paths:
        assert client_for(alice).get(path).status_code == 200, path
        assert client_for(staff).get(path).status_code == 200, path
        assert client_for(bob).get(path).status_code == 404, path  # not even its existence is disclosed
    for listing in ("configs", "jobs", "walkforward-runs", "montecarlo"):
        assert client_for(bob).get(f"{BASE}/{listing}").json()["count"] == 0, listing
        assert client_for(alice).get(f"{BASE}/{listing}").json()["count"] == 1, listing
    # Nor can bob, allowed to start work but not staff, start a Monte Carlo of alice's run.
    from django.contrib.auth.models import Permission

    bob.user_permissions.add(Permission.objects.get(codename="add_researchjob"))
    refused = APIClient()
    refused.force_authenticate(User.objects.get(pk=bob.pk))
    response = refused.post(f"{BASE}/montecarlo", {"config_id": config.pk}, format="json")
    assert response.status_code == 400 and "no such backtest run" in str(response.json())


def test_api_clients_see_the_error_message_not_the_traceback(people):
    alice, _, _ = people
    trace = "ValueError: no 1h candles for BTC\n\nTraceback (most recent call last):\n  File \"x.py\", line 1"
    config = f.backtest_config(created_by=alice, status=RunStatus.FAILED, error=trace)
    job = ResearchJob.objects.create(kind="lookahead", status=RunStatus.FAILED, error=trace, created_by=alice)
    for path in (f"{BASE}/configs/{config.pk}", f"{BASE}/jobs/{job.pk}"):
        error = client_for(alice).get(path).json()["error"]
        assert error == "ValueError: no 1h candles for BTC" and "Traceback" not in error


def test_schema_and_docs_need_a_login():
    for path in ("/api/v1/schema/", "/api/v1/docs/"):
        assert APIClient().get(path).status_code in (401, 403), path
    assert client_for(User.objects.create_user("reader")).get("/api/v1/schema/").status_code == 200


def test_the_forwarded_proto_header_is_not_trusted_without_a_proxy():
    assert getattr(settings, "SECURE_PROXY_SSL_HEADER", None) is None
    request = RequestFactory().get("/", HTTP_X_FORWARDED_PROTO="https")
    assert request.is_secure() is False


def test_reads_and_writes_are_throttled(people, monkeypatch):
    alice, _, staff = people
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/min"})
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"write": "2/min", "user": "1000/min"})
    reader = client_for(alice)
    assert [reader.get(f"{BASE}/configs").status_code for _ in range(4)] == [200, 200, 200, 429]
    writer = client_for(staff)
    codes = [writer.post(f"{BASE}/data-quality", {}, format="json").status_code for _ in range(3)]
    assert codes[:2] == [202, 202] and codes[2] == 429


def test_throttle_counters_live_in_a_cache_every_process_shares():
    backend = settings.CACHES["default"]["BACKEND"]
    assert backend in ("django.core.cache.backends.db.DatabaseCache", "django.core.cache.backends.redis.RedisCache")


@committed_db
def test_another_process_sees_the_same_cache(requires_postgres):
    """What a second gunicorn worker would see: the value one process stored, read by another process."""
    cache.set("throttle_probe", "seen by the other process", 60)
    url = "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**{k: connection.settings_dict[k] or "" for k in
                                                             ("USER", "HOST", "PORT", "NAME")})
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_DEBUG": "1"}
    env.pop("REDIS_URL", None)
    code = "import django; django.setup(); from django.core.cache import cache; print(cache.get('throttle_probe'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=Path(__file__).resolve().parents[2],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "seen by the other process", out.stderr[-500:]


def test_absurd_numbers_are_refused(people):
    _, _, staff = people
    body = {"strategy": "sma_crossover", "symbols": ["BTC"], "timeframe": "1h", "start": "2022-01-15T00:00:00Z",
            "end": "2022-05-01T00:00:00Z", "risk_limits": {"max_position_pct": 1e308}}
    response = client_for(staff).post(f"{BASE}/run", body, format="json")
    assert response.status_code == 400 and "max_position_pct" in str(response.json())
    old = {**body, "risk_limits": {}, "start": "1900-01-01T00:00:00Z"}
    response = client_for(staff).post(f"{BASE}/run", old, format="json")
    assert response.status_code == 400 and "outside 2009-01-03 .. 2100-01-01" in str(response.json())
    ingest = {"symbols": ["BTC"], "timeframe": "1m", "start": "1900-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"}
    response = client_for(staff).post(f"{BASE}/ingest-data", ingest, format="json")
    assert response.status_code == 400


def test_an_ingestion_range_too_large_for_its_timeframe_is_refused(people):
    _, _, staff = people
    body = {"symbols": ["BTC"], "timeframe": "1m", "start": "2010-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z"}
    response = client_for(staff).post(f"{BASE}/ingest-data", body, format="json")
    assert response.status_code == 400 and "more than the 5000000" in str(response.json())
    assert client_for(staff).post(f"{BASE}/ingest-data", {**body, "timeframe": "1d"}, format="json").status_code == 202
