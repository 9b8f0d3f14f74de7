"""The locked holdout: the last part of a strategy's history that no choice may be made on.

Rules (each enforced here, used by walk-forward, plain backtests, stress tests and Monte Carlo):

* **One lock per strategy**, whatever its timeframe or symbol subset. The first walk-forward of a strategy
  fixes ``[holdout_start, holdout_end)`` and the fraction; later ones use the same range and must ask for
  the same fraction (:func:`lock_for_walkforward` refuses another one, naming the lock).
* **Optimisation never sees it**: a train, test or final-optimisation window that overlaps the lock is
  refused (:func:`refuse_overlap`).
* **Every other evaluation that touches it is counted** (:func:`record_touch`): the walk-forward's one
  holdout evaluation, a plain backtest over it (also those run before the lock existed, counted when it is
  set), a stress window inside it, a Monte Carlo of a run that touched it, the research portfolio replay.
* **Contaminated** once results of more than one *configuration* have been seen on it. A configuration is
  the strategy's source code, its parameters, symbols and timeframe (:func:`configuration_key`): re-running
  the chosen configuration (a stress window, a Monte Carlo, the portfolio run) shows nothing new and
  adds a count but not a configuration; trying another parameter set, timeframe, symbol subset or an
  edited strategy on it does.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import pandas as pd
from django.db import transaction
from django.utils import timezone

from analytics.models import HoldoutLock
from analytics.walkforward import WALKFORWARD_DEFAULTS
from core.jsonsafe import json_safe
from strategies.registry import get_strategy

#: The holdout fraction a walk-forward may ask for (share of its time range).
MIN_FRACTION, MAX_FRACTION = 0.2, 0.5


def check_fraction(fraction: float) -> float:
    """The fraction as a float, or ``ValueError`` when outside [MIN_FRACTION, MAX_FRACTION]."""
    try:
        value = float(fraction)
    except (TypeError, ValueError):
        raise ValueError(f"the holdout fraction must be a number, got {fraction!r}") from None
    if not MIN_FRACTION <= value <= MAX_FRACTION:
        raise ValueError(f"the holdout fraction must be between {MIN_FRACTION} and {MAX_FRACTION} "
                         f"(the last {MIN_FRACTION:.0%}..{MAX_FRACTION:.0%} of the data), got {value}")
    return value


@lru_cache(maxsize=64)
def strategy_source_hash(strategy: str) -> str:
    """SHA-256 (12 hex digits) of the source of the module defining the strategy: an edit changes it."""
    cls = get_strategy(strategy)
    try:
        source = inspect.getsource(inspect.getmodule(cls) or cls)
    except (OSError, TypeError):  # defined somewhere without source (an interactive session)
        source = cls.__qualname__
    return hashlib.sha256(source.encode()).hexdigest()[:12]


def configuration_key(strategy: str, parameters: Mapping, symbols: Sequence[str], timeframe: str) -> str:
    """What a result on the holdout depends on, as a short hash (see the module docstring)."""
    described = json.dumps({"code": strategy_source_hash(strategy), "parameters": json_safe(dict(parameters)),
                            "symbols": sorted(symbols), "timeframe": timeframe}, sort_keys=True, default=str)
    return hashlib.sha256(described.encode()).hexdigest()[:16]


def describe(lock: HoldoutLock) -> str:
    return (f"the holdout of {lock.strategy} ({lock.holdout_start:%Y-%m-%d}..{lock.holdout_end:%Y-%m-%d}, "
            f"{lock.fraction:.0%}, set by {lock.dataset_key})")


def lock_of(strategy: str) -> HoldoutLock | None:
    return HoldoutLock.objects.filter(strategy=strategy).first()


def refuse_fraction_change(strategy: str, fraction: float) -> None:
    """``ValueError`` when the strategy is locked at another fraction than ``fraction``."""
    lock = lock_of(strategy)
    if lock is not None and abs(lock.fraction - float(fraction)) > 1e-9:
        raise ValueError(f"refused: {describe(lock)} is locked; a holdout of {float(fraction):.0%} cannot be "
                         f"requested for it (use {lock.fraction})")


def lock_for_walkforward(*, strategy: str, symbols: Sequence[str], timeframe: str, start: pd.Timestamp,
                         end: pd.Timestamp, holdout_start: pd.Timestamp,
                         fraction: float = WALKFORWARD_DEFAULTS.holdout_fraction) -> HoldoutLock:
    """The strategy's lock, created from this walk-forward's split on first use (its dates never move).

    A new lock counts the plain backtests of the strategy that already looked at its range. Refused
    (``ValueError``) when the strategy is locked at another fraction or this range does not reach the lock.
    """
    refuse_fraction_change(strategy, fraction)
    with transaction.atomic():
        lock, created = HoldoutLock.objects.get_or_create(
            strategy=strategy, defaults={"holdout_start": holdout_start, "holdout_end": end, "fraction": fraction,
                                         "dataset_key": dataset_key(symbols, timeframe)})
        if created:
            _count_earlier_backtests(lock)
    if pd.Timestamp(end) <= pd.Timestamp(lock.holdout_start) or pd.Timestamp(start) >= pd.Timestamp(lock.holdout_start):
        raise ValueError(f"refused: {describe(lock)} is locked; this walk-forward's range "
                         f"{pd.Timestamp(start):%Y-%m-%d}..{pd.Timestamp(end):%Y-%m-%d} must start before it and "
                         f"reach into it")
    return lock


def dataset_key(symbols: Sequence[str], timeframe: str) -> str:
    return f"{','.join(sorted(symbols))}|{timeframe}"


def refuse_overlap(lock: HoldoutLock, start: Any, end: Any) -> None:
    """Optimisation may never see the locked holdout."""
    if overlaps(lock, start, end):
        raise ValueError(f"refused: the window {pd.Timestamp(start):%Y-%m-%d}..{pd.Timestamp(end):%Y-%m-%d} "
                         f"overlaps {describe(lock)}")


def overlaps(lock: HoldoutLock, start: Any, end: Any) -> bool:
    return pd.Timestamp(start) < pd.Timestamp(lock.holdout_end) and pd.Timestamp(end) > pd.Timestamp(lock.holdout_start)


def record_touch(lock: HoldoutLock, *, kind: str, source: str, parameters: Mapping, symbols: Sequence[str],
                 timeframe: str, start: Any, end: Any, performance: Mapping | None = None) -> HoldoutLock:
    """Count one evaluation on the holdout and add it to the lock's history.

    Call it inside the transaction that stores the evaluation's result: the count and the result land
    together or not at all, so a worker killed in between leaves the holdout as it was.
    """
    lock = HoldoutLock.objects.select_for_update().get(pk=lock.pk)
    performance = performance or {}
    lock.evaluations += 1
    lock.last_evaluated_at = timezone.now()
    lock.history = [*lock.history, json_safe({
        "at": lock.last_evaluated_at.isoformat(), "kind": kind, "source": source,
        "configuration": configuration_key(lock.strategy, parameters, symbols, timeframe),
        "parameters": dict(parameters), "symbols": sorted(symbols), "timeframe": timeframe,
        "start": pd.Timestamp(start).isoformat(), "end": pd.Timestamp(end).isoformat(),
        "sharpe": performance.get("sharpe"), "total_return": performance.get("total_return"),
        "n_trades": performance.get("n_trades")})]
    lock.save(update_fields=["evaluations", "last_evaluated_at", "history"])
    return lock


def touch_if_locked(*, strategy: str, kind: str, source: str, parameters: Mapping, symbols: Sequence[str],
                    timeframe: str, start: Any, end: Any, performance: Mapping | None = None) -> dict | None:
    """Count an evaluation of ``strategy`` over ``[start, end)`` if it overlaps the strategy's lock.

    Returns the flag to show beside the result (``None`` when it touched no lock). Call inside the
    transaction that stores the result.
    """
    lock = lock_of(strategy)
    if lock is None or not overlaps(lock, start, end):
        return None
    lock = record_touch(lock, kind=kind, source=source, parameters=parameters, symbols=symbols,
                        timeframe=timeframe, start=start, end=end, performance=performance)
    return touch_flag(lock)


def touch_flag(lock: HoldoutLock) -> dict:
    """How a touched lock stands now, in words and numbers, for the run that touched it."""
    state = "contaminated" if lock.contaminated else "not contaminated (the evaluated configuration)"
    return {"strategy": lock.strategy, "holdout_start": lock.holdout_start.isoformat(),
            "holdout_end": lock.holdout_end.isoformat(), "evaluations": lock.evaluations,
            "configurations": lock.configuration_count, "contaminated": lock.contaminated,
            "message": f"this run touched {describe(lock)}: evaluation {lock.evaluations} of it, "
                       f"{lock.configuration_count} configuration(s) seen, {state}"}


def _count_earlier_backtests(lock: HoldoutLock) -> None:
    """Plain backtests of the strategy that already covered the new lock's range count as its evaluations."""
    from backtests.models import BacktestConfig, RunPurpose, RunStatus

    earlier = BacktestConfig.objects.filter(
        strategy=lock.strategy, status=RunStatus.SUCCEEDED, purpose=RunPurpose.BACKTEST,
        start__lt=lock.holdout_end, end__gt=lock.holdout_start).order_by("finished_at", "pk")
    for config in earlier:
        record_touch(lock, kind="backtest before the lock", source=f"backtest #{config.pk}",
                     parameters=config.parameters, symbols=config.symbols, timeframe=config.timeframe,
                     start=config.start, end=config.end,
                     performance={"sharpe": config.sharpe_ratio, "total_return": config.total_return,
                                  "n_trades": config.num_trades})


def count_plain_backtest(config: Any, outcome: Any) -> dict | None:
    """Result observer of ``backtests.services``: a stored backtest over a locked holdout is counted on it
    (the walk-forward's own holdout run is counted by the walk-forward)."""
    from backtests.models import RunPurpose

    if config.purpose == RunPurpose.HOLDOUT:
        return None
    touched = touch_if_locked(strategy=config.strategy, kind=config.purpose, source=f"backtest #{config.pk}",
                              parameters=config.parameters, symbols=config.symbols, timeframe=config.timeframe,
                              start=config.start, end=config.end, performance=outcome.performance)
    return {"holdout_touch": touched} if touched else None


def touch_stored_run(config: Any, *, kind: str, source: str) -> dict | None:
    """Count a further evaluation built on a stored run (e.g. a Monte Carlo of its trades) if the run
    covers its strategy's lock; in its own transaction."""
    with transaction.atomic():
        return touch_if_locked(strategy=config.strategy, kind=kind, source=source, parameters=config.parameters,
                               symbols=config.symbols, timeframe=config.timeframe, start=config.start,
                               end=config.end, performance={"total_return": config.total_return,
                                                            "sharpe": config.sharpe_ratio,
                                                            "n_trades": config.num_trades})
