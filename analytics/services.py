"""Research services: walk-forward with a locked holdout, Monte Carlo, stress tests, look-ahead analysis.

They load data once (``backtests.data.market_data_load``), evaluate in memory with the pure engine
(``backtests.evaluation``) and store results in ``walkforward_runs``/``walkforward_periods``/``holdout_locks``.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import os
import socket
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import zip_longest
from typing import Any

import numpy as np
import pandas as pd
from django.db import transaction
from django.utils import timezone

from analytics import edge, holdout, optimization
from analytics.evidence import buy_and_hold_returns, selection_evidence
from analytics.lookahead import lookahead_check
from analytics.models import HoldoutLock, WalkForwardPeriod, WalkForwardRun
from analytics.montecarlo import monte_carlo_report
from analytics.overfitting import deflated_sharpe_report, per_period_sharpe
from analytics.stress_services import stress_test, stress_test_job  # noqa: F401  (stress_test: re-exported for callers of services)
from analytics.walkforward import (
    WALKFORWARD_DEFAULTS,
    check_no_holdout_overlap,
    degradation,
    holdout_split,
    stability,
    walk_forward_windows,
)
from backtests.data import candles_for, market_data_load
from backtests.engine import EngineConfig
from backtests.evaluation import WindowResult, evaluate_window
from backtests.metrics import daily_returns, drawdown_series
from backtests.models import BacktestConfig, RunStatus
from backtests.portfolio import PortfolioMember, portfolio_backtest
from backtests.provenance import candles_hash
from backtests.selectors import config_trade_returns
from backtests.services import COST_FIELDS, RunOutcome, backtest_store, engine_config
from backtests.warm import ensure_compiled
from core import lifecycle
from core.jobs import register_job
from core.jsonsafe import json_safe
from core.parallel import default_workers, parallel_map
from marketdata.timeframes import timeframe_delta
from strategies.base import BaseStrategy, MarketData
from strategies.registry import build_strategy, get_strategy

logger = logging.getLogger(__name__)

@dataclass
class ResearchData:
    """A strategy's data loaded once for a whole analysis, plus how to evaluate on a window of it."""

    strategy_class: type[BaseStrategy]
    market: MarketData
    timeframe: str
    config: EngineConfig
    symbols: list[str]
    notes: list[str] = field(default_factory=list)
    quality_score: float | None = None

    @property
    def bar(self) -> pd.Timedelta:
        return timeframe_delta(self.timeframe)

    def evaluate(self, params: dict, start, end) -> WindowResult:
        return evaluate_window(self.strategy_class(**params), self.market, self.config, start, end, self.bar)

    def data_range(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """First and last candle of the traded symbols (after the warm-up of the earliest one)."""
        if not self.market.candles:
            return None
        first = min(frame.index[0] for frame in self.market.candles.values())
        last = max(frame.index[-1] for frame in self.market.candles.values())
        return first + self.bar * int(self.strategy_class.warmup_bars), last + self.bar


def research_data_load(*, strategy: str, symbols: list[str] | None, timeframe: str, start: datetime,
                       end: datetime, settings: dict | None = None) -> ResearchData:
    strategy_class = get_strategy(strategy)
    symbols = list(symbols or strategy_class.universe)
    ensure_compiled()  # before any fork (core.parallel): the workers inherit the compiled engine
    loaded = market_data_load(strategy=strategy_class(), symbols=symbols, timeframe=timeframe, start=start, end=end)
    return ResearchData(strategy_class=strategy_class, market=loaded.market, timeframe=timeframe,
                        config=engine_config(settings or {}, timeframe), symbols=symbols,
                        notes=list(loaded.market.notes), quality_score=loaded.quality_score)


def parameter_space(strategy_class: type[BaseStrategy]) -> dict[str, list]:
    return {name: param.grid() for name, param in strategy_class.parameters.items()}


def params_key(params: dict) -> tuple:
    return tuple(sorted(params.items()))


def _trial(data: ResearchData, start, end, keep_returns: bool = False) -> Callable[[dict], tuple[dict, Any]]:
    """``trial(params) -> (metrics, daily returns or None)`` on ``[start, end)``: invalid combinations score
    nothing instead of failing. Picklable results, so the trials can run in forked workers."""

    def trial(params: dict) -> tuple[dict, Any]:
        try:
            outcome = data.evaluate(params, start, end)
        except ValueError as exc:  # e.g. fast >= slow: a point of the grid that is not a valid strategy
            return {"invalid": str(exc)}, None
        returns = None
        if keep_returns and outcome.result is not None:
            equity = outcome.result.equity["equity"]
            returns = daily_returns(equity.loc[equity.index >= pd.Timestamp(start)])
        return outcome.performance, returns

    return trial


def _trials_mapper(record: dict | None) -> optimization.Mapper:
    """The optimiser's ``map_``: the trials over the cores; with ``record``, each evaluated configuration's daily
    returns from the window's start are kept in it (by :func:`params_key`): the trial matrix of the selection
    tests."""

    def map_(trial: Callable[[dict], tuple[dict, Any]], points: Sequence[dict]) -> list[dict]:
        results = parallel_map(trial, points)
        if record is not None:
            record.update({params_key(p): returns for p, (_, returns) in zip(points, results, strict=True)
                           if returns is not None})
        return [metrics for metrics, _ in results]

    return map_


def optimise(data: ResearchData, start, end, *, objective: str, search: str, max_trials: int,
             seed: int, record: dict | None = None) -> dict:
    space = parameter_space(data.strategy_class)
    trial, map_ = _trial(data, start, end, keep_returns=record is not None), _trials_mapper(record)
    if search == "grid":
        return optimization.grid_search(space, trial, objective=objective, map_=map_)
    return optimization.random_search(space, trial, n_iter=max_trials, objective=objective, seed=seed, map_=map_)


# --------------------------------------------------------------------------- walk-forward
#: Who hears a walk-forward's progress in this context (the research command's status line, a job's progress
#: field); a walk-forward run elsewhere (a queued task) reports to nobody.
_PROGRESS: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar("walkforward_progress",
                                                                                          default=None)


@contextmanager
def reporting_progress(progress: Callable[[str], None]):
    token = _PROGRESS.set(progress)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


def _report(message: str) -> None:
    listener = _PROGRESS.get()
    if listener is not None:
        listener(message)


def walkforward_create(*, strategy: str, start: datetime, end: datetime, symbols: list[str] | None = None,
                       timeframe: str | None = None, train_months: int = WALKFORWARD_DEFAULTS.train_months,
                       test_months: int = WALKFORWARD_DEFAULTS.test_months,
                       objective: str = WALKFORWARD_DEFAULTS.objective,
                       holdout_fraction: float = WALKFORWARD_DEFAULTS.holdout_fraction,
                       search: str = WALKFORWARD_DEFAULTS.search, max_trials: int = WALKFORWARD_DEFAULTS.max_trials,
                       seed: int = WALKFORWARD_DEFAULTS.seed, queue: bool = True, user: Any = None,
                       research_job: Any = None, **settings: Any) -> WalkForwardRun:
    strategy_class = get_strategy(strategy)
    holdout_fraction = holdout.check_fraction(holdout_fraction)
    holdout.refuse_fraction_change(strategy, holdout_fraction)
    run = WalkForwardRun.objects.create(
        strategy=strategy, symbols=list(symbols or strategy_class.universe),
        timeframe=timeframe or strategy_class.timeframe, start=start,
        end=end, train_months=train_months, test_months=test_months, objective=objective,
        holdout_fraction=holdout_fraction, seed=seed, created_by=user, research_job=research_job,
        settings=json_safe({"search": search, "max_trials": max_trials, **settings}))
    if queue:
        lifecycle.enqueue(run)
    return run


def walkforward_execute(run_id: int) -> Any:
    """Execute a pending walk-forward here and now (what the queued task does): claimed once."""
    return lifecycle.execute("walkforward", run_id)


def _load(run: WalkForwardRun) -> ResearchData:
    return research_data_load(strategy=run.strategy, symbols=run.symbols, timeframe=run.timeframe,
                              start=run.start, end=run.end, settings=run.settings)


def _stored_periods(run: WalkForwardRun) -> set[int]:
    return set(WalkForwardPeriod.objects.filter(run=run).values_list("index", flat=True))


def walkforward_run(run: WalkForwardRun, attempt: int) -> dict:
    """The ``walkforward`` run kind: periods (resuming those a killed attempt stored), then the finish.

    With ``settings["fan_out"]`` each missing period is its own django-q2 task (step ``period``), so the
    periods run in parallel on several workers; the task that stores the last period queues the step
    ``finish``. Otherwise everything runs here, one period after another. Both store the same periods.
    """
    WalkForwardRun.objects.filter(pk=run.pk, attempts=attempt).update(finish_queued=False)
    data = _load(run)
    span = data.data_range()
    plan = walkforward_plan(run, span)
    stored = _stored_periods(run)
    missing = [window for window in plan["windows"] if window.index not in stored]
    if (run.settings or {}).get("fan_out"):
        for window in missing:  # the span (epoch seconds) lets the period task plan without loading everything
            lifecycle.enqueue(run, "period", window.index, attempt, *_epoch_seconds(span), after_commit=False)
        if not missing:
            _queue_finish_once(run, attempt, len(plan["windows"]))
        return {"queued_periods": len(missing)}
    for window in missing:
        _report(f"  {run.strategy}: walk-forward period {window.index + 1} of {len(plan['windows'])}")
        walkforward_period_store(run, data, plan, window, attempt)
    _report(f"  {run.strategy}: final optimisation, holdout evaluation and edge tests")
    return walkforward_finish_compute(run, data, plan, attempt)


def _claimed_step(run_id: int, attempt: int, step) -> dict:
    """Run a fan-out step for the attempt that holds the run; any failure fails the run."""
    if not lifecycle.holds_claim(WalkForwardRun, run_id, attempt):
        logger.warning("walk-forward #%s: attempt %s no longer holds the run; step skipped", run_id, attempt)
        return {"skipped": f"attempt {attempt} no longer holds walk-forward #{run_id}"}
    run = WalkForwardRun.objects.get(pk=run_id)
    try:
        return step(run)
    except lifecycle.LostClaim as exc:
        return {"skipped": str(exc)}
    except Exception as exc:  # recorded on the run for the operator
        logger.exception("walk-forward #%s failed", run_id)
        lifecycle.fail(WalkForwardRun, run_id, attempt, exc)
        return {"error": str(exc)}


def _epoch_seconds(span: tuple[pd.Timestamp, pd.Timestamp] | None) -> tuple[int, int]:
    if span is None:
        raise ValueError("no data to plan a walk-forward on")
    return int(span[0].timestamp()), int(span[1].timestamp())


def walkforward_period_step(run_id: int, index: int, attempt: int, span_start: int | None = None,
                            span_end: int | None = None) -> dict:
    """One period of a fanned-out walk-forward, loading only its window (train start minus the warm-up to the
    test end) when the queueing task passed the data span; the task that stores the last one queues the
    finish. Without a span (a task queued before it was passed), the whole range is loaded to plan."""

    def step(run: WalkForwardRun) -> dict:
        if span_start is None or span_end is None:
            plan = walkforward_plan(run, _load(run).data_range())
        else:
            plan = walkforward_plan(run, (pd.Timestamp(span_start, unit="s", tz="UTC"),
                                          pd.Timestamp(span_end, unit="s", tz="UTC")))
        window = plan["windows"][index]
        if index not in _stored_periods(run):
            data = research_data_load(strategy=run.strategy, symbols=run.symbols, timeframe=run.timeframe,
                                      start=window.train_start, end=window.test_end, settings=run.settings)
            walkforward_period_store(run, data, plan, window, attempt)
        return {"period": index, "finishing": _queue_finish_once(run, attempt, len(plan["windows"])),
                "worker": f"{socket.gethostname()}:{os.getpid()}", "loaded": [window.train_start.isoformat(),
                                                                         window.test_end.isoformat()]}

    return _claimed_step(run_id, attempt, step)


def _queue_finish_once(run: WalkForwardRun, attempt: int, n_windows: int) -> bool:
    with transaction.atomic():
        WalkForwardRun.objects.select_for_update().get(pk=run.pk)  # period tasks take turns here
        done = WalkForwardPeriod.objects.filter(run=run).count() == n_windows
        claimed = done and WalkForwardRun.objects.filter(
            pk=run.pk, attempts=attempt, finish_queued=False).update(finish_queued=True) == 1
    if claimed:  # queued after the lock is released, so the finish task can take it
        lifecycle.enqueue(run, "finish", attempt, after_commit=False)
    return claimed


def walkforward_finish_step(run_id: int, attempt: int) -> dict:
    def step(run: WalkForwardRun) -> dict:
        data = _load(run)
        return walkforward_finish_compute(run, data, walkforward_plan(run, data.data_range()), attempt)

    return _claimed_step(run_id, attempt, step)


def register_run_kinds() -> None:
    lifecycle.register("walkforward", WalkForwardRun, walkforward_run,
                       steps={"period": walkforward_period_step, "finish": walkforward_finish_step})


def walkforward_plan(run: WalkForwardRun, span: tuple[pd.Timestamp, pd.Timestamp] | None) -> dict:
    """The research range, the locked holdout and the train/test windows (the same in every task), from the
    data's span (``ResearchData.data_range``)."""
    if span is None:
        raise ValueError(f"no {run.timeframe} candles for {', '.join(run.symbols)}: ingest or load data first")
    start = max(pd.Timestamp(run.start), span[0])
    end = min(pd.Timestamp(run.end), span[1])
    research_end, holdout_start = holdout_split(start, end, run.holdout_fraction)
    lock = holdout.lock_for_walkforward(strategy=run.strategy, symbols=run.symbols, timeframe=run.timeframe,
                                        start=start, end=end, holdout_start=holdout_start,
                                        fraction=run.holdout_fraction)
    research_end = min(research_end, pd.Timestamp(lock.holdout_start))
    windows = walk_forward_windows(start, research_end, run.train_months, run.test_months)
    check_no_holdout_overlap(windows, lock.holdout_start)
    settings = run.settings or {}
    return {"start": start, "research_end": research_end, "lock": lock, "windows": windows,
            "holdout_end": min(end, pd.Timestamp(lock.holdout_end)),
            "search": settings.get("search", WALKFORWARD_DEFAULTS.search),
            "max_trials": int(settings.get("max_trials", WALKFORWARD_DEFAULTS.max_trials))}


def walkforward_period_store(run: WalkForwardRun, data: ResearchData, plan: dict, window,
                             attempt: int) -> WalkForwardPeriod:
    """Optimise on the window's train part, evaluate the choice on its test part, store the period
    (only while ``attempt`` holds the run)."""
    holdout.refuse_overlap(plan["lock"], window.train_start, window.test_end)
    best = optimise(data, window.train_start, window.train_end, objective=run.objective,
                    search=plan["search"], max_trials=plan["max_trials"], seed=run.seed + window.index)
    params = best["best_params"] or data.strategy_class().params
    test = data.evaluate(params, window.test_start, window.test_end).performance
    train = _metrics_of(best, best["best_params"]) if best["best_params"] else {}
    with transaction.atomic():
        lifecycle.lock_claim(run, attempt)
        period, _ = WalkForwardPeriod.objects.update_or_create(
            run=run, index=window.index,
            defaults={"train_start": window.train_start, "train_end": window.train_end,
                      "test_start": window.test_start, "test_end": window.test_end,
                      "parameters": json_safe(params), "train_metrics": json_safe(train),
                      "test_metrics": json_safe(test),
                      "degradation": degradation(train.get(run.objective), test.get(run.objective))})
    return period


def walkforward_finish_compute(run: WalkForwardRun, data: ResearchData, plan: dict, attempt: int) -> dict:
    """Optimise on all research data, evaluate the choice once on the locked holdout, summarise.

    Everything is computed first; then one transaction counts the holdout evaluation, stores the holdout
    run with its trades and marks the walk-forward succeeded. A worker killed before the commit leaves
    none of it, so a retry evaluates the holdout once in total.
    """
    start, research_end, lock, holdout_end = plan["start"], plan["research_end"], plan["lock"], plan["holdout_end"]
    periods = list(WalkForwardPeriod.objects.filter(run=run).order_by("index").values(
        "train_metrics", "test_metrics", "degradation"))
    holdout.refuse_overlap(lock, start, research_end)
    trial_returns: dict[tuple, pd.Series] = {}
    final = optimise(data, start, research_end, objective=run.objective, search=plan["search"],
                     max_trials=plan["max_trials"], seed=run.seed, record=trial_returns)
    final_params = final["best_params"] or data.strategy_class().params
    trial_sharpes = [per_period_sharpe(t["metrics"]["sharpe"]) for t in final["trials"]
                     if (t.get("metrics") or {}).get("sharpe") is not None]
    summary = {
        "research_start": start.isoformat(), "research_end": research_end.isoformat(),
        "holdout_start": lock.holdout_start.isoformat(), "holdout_end": holdout_end.isoformat(),
        "holdout_fraction": lock.fraction,
        "holdout_share_of_range": (holdout_end - pd.Timestamp(lock.holdout_start)) / (holdout_end - start),
        "stability": stability(periods, run.objective), "n_trials_final": final["n_trials"],
        "final_parameters": final_params, "final_train_metrics": _metrics_of(final, final_params),
        "neighbourhood": _neighbourhood(final, data, start, research_end, run.objective),
        "search": plan["search"], "max_trials": plan["max_trials"], "data_hash": candles_hash(data.market.candles),
        "fan_out": bool((run.settings or {}).get("fan_out")),
    }
    research = data.evaluate(final_params, start, research_end)
    summary["research_coverage"] = research.coverage
    summary["parameter_effects"] = parameter_effects(data, final_params, start, research_end, research)
    outcome = data.evaluate(final_params, lock.holdout_start, holdout_end)
    summary["holdout_coverage"] = outcome.coverage
    summary["notes"] = list(dict.fromkeys([*data.notes, *research.notes, *outcome.notes]))
    holdout_returns = np.empty(0)
    if outcome.result is not None:
        equity = outcome.result.equity.loc[outcome.result.equity.index >= pd.Timestamp(lock.holdout_start), "equity"]
        holdout_returns = daily_returns(equity).to_numpy()
        summary["deflated_sharpe"] = deflated_sharpe_report(holdout_returns, trial_sharpes)
    summary["edge"] = edge_evidence(run, data, final, trial_returns, holdout_returns, trial_sharpes,
                                    start=start, research_end=research_end, holdout_end=holdout_end,
                                    holdout_start=pd.Timestamp(lock.holdout_start), params=final_params)
    with transaction.atomic():
        counted = holdout.record_touch(lock, kind="walk-forward holdout", source=f"walk-forward #{run.pk}",
                                       parameters=final_params, symbols=run.symbols, timeframe=run.timeframe,
                                       start=lock.holdout_start, end=holdout_end, performance=outcome.performance)
        result = {**outcome.performance, "evaluations": counted.evaluations,
                  "configurations": counted.configuration_count, "contaminated": counted.contaminated,
                  "fraction": counted.fraction, "data_coverage": outcome.coverage}
        if outcome.result is not None:
            result["config_id"] = _store_holdout_run(run, lock, holdout_end, data, final_params, outcome).pk
        lifecycle.finish(run, attempt, summary=json_safe(summary), final_parameters=json_safe(final_params),
                         holdout_metrics=json_safe(result))
    return summary


PERMUTATIONS = 100
SPA_REPS = 1000


def edge_evidence(run: WalkForwardRun, data: ResearchData, final: dict, trial_returns: dict, holdout_returns,
                  trial_sharpes: list[float], *, start, research_end, holdout_start, holdout_end,
                  params: dict) -> dict:
    """The selection tests on the final search's trials (``analytics.evidence``) and the permutation test of
    the chosen configuration's signal on the holdout. Settings: ``permutations`` (0 skips), ``spa_reps``."""
    settings = run.settings or {}
    columns = {f"trial {i}": trial_returns[params_key(t["params"])] for i, t in enumerate(final["trials"])
               if params_key(t["params"]) in trial_returns}
    trials = pd.DataFrame(columns)
    universe = [s for s in data.symbols if s in data.market.candles]
    benchmark = buy_and_hold_returns(data.market.candles, universe, pd.Timestamp(start), pd.Timestamp(research_end))
    chosen = _metrics_of(final, params).get("sharpe")
    evidence = selection_evidence(trials, benchmark, holdout_returns, trial_sharpes, chosen_sharpe_annual=chosen,
                                  seed=run.seed, reps=int(settings.get("spa_reps", SPA_REPS)))
    n_permutations = int(settings.get("permutations", PERMUTATIONS))
    evidence["permutation"] = (signal_permutation_test(data, params, holdout_start, holdout_end,
                                                       n_permutations=n_permutations, seed=run.seed)
                               if n_permutations > 0 else {"p_value": None, "reason": "skipped (permutations=0)"})
    return evidence


def signal_permutation_test(data: ResearchData, params: dict, start, end, *, n_permutations: int,
                            seed: int) -> dict:
    """Monte Carlo permutation test of the signal on ``[start, end)``: the chosen configuration's total return
    on the real bars against its total return on bars permuted from ``start`` on (``edge.permute_bars``; the
    warm-up before ``start``, fundamentals, sentiment and the regime symbols stay as they were)."""
    def total_return(candles: dict) -> float | None:
        market = dataclasses.replace(data.market, candles=candles)
        market.share_context(data.market)  # the same bars: fundamentals, sentiment and regime aligned once
        outcome = evaluate_window(data.strategy_class(**params), market, data.config, start, end, data.bar,
                                  statistics=False)
        return outcome.total_return

    report = edge.permutation_test(total_return, data.market.candles, pd.Timestamp(start),
                                   n_permutations=n_permutations, seed=seed, map_=parallel_map)
    report["statistic"] = "total return of the chosen configuration on the holdout"
    return report


def _store_holdout_run(run: WalkForwardRun, lock: HoldoutLock, holdout_end: pd.Timestamp, data: ResearchData,
                       params: dict, outcome: WindowResult) -> BacktestConfig:
    """Keep the holdout evaluation as a backtest run (purpose ``holdout``) so its trades can be inspected."""
    costs = {key: getattr(data.config, key) for key in COST_FIELDS}
    config = BacktestConfig.objects.create(
        name=f"Holdout of walk-forward #{run.pk}", strategy=run.strategy, symbols=run.symbols,
        timeframe=run.timeframe, start=lock.holdout_start, end=holdout_end, parameters=params,
        risk_limits=data.config.risk.to_dict(), cost_model=data.config.costs.to_dict(), seed=run.seed,
        purpose="holdout", status=RunStatus.RUNNING,
        started_at=timezone.now(), attempts=1, created_by=run.created_by, **costs)
    backtest_store(config, RunOutcome(result=outcome.result, performance=outcome.performance,
                                      data_hash=candles_hash(data.market.candles), notes=data.notes,
                                      quality_score=data.quality_score, coverage=outcome.coverage), attempt=1)
    return config


def _fingerprint(outcome: WindowResult) -> tuple | None:
    """What a parameter change could alter: the trades taken and the final equity."""
    if outcome.result is None:
        return None
    trades = outcome.result.trades
    keys = [c for c in ("symbol", "entry_time", "exit_time", "entry_price", "exit_price") if c in trades.columns]
    return (tuple(map(tuple, trades[keys].astype(str).to_numpy())) if len(trades) else (),
            round(float(outcome.result.equity["equity"].iloc[-1]), 6))


def parameter_effects(data: ResearchData, params: dict, start, end, baseline: WindowResult) -> dict:
    """One-at-a-time check at the chosen parameters on the research range: each parameter is moved to every
    other value of its search grid (the others held); one whose every move leaves the trades and final
    equity unchanged "had no effect" (on this data it tunes nothing, e.g. a TVL threshold without TVL).

    Returns ``{"no_effect": [names], "tried": {name: values tried}}``; a move the strategy refuses
    (fast >= slow) is skipped. A parameter's remaining moves are not evaluated once one of them changed
    something: the verdict cannot change after that (sma_crossover's 500 moves came down to about 20).
    """
    reference = _fingerprint(baseline)
    moves = _interleaved([[(name, value) for value in spec.grid() if value != params.get(name)]
                          for name, spec in data.strategy_class.parameters.items()])
    moves = [move for move in moves if _accepted(data.strategy_class, {**params, move[0]: move[1]})]

    def fingerprint(move: tuple[str, Any]) -> tuple[bool, tuple | None]:  # (valid, fingerprint)
        try:
            return True, _fingerprint(data.evaluate({**params, move[0]: move[1]}, start, end))
        except ValueError:
            return False, None

    tried: dict[str, list] = {name: [] for name in data.strategy_class.parameters}
    for name, value in moves:
        tried[name].append(value)
    changed: set[str] = set()
    batch = 2 * default_workers()
    while moves:
        now, moves = moves[:batch], moves[batch:]
        for (name, value), (valid, moved) in zip(now, parallel_map(fingerprint, now), strict=True):
            if not valid:
                tried[name].remove(value)
            elif moved != reference:
                changed.add(name)
        moves = [move for move in moves if move[0] not in changed]
        batch *= 2  # parameters without an effect need every move: fewer, larger maps
    no_effect = [name for name in data.strategy_class.parameters if tried[name] and name not in changed]
    return {"no_effect": no_effect, "tried": tried}


def _interleaved(groups: list[list]) -> list:
    """The groups' items taken in turn (a0 b0 a1 b1 ...), so that every parameter is moved early."""
    return [item for column in zip_longest(*groups) for item in column if item is not None]


def _accepted(strategy_class: type[BaseStrategy], params: dict) -> bool:
    """Whether the strategy accepts these parameters (its constructor validates them)."""
    try:
        strategy_class(**params)
    except ValueError:
        return False
    return True


def _metrics_of(search_result: dict, params: dict) -> dict:
    return next((t["metrics"] for t in search_result["trials"] if t["params"] == params), {})


NEIGHBOURHOOD_RADIUS = 2


def _neighbourhood(search_result: dict, data: ResearchData, start, end, objective: str) -> dict | None:
    """The objective on the grid around the optimum over the two parameters with the widest grids.

    Points the search did not try are evaluated now, on the same research data (never the holdout), so the
    heat map is complete: a lone spike among poor neighbours is visible. These evaluations come after the
    choice and do not change it; they are counted apart from the search's trials.
    """
    space = parameter_space(data.strategy_class)
    best = search_result.get("best_params")
    axes = sorted((name for name, values in space.items() if len(values) > 1), key=lambda n: -len(space[n]))[:2]
    if len(axes) < 2 or not best:
        return None
    x, y = axes
    tried = {params_key(t["params"]) for t in search_result["trials"]}
    extra = grid_trials(data, start, end, best, objective,
                        x=(x, optimization.axis_around(space[x], best[x], NEIGHBOURHOOD_RADIUS)),
                        y=(y, optimization.axis_around(space[y], best[y], NEIGHBOURHOOD_RADIUS)), skip=tried)
    trials = [*search_result["trials"], *extra]
    result = optimization.neighbourhood(trials, best, space, x=x, y=y, radius=NEIGHBOURHOOD_RADIUS)
    result["extra_evaluations"] = len(extra)
    return result


def grid_trials(data: ResearchData, start, end, base: dict, objective: str, *, x: tuple[str, list],
                y: tuple[str, list], skip: frozenset[tuple] | set[tuple] = frozenset()) -> list[dict]:
    """Optimiser-style trials of every (x, y) value pair (``(name, values)`` each), the other parameters at
    ``base``, on ``[start, end)``; pairs whose parameters are in ``skip`` (by :func:`params_key`) are left out."""
    points = [params for x_value in x[1] for y_value in y[1]
              if params_key(params := {**base, x[0]: x_value, y[0]: y_value}) not in skip]
    results = parallel_map(_trial(data, start, end), points)
    return [{"params": params, "metrics": metrics, "value": optimization.objective_value(metrics, objective)}
            for params, (metrics, _) in zip(points, results, strict=True)]


# --------------------------------------------------------------------------- the candidates together
PORTFOLIO_GRID = "1h"


def candidates_portfolio(members: dict[str, dict], settings: dict | None = None) -> dict:
    """Backtest the candidate strategies together in one portfolio under one risk manager, each from its own
    holdout start with its chosen parameters (``members``: name -> {"parameters", "holdout_start",
    "holdout_end"}), on the common 1h grid. Counted on each strategy's lock as a replay of its configuration.
    """
    if not members:
        return {"status": "no candidates", "message": "no strategy finished its walk-forward"}
    start = min(pd.Timestamp(spec["holdout_start"]) for spec in members.values())
    end = max(pd.Timestamp(spec["holdout_end"]) for spec in members.values())
    notes: list[str] = []
    portfolio_members, grid = [], {}
    for name, spec in members.items():
        data = research_data_load(strategy=name, symbols=None, timeframe=get_strategy(name).timeframe,
                                  start=pd.Timestamp(spec["holdout_start"]), end=pd.Timestamp(spec["holdout_end"]),
                                  settings=settings)
        portfolio_members.append(PortfolioMember(name=name, strategy=data.strategy_class(**spec["parameters"]),
                                                 market=data.market, bar=data.bar,
                                                 start=pd.Timestamp(spec["holdout_start"])))
        for symbol in data.market.candles:
            grid[symbol] = candles_for(symbol, PORTFOLIO_GRID, start, end, notes)
    outcome = portfolio_backtest(portfolio_members, grid, engine_config(settings or {}, PORTFOLIO_GRID), start, end)
    with transaction.atomic():
        for member in portfolio_members:
            spec = members[member.name]
            holdout.touch_if_locked(strategy=member.name, kind="portfolio", source="research portfolio of "
                                    f"{len(members)} candidates", parameters=spec["parameters"],
                                    symbols=list(member.strategy.universe), timeframe=member.strategy.timeframe,
                                    start=spec["holdout_start"], end=spec["holdout_end"],
                                    performance=outcome.members.get(member.name))
    report = outcome.to_dict()
    report.pop("summary", None)
    report.update(status="ok", notes=[*notes, *report.get("notes", [])], equity=_daily_points(outcome.equity))
    return json_safe(report)


def _daily_points(equity: pd.Series) -> dict:
    """An hourly equity curve as daily closes with its drawdown, for the report's charts."""
    if equity is None or equity.empty:
        return {}
    daily = equity.resample("1D").last().dropna()
    return {"timestamps": [ts.isoformat() for ts in daily.index], "equity": daily.round(4).tolist(),
            "drawdown": drawdown_series(daily).round(6).tolist()}


# --------------------------------------------------------------------------- any two parameters
#: The most grid cells one heat map may evaluate (each cell is one backtest of the research range).
MAX_HEATMAP_CELLS = 400


def check_heatmap_request(run: WalkForwardRun, x: str, y: str) -> dict[str, list]:
    """The strategy's parameter space, or ``ValueError`` saying why no heat map of ``x`` and ``y`` can be made."""
    if run.status != RunStatus.SUCCEEDED or not run.final_parameters:
        raise ValueError(f"walk-forward #{run.pk} has status {run.status}: a heat map needs its chosen parameters")
    space = parameter_space(get_strategy(run.strategy))
    unknown = [name for name in (x, y) if name not in space]
    if unknown or x == y:
        raise ValueError(f"choose two different parameters of {run.strategy}: {', '.join(space)}"
                         + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    cells = len(space[x]) * len(space[y])
    if cells > MAX_HEATMAP_CELLS:
        raise ValueError(f"{x} x {y} is {cells} grid cells; at most {MAX_HEATMAP_CELLS} are evaluated at once")
    return space


def parameter_heatmap(run: WalkForwardRun, x: str, y: str) -> dict:
    """The objective over the full grid of parameters ``x`` and ``y``, the others at the run's chosen values,
    on the run's research range (never the holdout). ``ValueError`` for a run without a result, unknown or
    equal parameters, or a grid larger than :data:`MAX_HEATMAP_CELLS`."""
    space = check_heatmap_request(run, x, y)
    data = _load(run)
    start, end = pd.Timestamp(run.summary["research_start"]), pd.Timestamp(run.summary["research_end"])
    lock = holdout.lock_of(run.strategy)
    if lock is not None:
        holdout.refuse_overlap(lock, start, end)
    chosen = dict(run.final_parameters)
    trials = grid_trials(data, start, end, chosen, run.objective, x=(x, space[x]), y=(y, space[y]))
    result = optimization.neighbourhood(trials, chosen, space, x=x, y=y, radius=None)
    result.update(walkforward_id=run.pk, strategy=run.strategy, objective=run.objective, evaluations=len(trials),
                  chosen=chosen, research_start=start.isoformat(), research_end=end.isoformat())
    return json_safe(result)


def parameter_heatmap_job(*, walkforward_id: int, x: str, y: str) -> dict:
    return parameter_heatmap(WalkForwardRun.objects.get(pk=walkforward_id), x, y)


# --------------------------------------------------------------------------- Monte Carlo
def montecarlo_job(*, config_id: int, iterations: int = 1000, seed: int = 42,
                   drawdown_threshold: float = 0.20) -> dict:
    """Monte Carlo of a stored backtest's trades (shuffle and bootstrap)."""
    config = BacktestConfig.objects.get(pk=config_id)
    if config.status != RunStatus.SUCCEEDED:
        raise ValueError(f"backtest #{config_id} has status {config.status}: Monte Carlo needs a succeeded run")
    report = monte_carlo_report(config_trade_returns(config), n_iterations=iterations, seed=seed,
                                drawdown_threshold=drawdown_threshold)
    touched = holdout.touch_stored_run(config, kind="monte carlo", source=f"Monte Carlo of backtest #{config_id}")
    return {"config_id": config_id, **report, **({"holdout_touch": touched} if touched else {})}


# --------------------------------------------------------------------------- look-ahead
def lookahead_job(*, strategy: str, start: str | datetime, end: str | datetime, symbols: list[str] | None = None,
                  timeframe: str | None = None, parameters: dict | None = None, sample: int = 20,
                  seed: int = 0, **check_options: Any) -> dict:
    """Load the strategy's data and run ``analytics.lookahead.lookahead_check`` on it (``check_options``,
    e.g. ``mode``, pass through)."""
    timeframe = timeframe or get_strategy(strategy).timeframe
    data = research_data_load(strategy=strategy, symbols=symbols, timeframe=timeframe, start=pd.Timestamp(start),
                              end=pd.Timestamp(end))
    report = lookahead_check(build_strategy(data.strategy_class, parameters), data.market, sample=sample, seed=seed,
                             **check_options)
    return report.to_dict()


def register_jobs() -> None:
    register_job("montecarlo", "Monte Carlo", montecarlo_job)
    register_job("stress_test", "Stress test", stress_test_job)
    register_job("lookahead", "Look-ahead analysis", lookahead_job)
    register_job("parameter_heatmap", "Parameter heat map", parameter_heatmap_job)
