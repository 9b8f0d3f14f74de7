"""Walk-forward windows, the untouched holdout, and how well in-sample results survive out of sample.

Pure pandas (no Django). All intervals are half-open ``[start, end)`` and all timestamps UTC.

>>> windows = walk_forward_windows("2022-01-01", "2023-01-01", train_months=6, test_months=3)
>>> [(w.test_start.date().isoformat(), w.test_end.date().isoformat()) for w in windows]
[('2022-07-01', '2022-10-01'), ('2022-10-01', '2023-01-01')]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import pandas as pd

from core.timeutil import check_period
from core.timeutil import utc_timestamp as _utc

TimestampLike: TypeAlias = str | pd.Timestamp


@dataclass(frozen=True)
class WalkForwardDefaults:
    """The walk-forward settings every entry point (model, API, admin, services, research) starts from."""

    train_months: int = 6
    test_months: int = 3
    holdout_fraction: float = 0.3
    objective: str = "sharpe"
    search: str = "random"
    max_trials: int = 20
    seed: int = 42


WALKFORWARD_DEFAULTS = WalkForwardDefaults()


@dataclass(frozen=True)
class Window:
    """One walk-forward step: optimise on ``[train_start, train_end)``, test on ``[test_start, test_end)``."""

    index: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp

    def to_dict(self) -> dict:
        return {"index": self.index, "train_start": self.train_start.isoformat(),
                "train_end": self.train_end.isoformat(), "test_start": self.test_start.isoformat(),
                "test_end": self.test_end.isoformat()}


def holdout_split(start: TimestampLike, end: TimestampLike, fraction: float = 0.3) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Split ``[start, end)`` by time: research ``[start, research_end)``, holdout ``[holdout_start, end)``.

    The last ``fraction`` of the time range (rounded so the holdout is never smaller) is the holdout that
    optimisation never sees. The two
    returned timestamps are equal (half-open intervals do not overlap); both are returned so callers
    name what they mean.
    """
    start, end = _utc(start), _utc(end)
    check_period(start, end)
    if not 0 <= fraction < 1:
        raise ValueError("fraction must be in [0, 1)")
    split = start + (end - start) * (1.0 - fraction)
    # Round down (the holdout can only grow): to the UTC day for ranges of 10 days or more.
    split = max(start, split.floor("D")) if end - start >= pd.Timedelta(days=10) else split.floor("s")
    return split, split


def walk_forward_windows(
    start: TimestampLike,
    end: TimestampLike,
    train_months: int = 6,
    test_months: int = 3,
    step_months: int | None = None,
) -> list[Window]:
    """Rolling windows from ``start``, stepping ``step_months`` (default ``test_months``), all before ``end``.

    A window whose test period would run past ``end`` is dropped, so the last part of the range may be
    unused. Raises ``ValueError`` when not even one window fits.
    """
    start, end = _utc(start), _utc(end)
    step_months = test_months if step_months is None else step_months
    if train_months <= 0 or test_months <= 0 or step_months <= 0:
        raise ValueError("train_months, test_months and step_months must be positive")
    windows: list[Window] = []
    k = 0
    while True:
        train_start = start + pd.DateOffset(months=k * step_months)
        train_end = train_start + pd.DateOffset(months=train_months)
        test_end = train_end + pd.DateOffset(months=test_months)
        if test_end > end:
            break
        windows.append(Window(k, train_start, train_end, train_end, test_end))
        k += 1
    if not windows:
        raise ValueError(
            f"range {start.isoformat()} .. {end.isoformat()} is shorter than one window "
            f"({train_months} months train + {test_months} months test)"
        )
    return windows


def check_no_holdout_overlap(windows: Sequence[Window], holdout_start: TimestampLike) -> None:
    """Raise ``ValueError`` if any window (train or test) reaches into the holdout."""
    holdout_start = _utc(holdout_start)
    leaking = [w.index for w in windows if w.test_end > holdout_start or w.train_end > holdout_start]
    if leaking:
        raise ValueError(f"windows {leaking} overlap the holdout starting {holdout_start.isoformat()}")


def degradation(train_value: float | None, test_value: float | None) -> float | None:
    """Test objective over train objective (1.0 = no degradation, 0.5 = half, negative = sign flip).

    ``None`` when the ratio means nothing: a missing/non-finite value, or ``train_value <= 0`` (a ratio to
    a zero or negative in-sample result cannot be read as "how much survived").
    """
    if train_value is None or test_value is None:
        return None
    if not (math.isfinite(train_value) and math.isfinite(test_value)) or train_value <= 0:
        return None
    return float(test_value / train_value)


def stability(period_metrics: Sequence[Mapping], objective: str = "sharpe") -> dict:
    """How consistent the out-of-sample results are across walk-forward periods.

    Each item is a mapping with ``train_metrics`` and ``test_metrics`` (metric dicts as produced by
    ``backtests.metrics.performance_summary``) and optionally ``degradation`` (computed if absent).
    Returns the share of periods with a positive test objective, the share of profitable test periods
    (``total_return > 0``), mean/std (ddof=1) of the test Sharpe, mean degradation over the periods where
    it is defined, and the worst test objective. Undefined values are ``None``.

    A period whose test window had no candles at all (empty ``test_metrics``: a gap in the data) is no
    evidence either way: it is counted in ``n_periods_no_data`` and left out of the shares.
    """
    all_periods = list(period_metrics)
    period_metrics = [p for p in all_periods if p.get("test_metrics")]
    tests = [p.get("test_metrics") or {} for p in period_metrics]
    test_objective = _defined(t.get(objective) for t in tests)
    test_sharpe = _defined(t.get("sharpe") for t in tests)
    test_return = _defined(t.get("total_return") for t in tests)
    degradations = _defined(
        p["degradation"] if p.get("degradation") is not None
        else degradation((p.get("train_metrics") or {}).get(objective), (p.get("test_metrics") or {}).get(objective))
        for p in period_metrics
    )
    n = len(period_metrics)
    return {
        "objective": objective,
        "n_periods": len(all_periods),
        "n_periods_with_data": n,
        "n_periods_no_data": len(all_periods) - n,
        "share_positive_test_objective": (sum(v > 0 for v in test_objective) / n) if n else None,
        "share_profitable_test": (sum(v > 0 for v in test_return) / n) if n else None,
        "test_sharpe_mean": float(np.mean(test_sharpe)) if test_sharpe else None,
        "test_sharpe_std": float(np.std(test_sharpe, ddof=1)) if len(test_sharpe) > 1 else None,
        "mean_degradation": float(np.mean(degradations)) if degradations else None,
        "n_degradation_defined": len(degradations),
        "worst_test_objective": min(test_objective) if test_objective else None,
    }


def _defined(values) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]
