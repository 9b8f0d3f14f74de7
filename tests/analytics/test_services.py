"""Walk-forward with a locked holdout, Monte Carlo and stress tests through the services, on real candles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics import services
from analytics.models import HoldoutLock, StressEvent, WalkForwardPeriod, WalkForwardRun
from backtests.models import RunStatus
from tests import factories as f

pytestmark = pytest.mark.django_db

START, END = f.WALKFORWARD_START, f.WALKFORWARD_END


def _walkforward(**overrides) -> WalkForwardRun:
    return f.executed_walkforward(**overrides)


def test_walkforward_stores_periods_that_never_touch_the_holdout(executed_walkforward):
    run = executed_walkforward
    assert run.status == RunStatus.SUCCEEDED, run.error
    periods = list(WalkForwardPeriod.objects.filter(run=run).order_by("index"))
    assert len(periods) >= 2
    lock = HoldoutLock.objects.get(strategy="sma_crossover")
    assert lock.dataset_key == "BTC|1h" and lock.fraction == 0.3
    for period in periods:
        assert period.train_end <= period.test_start < period.test_end <= lock.holdout_start
        assert set(period.parameters) == {"fast", "slow", "stop_pct"}
        assert "sharpe" in period.test_metrics
    # the holdout is the last 30% of the data actually available (after warm-up)
    span = (lock.holdout_end - periods[0].train_start).total_seconds()
    assert (lock.holdout_end - lock.holdout_start).total_seconds() >= 0.3 * span - 86400
    assert run.holdout_metrics["evaluations"] == 1 and run.holdout_metrics["contaminated"] is False
    assert run.summary["stability"]["n_periods"] == len(periods)
    assert "deflated_sharpe" in run.summary
    heat = run.summary["neighbourhood"]
    values = [v for row in heat["z"] for v in row]
    assert len(values) == 25 and sum(v is not None for v in values) >= 20  # evaluated around the optimum
    assert heat["best_value"] is not None and heat["extra_evaluations"] > 0


def test_a_second_walkforward_is_reproducible_counted_and_flagged_when_it_shows_another_configuration(
        executed_walkforward):
    first = executed_walkforward  # computed once for the session (in another transaction, maybe another process)
    again = _walkforward()  # the same seeded search on the same data chooses the same parameters, period by period
    chosen = [list(WalkForwardPeriod.objects.filter(run=run).order_by("index").values_list("parameters", flat=True))
              for run in (first, again)]
    assert len(chosen[0]) >= 2 and chosen[0] == chosen[1]
    assert again.final_parameters == first.final_parameters
    assert again.holdout_metrics["evaluations"] == 2 and again.holdout_metrics["configurations"] == 1
    assert again.holdout_metrics["contaminated"] is False
    other = _walkforward(max_trials=2, seed=99)  # another search lands elsewhere: a second configuration seen
    assert other.final_parameters != first.final_parameters
    assert other.holdout_metrics["evaluations"] == 3 and other.holdout_metrics["contaminated"] is True
    assert HoldoutLock.objects.get().contaminated


def test_optimisation_window_overlapping_the_locked_holdout_is_refused(executed_walkforward):
    from analytics import holdout

    first = executed_walkforward
    lock = HoldoutLock.objects.get()
    with pytest.raises(ValueError, match="overlaps the holdout of sma_crossover"):
        holdout.refuse_overlap(lock, lock.holdout_start.replace(day=1), lock.holdout_end)
    assert first.status == RunStatus.SUCCEEDED


def test_walkforward_without_data_fails_with_a_clear_error(db):
    run = _walkforward()
    assert run.status == RunStatus.FAILED and "no 1h candles" in run.error
    assert not WalkForwardPeriod.objects.filter(run=run).exists()


def test_stress_test_reports_no_data_windows_and_runs_covered_ones(btc_candles_in_db):
    covered = StressEvent.objects.create(slug="test-window", name="Test window",
                                         start=datetime(2022, 3, 1, tzinfo=UTC), end=datetime(2022, 3, 15, tzinfo=UTC),
                                         warmup_days=10)
    result = services.stress_test_job(strategy="sma_crossover", parameters={"stop_pct": 0.05},
                                      events=["covid-2020", covered.slug])
    by_event = {e["event"]: e for e in result["events"]}
    assert by_event["covid-2020"]["status"] == "no data"
    ok = by_event["test-window"]
    assert ok["status"] == "ok" and ok["return"] is not None and ok["max_drawdown"] >= 0
    assert "risk_manager" in ok and ok["worst_day"] is not None


def test_montecarlo_of_a_stored_run_is_seeded(btc_candles_in_db):
    from backtests import services as backtest_services

    config = backtest_services.backtest_create(strategy="sma_crossover", symbols=["BTC"], timeframe="1h",
                                               start=datetime(2022, 1, 1, tzinfo=UTC), end=END,
                                               parameters={"stop_pct": 0.05}, queue=False)
    backtest_services.backtest_execute(config.pk)
    first = services.montecarlo_job(config_id=config.pk, iterations=200, seed=3)
    again = services.montecarlo_job(config_id=config.pk, iterations=200, seed=3)
    assert first == again
    assert first["shuffle"]["n_trades"] == config.trades.count()
    assert 0.0 <= first["bootstrap"]["probability_drawdown_exceeds"] <= 1.0


def test_fanned_out_walkforward_stores_the_same_periods_as_the_sequential_one(executed_walkforward):
    """With fan_out each period is its own task (inline here: Q_SYNC); the last one queues the finish."""
    sequential = executed_walkforward
    fanned = _walkforward(fan_out=True)
    assert fanned.status == RunStatus.SUCCEEDED, fanned.error
    assert fanned.finish_queued and fanned.summary["fan_out"] is True

    def periods(run):
        return list(WalkForwardPeriod.objects.filter(run=run).order_by("index").values_list(
            "index", "train_start", "test_end", "parameters", "degradation"))

    assert periods(fanned) == periods(sequential)
    assert fanned.final_parameters == sequential.final_parameters


def test_a_walkforward_on_two_cores_equals_the_one_core_run(btc_candles_in_db, monkeypatch):
    """Trials, parameter checks and permutations over two forked workers (core.parallel): every stored figure
    equals the one-process run's, seed for seed."""
    def executed(workers: str) -> WalkForwardRun:
        monkeypatch.setenv("RESEARCH_WORKERS", workers)
        return _walkforward(permutations=20)

    one, two = executed("1"), executed("2")
    assert two.status == RunStatus.SUCCEEDED, two.error

    def periods(run):
        return list(WalkForwardPeriod.objects.filter(run=run).order_by("index").values_list(
            "index", "parameters", "train_metrics", "test_metrics", "degradation"))

    assert periods(two) == periods(one) and len(periods(one)) >= 2
    assert two.final_parameters == one.final_parameters
    volatile = {"config_id", "evaluations", "configurations"}  # the second is a counted replay on the same lock
    assert {k: v for k, v in two.holdout_metrics.items() if k not in volatile} == \
        {k: v for k, v in one.holdout_metrics.items() if k not in volatile}
    for key in ("edge", "parameter_effects", "neighbourhood", "final_train_metrics", "deflated_sharpe"):
        assert two.summary[key] == one.summary[key], key
    assert one.summary["edge"]["permutation"]["n_valid"] == 20


def _exhaustive_effects(data, params, start, end, baseline) -> dict:
    """The check as first written: every move evaluated."""
    reference = services._fingerprint(baseline)
    tried: dict[str, list] = {name: [] for name in data.strategy_class.parameters}
    changed: set[str] = set()
    for name, spec in data.strategy_class.parameters.items():
        for value in spec.grid():
            if value == params.get(name):
                continue
            try:
                moved = services._fingerprint(data.evaluate({**params, name: value}, start, end))
            except ValueError:
                continue
            tried[name].append(value)
            if moved != reference:
                changed.add(name)
    return {"no_effect": [n for n in data.strategy_class.parameters if tried[n] and n not in changed], "tried": tried}


@pytest.mark.parametrize("workers", ["1", "2"])
def test_parameter_effects_stops_moving_a_parameter_once_it_had_an_effect_with_the_same_verdict(
        btc_candles_in_db, monkeypatch, workers):
    from strategies.base import Param
    from strategies.examples import SmaCrossover

    class SmaWithInertCooldown(SmaCrossover):  # a parameter that tunes nothing, as a TVL rule without TVL
        parameters = {"fast": Param(20, 10, 30, step=5), "slow": Param(50, 20, 60, step=10),
                      "stop_pct": Param(0.05, 0.05, 0.05, kind="float"), "cooldown": Param(3, 1, 5)}

    monkeypatch.setenv("RESEARCH_WORKERS", workers)
    data = services.research_data_load(strategy="sma_crossover", symbols=["BTC"], timeframe="1h",
                                       start=START, end=END)
    data.strategy_class = SmaWithInertCooldown
    params = {"fast": 20, "slow": 50, "stop_pct": 0.05, "cooldown": 3}
    start, end = data.data_range()
    baseline = data.evaluate(params, start, end)
    evaluated: list[dict] = []
    evaluate = data.evaluate
    monkeypatch.setattr(data, "evaluate", lambda p, s, e: evaluated.append(p) or evaluate(p, s, e))

    effects = services.parameter_effects(data, params, start, end, baseline)
    moves_evaluated = list(evaluated)

    expected = _exhaustive_effects(data, params, start, end, baseline)
    assert effects == expected
    assert effects["no_effect"] == ["cooldown"]
    assert effects["tried"]["slow"] == [30, 40, 60]  # slow=20 with fast=20 is refused
    if workers == "1":  # evaluations in this process are seen: fast and slow stop after their first effect
        assert len(moves_evaluated) < sum(len(values) for values in expected["tried"].values())
        assert sorted(p["cooldown"] for p in moves_evaluated if p["cooldown"] != 3) == [1, 2, 4, 5]
