"""One lifecycle for backtests, walk-forwards and jobs: claimed once, killed cleanly, retried once.

A kill is simulated by a ``BaseException`` raised inside the work (what ``SIGKILL`` does to a worker, as
far as the database is concerned: the open transaction never commits and nothing records a failure).
The real ``SIGKILL`` of a qcluster worker is in ``tests/backtests/test_task_cluster.py`` (PostgreSQL).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from analytics import research, services
from analytics.models import HoldoutLock, WalkForwardPeriod, WalkForwardRun
from backtests import services as backtest_services
from backtests.jobs import job_create
from backtests.models import BacktestConfig, ResearchJob, RunStatus
from core import lifecycle
from marketdata import ingestion
from marketdata.sources import SourceError

pytestmark = pytest.mark.django_db

START = datetime(2021, 12, 1, tzinfo=UTC)
END = datetime(2022, 5, 1, tzinfo=UTC)


class Killed(BaseException):
    """The worker dies here: no ``except Exception`` sees it, the open transaction is rolled back."""


def dies_on_call(number: int, function):
    """``function``, except that its ``number``-th call kills the worker."""
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == number:
            raise Killed
        return function(*args, **kwargs)

    return wrapper


def _backtest() -> BacktestConfig:
    return backtest_services.backtest_create(
        strategy="sma_crossover", symbols=["BTC"], timeframe="1h", start=datetime(2022, 1, 15, tzinfo=UTC),
        end=datetime(2022, 5, 1, tzinfo=UTC), parameters={"stop_pct": 0.05}, queue=False)


def _walkforward(**overrides) -> WalkForwardRun:
    values = dict(strategy="sma_crossover", symbols=["BTC"], timeframe="1h", start=START, end=END,
                  train_months=1, test_months=1, search="random", max_trials=4, seed=7, queue=False)
    return services.walkforward_create(**{**values, **overrides})


def _make_stale(run) -> None:
    type(run).objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(days=1))
    run.refresh_from_db()


def _lock() -> HoldoutLock:
    return HoldoutLock.objects.get(strategy="sma_crossover")


def _walkforward_evaluations() -> int:
    """How often a walk-forward evaluated its choice on the holdout (replays such as Monte Carlo aside)."""
    return sum(entry["kind"] == "walk-forward holdout" for entry in _lock().history)


# --------------------------------------------------------------------------- claims
def test_a_second_task_after_the_first_does_nothing(btc_candles_in_db, caplog):
    config = _backtest()
    backtest_services.backtest_execute(config.pk)
    config.refresh_from_db()
    trades, finished = config.trades.count(), config.finished_at
    second = backtest_services.backtest_execute(config.pk)
    config.refresh_from_db()
    assert "skipped" in second and "not claimed" in caplog.text
    assert config.status == RunStatus.SUCCEEDED and config.attempts == 1
    assert config.trades.count() == trades > 0 and config.finished_at == finished


def test_a_second_task_while_the_first_runs_does_nothing(btc_candles_in_db, monkeypatch, caplog):
    config = _backtest()
    compute = backtest_services.backtest_compute
    inner = []

    def compute_while_another_task_arrives(run):
        inner.append(backtest_services.backtest_execute(run.pk))  # the duplicate task, mid-run
        return compute(run)

    monkeypatch.setattr(backtest_services, "backtest_compute", compute_while_another_task_arrives)
    backtest_services.backtest_execute(config.pk)
    config.refresh_from_db()
    assert inner and "skipped" in inner[0] and "is running" in inner[0]["skipped"]
    assert config.status == RunStatus.SUCCEEDED, config.error
    assert config.attempts == 1 and config.trades.count() == config.num_trades > 0
    assert config.metrics.count() > 0


def test_retry_refuses_pending_running_and_succeeded_runs(db):
    config = _backtest()
    with pytest.raises(lifecycle.LifecycleError, match="pending"):
        lifecycle.retry(config)
    BacktestConfig.objects.filter(pk=config.pk).update(status=RunStatus.RUNNING, started_at=timezone.now())
    with pytest.raises(lifecycle.LifecycleError, match="running and not stale"):
        lifecycle.retry(BacktestConfig.objects.get(pk=config.pk))
    BacktestConfig.objects.filter(pk=config.pk).update(status=RunStatus.SUCCEEDED)
    with pytest.raises(lifecycle.LifecycleError, match="succeeded"):
        lifecycle.retry(BacktestConfig.objects.get(pk=config.pk))
    run = _walkforward()
    with pytest.raises(lifecycle.LifecycleError, match="pending"):
        lifecycle.retry(run)


def test_a_stale_run_retried_while_its_old_worker_lives_keeps_one_result(btc_candles_in_db, monkeypatch):
    """The old worker was only slow: the retry's attempt stores the run, the old one's store is refused."""
    config = _backtest()
    compute = backtest_services.backtest_compute
    calls = []

    def slow_first_attempt(run):
        outcome = compute(run)
        if not calls:
            calls.append(1)
            _make_stale(run)
            lifecycle.retry(BacktestConfig.objects.get(pk=run.pk))
            backtest_services.backtest_execute(run.pk)  # attempt 2 runs to completion meanwhile
        return outcome

    monkeypatch.setattr(backtest_services, "backtest_compute", slow_first_attempt)
    result = backtest_services.backtest_execute(config.pk)
    config.refresh_from_db()
    assert "skipped" in result and "no longer holds" in result["skipped"]
    assert config.status == RunStatus.SUCCEEDED and config.attempts == 2
    assert config.trades.count() == config.num_trades > 0  # one set of trades, not two


def test_two_tasks_for_one_walkforward_evaluate_the_holdout_once(btc_candles_in_db):
    run = _walkforward()
    services.walkforward_execute(run.pk)
    again = services.walkforward_execute(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert "skipped" in again and _lock().evaluations == 1 and run.attempts == 1
    assert BacktestConfig.objects.filter(purpose="holdout").count() == 1


# --------------------------------------------------------------------------- kill at each step
def test_a_kill_mid_period_keeps_the_finished_periods_and_a_retry_completes(btc_candles_in_db, monkeypatch):
    run = _walkforward()
    optimise = services.optimise
    monkeypatch.setattr(services, "optimise", dies_on_call(2, optimise))  # in the second period
    with pytest.raises(Killed):
        services.walkforward_execute(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING  # visible: stale once older than the task timeout
    assert list(WalkForwardPeriod.objects.filter(run=run).values_list("index", flat=True)) == [0]
    assert _lock().evaluations == 0
    monkeypatch.setattr(services, "optimise", optimise)
    _make_stale(run)
    lifecycle.retry(run)
    services.walkforward_execute(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.attempts == 2
    assert WalkForwardPeriod.objects.filter(run=run).count() >= 2
    assert _lock().evaluations == 1 and run.holdout_metrics["contaminated"] is False


def test_a_kill_after_the_holdout_evaluation_leaves_no_count_and_no_holdout_run(btc_candles_in_db,
                                                                                  monkeypatch):
    run = _walkforward()
    store = services._store_holdout_run

    def dies_after_counting(*args, **kwargs):
        assert HoldoutLock.objects.get(pk=_lock().pk).evaluations == 1  # counted in this transaction
        raise Killed

    monkeypatch.setattr(services, "_store_holdout_run", dies_after_counting)
    with pytest.raises(Killed):
        services.walkforward_execute(run.pk)
    assert _lock().evaluations == 0 and not BacktestConfig.objects.filter(purpose="holdout").exists()
    assert WalkForwardRun.objects.get(pk=run.pk).status == RunStatus.RUNNING
    monkeypatch.setattr(services, "_store_holdout_run", store)
    _make_stale(run)
    lifecycle.retry(run)
    services.walkforward_execute(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and _lock().evaluations == 1
    assert BacktestConfig.objects.filter(purpose="holdout").count() == 1
    assert run.holdout_metrics["config_id"] == BacktestConfig.objects.get(purpose="holdout").pk


def test_a_research_job_killed_before_the_report_reuses_its_walkforward(btc_candles_in_db, monkeypatch,
                                                                        tmp_path):
    from strategies.examples import SmaCrossover

    monkeypatch.setattr(SmaCrossover, "universe", ("BTC",))
    params = {"strategies": ["sma_crossover"], "train_months": 1, "test_months": 1, "max_trials": 3,
              "mc_iterations": 50, "cache_indicators": False, "report_dir": str(tmp_path)}
    job = job_create(kind="research", params=params, queue=False)
    write = research.write_reports

    def dies_before_the_report(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(research, "write_reports", dies_before_the_report)
    monkeypatch.setattr(research, "stress_events", list)
    with pytest.raises(Killed):
        lifecycle.execute("job", job.pk)
    assert _walkforward_evaluations() == 1
    assert WalkForwardRun.objects.get(research_job=job).status == RunStatus.SUCCEEDED
    monkeypatch.setattr(research, "write_reports", write)
    job.refresh_from_db()
    _make_stale(job)
    lifecycle.retry(job)
    lifecycle.execute("job", job.pk)
    job.refresh_from_db()
    assert job.status == RunStatus.SUCCEEDED, job.error
    assert job.attempts == 2 and _walkforward_evaluations() == 1  # the holdout was evaluated once in total
    assert not _lock().contaminated  # the Monte Carlo replays of the chosen configuration add no configuration
    assert WalkForwardRun.objects.filter(research_job=job).count() == 1
    assert (tmp_path / job.result["paths"]["html"]).exists()


def test_a_research_job_killed_mid_walkforward_resumes_it(btc_candles_in_db, monkeypatch, tmp_path):
    from strategies.examples import SmaCrossover

    monkeypatch.setattr(SmaCrossover, "universe", ("BTC",))
    monkeypatch.setattr(research, "stress_events", list)
    params = {"strategies": ["sma_crossover"], "train_months": 1, "test_months": 1, "max_trials": 3,
              "mc_iterations": 50, "cache_indicators": False, "report_dir": str(tmp_path)}
    job = job_create(kind="research", params=params, queue=False)
    optimise = services.optimise
    monkeypatch.setattr(services, "optimise", dies_on_call(2, optimise))  # in the second period
    with pytest.raises(Killed):
        lifecycle.execute("job", job.pk)
    monkeypatch.setattr(services, "optimise", optimise)
    _make_stale(ResearchJob.objects.get(pk=job.pk))
    lifecycle.retry(ResearchJob.objects.get(pk=job.pk))
    lifecycle.execute("job", job.pk)
    job.refresh_from_db()
    walkforward = WalkForwardRun.objects.get(research_job=job)
    assert job.status == RunStatus.SUCCEEDED, job.error
    assert walkforward.status == RunStatus.SUCCEEDED and walkforward.attempts == 2
    assert _walkforward_evaluations() == 1 and not _lock().contaminated  # plus its Monte Carlo and portfolio replays


def test_the_report_folder_is_checked_before_any_work(btc_candles_in_db, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    options = research.ResearchOptions(strategies=["sma_crossover"], report_dir=str(blocker / "reports"))
    with pytest.raises(ValueError, match="cannot write reports to"):
        research.research_run(options)
    assert not WalkForwardRun.objects.exists() and not HoldoutLock.objects.exists()


# --------------------------------------------------------------------------- jobs
def test_an_ingestion_job_whose_every_provider_call_failed_ends_failed(db, monkeypatch):
    class Unreachable:
        def fetch_ohlcv(self, symbol, timeframe, start, end):
            raise SourceError(f"connection refused for {symbol}")
            yield  # a generator, like the real sources

    monkeypatch.setattr(ingestion, "get_source", lambda name: Unreachable())
    job = job_create(kind="ingest_ohlcv", params={"symbols": ["BTC", "ETH"], "timeframe": "1d",
                                                  "start": "2023-01-01T00:00:00Z", "end": "2023-02-01T00:00:00Z",
                                                  "source": "binance"}, queue=False)
    lifecycle.execute("job", job.pk)
    job.refresh_from_db()
    assert job.status == RunStatus.FAILED
    assert job.error_message.startswith("JobReportedFailure: BTC: ") and "ETH: " in job.error_message
    assert job.result["ok"] is False and job.result["totals"]["inserted"] == 0


def test_unknown_job_kinds_are_refused_with_the_registered_ones(db):
    with pytest.raises(ValueError, match="ingest_ohlcv"):
        job_create(kind="nonsense", params={})
    assert not ResearchJob.objects.exists()


def test_every_kind_is_registered_by_its_app():
    assert {"backtest", "walkforward", "job"} <= set(lifecycle.KINDS)
    from core.jobs import JOB_KINDS

    assert {"ingest_ohlcv", "ingest_onchain", "ingest_social", "compute_indicators", "data_quality",
            "montecarlo", "stress_test", "lookahead", "research"} <= set(JOB_KINDS)
