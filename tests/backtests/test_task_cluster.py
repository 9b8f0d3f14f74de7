"""A real django-q2 cluster (``manage.py qcluster`` in a subprocess) runs a queued backtest, with the ORM
broker and with Redis. PostgreSQL only: the cluster process must share the test database."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime

import pytest

from backtests import services
from backtests.models import BacktestConfig, RunStatus
from tests.cluster import cluster_env, manage, start_cluster, stop_cluster
from tests.markers import committed_db

pytestmark = [committed_db, pytest.mark.postgres]


@pytest.mark.parametrize("broker", ["orm", "redis"])
def test_cluster_runs_a_queued_backtest(broker, requires_postgres, btc_candles_in_db):
    if broker == "redis" and not os.environ.get("REDIS_TEST_URL"):
        pytest.skip("set REDIS_TEST_URL=redis://127.0.0.1:6379/15 to test the Redis broker")
    config = services.backtest_create(strategy="sma_crossover", symbols=["BTC"], timeframe="1h",
                                      start=datetime(2022, 1, 15, tzinfo=UTC), end=datetime(2022, 5, 1, tzinfo=UTC),
                                      parameters={"stop_pct": 0.05}, queue=False)
    env = cluster_env(broker)
    cluster = start_cluster(env)
    try:
        queued = manage(env, "shell", "-c",
                         f"from core import lifecycle; from backtests.models import BacktestConfig as C; "
                         f"lifecycle.enqueue(C.objects.get(pk={config.pk}))")
        assert queued.returncode == 0, queued.stderr
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            config.refresh_from_db()
            if config.status in {RunStatus.SUCCEEDED, RunStatus.FAILED}:
                break
            time.sleep(0.5)
    finally:
        output = stop_cluster(cluster)
    assert config.status == RunStatus.SUCCEEDED, f"{config.status}: {config.error}\n{output[-2000:]}"
    assert config.task_id and config.attempts == 1
    assert BacktestConfig.objects.get(pk=config.pk).trades.count() == config.num_trades > 0


def test_a_worker_killed_mid_run_leaves_a_visible_stale_run_that_retries_cleanly(requires_postgres, settings):
    """SIGKILL the cluster while it runs a backtest: the run stays 'running' (the operator sees it, stale
    once older than the task timeout); a retry replaces the run's results instead of duplicating them."""
    from datetime import timedelta

    from django.utils import timezone

    from core import lifecycle
    from marketdata.sample import sample_load

    sample_load(symbols=["BTC"], timeframes=["1h"])  # 2017-2023: a run long enough to be caught mid-way
    config = services.backtest_create(strategy="sma_crossover", symbols=["BTC"], timeframe="1h",
                                      start=datetime(2018, 1, 1, tzinfo=UTC), end=datetime(2023, 7, 1, tzinfo=UTC),
                                      parameters={"stop_pct": 0.05}, queue=False)
    env = cluster_env("orm")
    cluster = start_cluster(env, output=False)
    try:
        assert manage(env, "shell", "-c",
                       f"from core import lifecycle; from backtests.models import BacktestConfig as C; "
                         f"lifecycle.enqueue(C.objects.get(pk={config.pk}))").returncode == 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            config.refresh_from_db()
            if config.status != RunStatus.PENDING:
                break
            time.sleep(0.02)
    finally:
        os.killpg(cluster.pid, signal.SIGKILL)  # the machine dies: no clean shutdown
        cluster.wait(timeout=30)
    config.refresh_from_db()
    if config.status == RunStatus.SUCCEEDED:
        pytest.skip("the run finished before the worker could be killed on this machine")
    assert config.status == RunStatus.RUNNING and config.trades.count() == 0  # nothing half written
    assert not config.is_stale
    BacktestConfig.objects.filter(pk=config.pk).update(started_at=timezone.now() - timedelta(hours=2))
    config.refresh_from_db()
    assert config.is_stale  # the admin shows it as stale
    lifecycle.retry(config)
    services.backtest_execute(config.pk)
    config.refresh_from_db()
    assert config.status == RunStatus.SUCCEEDED and config.attempts == 2
    assert config.trades.count() == config.num_trades > 0
