"""A real django-q2 cluster (``manage.py qcluster`` in a subprocess) runs a queued backtest, with the ORM
broker and with Redis. PostgreSQL only: the cluster process must share the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection

from backtests import services
from backtests.models import BacktestConfig, RunStatus

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def _env(broker: str) -> dict[str, str]:
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k not in {"Q_SYNC", "REDIS_URL"}}
    env.update(DATABASE_URL=f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
                            f"{db['PORT'] or 5432}/{db['NAME']}",
               Q_SYNC="0", Q_WORKERS="1", Q_CLUSTER_NAME=f"test-{uuid.uuid4().hex[:8]}")
    if broker == "redis":
        env["REDIS_URL"] = os.environ["REDIS_TEST_URL"]
    return env


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("broker", ["orm", "redis"])
def test_cluster_runs_a_queued_backtest(broker, requires_postgres, btc_candles_in_db):
    if broker == "redis" and not os.environ.get("REDIS_TEST_URL"):
        pytest.skip("set REDIS_TEST_URL=redis://127.0.0.1:6379/15 to test the Redis broker")
    config = services.backtest_create(strategy="sma_crossover", symbols=["BTC"], timeframe="1h",
                                      start=datetime(2022, 1, 15, tzinfo=UTC), end=datetime(2022, 5, 1, tzinfo=UTC),
                                      parameters={"stop_pct": 0.05}, queue=False)
    env = _env(broker)
    cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        queued = _manage(env, "shell", "-c",
                         f"from backtests.services import backtest_enqueue; backtest_enqueue({config.pk})")
        assert queued.returncode == 0, queued.stderr
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            config.refresh_from_db()
            if config.status in {RunStatus.SUCCEEDED, RunStatus.FAILED}:
                break
            time.sleep(0.5)
    finally:
        os.killpg(cluster.pid, signal.SIGTERM)
        try:
            output, _ = cluster.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
            output, _ = cluster.communicate()
    assert config.status == RunStatus.SUCCEEDED, f"{config.status}: {config.error}\n{output[-2000:]}"
    assert config.task_id and config.attempts == 1
    assert BacktestConfig.objects.get(pk=config.pk).trades.count() == config.num_trades > 0
