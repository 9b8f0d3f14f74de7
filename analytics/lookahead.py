"""Look-ahead check: does a strategy decide the same at bar t whether or not it can see the future?

A strategy obeys the contract (``strategies.base``) when its output at bar t depends only on
data up to t. We run ``generate_signals`` on the full data, sample bars where it signalled (entries or
exits; seeded), and for each sampled time T re-run it on ``data.cut(T)`` (rows ``<= T`` only). Every
column of every signal frame (signal columns and any indicator/debug columns the frames carry) must
then be equal on all bars ``<= T``; each difference is reported with symbol, bar, column and both values.

Pure module: pandas/numpy only.

>>> report = lookahead_check(MyStrategy(), data, sample=10)   # doctest: +SKIP
>>> report.passed, report.to_dict()["differences"][:1]        # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.jsonsafe import json_safe
from strategies.base import BaseStrategy, MarketData

#: Relative / absolute tolerance for float columns (rolling kernels may differ in the last ulp).
RTOL = 1e-9
ATOL = 1e-12
#: At most this many differences are kept per cut (the count is still exact).
MAX_DIFFERENCES_PER_CUT = 50


@dataclass(frozen=True)
class Difference:
    """One value that changed when the future was removed."""

    cut_at: pd.Timestamp
    symbol: str
    timestamp: pd.Timestamp | None
    column: str
    full_value: Any
    cut_value: Any

    def to_dict(self) -> dict[str, Any]:
        return {
            "cut_at": _iso(self.cut_at),
            "symbol": self.symbol,
            "timestamp": _iso(self.timestamp),
            "column": self.column,
            "full_value": json_safe(self.full_value),
            "cut_value": json_safe(self.cut_value),
        }


@dataclass
class LookaheadReport:
    """Result of :func:`lookahead_check`; ``passed`` is True when no difference was found."""

    strategy: str
    params: dict[str, Any]
    cuts: list[pd.Timestamp] = field(default_factory=list)
    signal_bars: int = 0
    differences: list[Difference] = field(default_factory=list)
    difference_count: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.difference_count == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "params": {k: json_safe(v) for k, v in self.params.items()},
            "passed": self.passed,
            "cuts_checked": len(self.cuts),
            "cuts": [_iso(ts) for ts in self.cuts],
            "signal_bars": self.signal_bars,
            "difference_count": self.difference_count,
            "differences": [d.to_dict() for d in self.differences],
            "notes": list(self.notes),
        }


def _iso(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None or pd.isna(ts) else pd.Timestamp(ts).isoformat()


def _signal_times(signals: dict[str, pd.DataFrame]) -> pd.DatetimeIndex:
    """Timestamps where any symbol has an entry or exit (sorted, unique)."""
    times: list[pd.Index] = []
    for frame in signals.values():
        flagged = np.zeros(len(frame), dtype=bool)
        for column in ("entry", "exit", "scale_in"):
            if column in frame.columns:
                flagged |= frame[column].fillna(False).to_numpy(dtype=bool)
        times.append(frame.index[flagged])
    if not times:
        return pd.DatetimeIndex([], tz="UTC")
    union = times[0]
    for more in times[1:]:
        union = union.union(more)
    return pd.DatetimeIndex(union).sort_values().unique()


def _all_times(signals: dict[str, pd.DataFrame], skip: int) -> pd.DatetimeIndex:
    times = [frame.index[skip:] for frame in signals.values()]
    if not times:
        return pd.DatetimeIndex([], tz="UTC")
    union = times[0]
    for more in times[1:]:
        union = union.union(more)
    return pd.DatetimeIndex(union)


def _values_differ(full: pd.Series, cut: pd.Series) -> np.ndarray:
    """Boolean mask of positions where two aligned columns differ (NaN == NaN)."""
    a, b = full.to_numpy(), cut.to_numpy()
    if a.dtype.kind in "fiub" and b.dtype.kind in "fiub":
        a = a.astype("float64")
        b = b.astype("float64")
        same = np.isclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True)
        return ~same
    a_na, b_na = pd.isna(a), pd.isna(b)
    equal = np.array([x == y for x, y in zip(a, b, strict=True)], dtype=bool)
    return ~((a_na & b_na) | (~a_na & ~b_na & equal))


def compare_signals(full: dict[str, pd.DataFrame], cut: dict[str, pd.DataFrame],
                    cut_at: pd.Timestamp) -> tuple[int, list[Difference]]:
    """Differences between the full run and the run on data cut at ``cut_at``, on bars ``<= cut_at``."""
    count = 0
    found: list[Difference] = []

    def add(diff: Difference) -> None:
        nonlocal count
        count += 1
        if len(found) < MAX_DIFFERENCES_PER_CUT:
            found.append(diff)

    for symbol in sorted(set(full) | set(cut)):
        full_frame = full.get(symbol)
        cut_frame = cut.get(symbol)
        if full_frame is not None:
            full_frame = full_frame.loc[full_frame.index <= cut_at]
        if full_frame is None or cut_frame is None:
            present = full_frame if full_frame is not None else cut_frame
            rows = len(present) if present is not None else 0
            if rows:
                add(Difference(cut_at, symbol, None, "<frame>",
                               "present" if full_frame is not None else "absent",
                               "present" if cut_frame is not None else "absent"))
            continue
        if not full_frame.index.equals(cut_frame.index):
            add(Difference(cut_at, symbol, None, "<index>", len(full_frame), len(cut_frame)))
            continue
        for column in sorted(set(full_frame.columns) | set(cut_frame.columns)):
            if column not in full_frame.columns or column not in cut_frame.columns:
                add(Difference(cut_at, symbol, None, column,
                               "present" if column in full_frame.columns else "absent",
                               "present" if column in cut_frame.columns else "absent"))
                continue
            mask = _values_differ(full_frame[column], cut_frame[column])
            for pos in np.flatnonzero(mask):
                add(Difference(cut_at, symbol, full_frame.index[pos], column,
                               full_frame[column].iloc[pos], cut_frame[column].iloc[pos]))
    return count, found


def lookahead_check(strategy: BaseStrategy, data: MarketData, *, sample: int = 20,
                    seed: int = 0) -> LookaheadReport:
    """Re-run ``strategy`` on data cut just after up to ``sample`` signal bars and compare with the full run.

    The sampled cut times are the bars where any symbol has an entry, exit or scale-in (drawn without
    replacement with ``numpy.random.default_rng(seed)``; all of them when there are fewer). When the
    strategy never signals, bars after its warm-up are sampled instead so the check is not vacuous.
    ``data`` is not modified (each run gets its own notes list).
    """
    if sample < 1:
        raise ValueError(f"sample must be >= 1, got {sample}")
    full = strategy.generate_signals(dataclasses.replace(data, notes=[]))
    report = LookaheadReport(strategy=type(strategy).__name__, params=dict(strategy.params))
    candidates = _signal_times(full)
    report.signal_bars = len(candidates)
    if len(candidates) == 0:
        candidates = _all_times(full, strategy.warmup_bars)
        report.notes.append("the strategy produced no entry/exit on this data: sampled bars after the warm-up")
    if len(candidates) == 0:
        report.notes.append("no bars to check")
        return report
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(candidates), size=min(sample, len(candidates)), replace=False)
    for cut_at in candidates[np.sort(picked)]:
        cut_signals = strategy.generate_signals(data.cut(cut_at))
        count, found = compare_signals(full, cut_signals, cut_at)
        report.cuts.append(cut_at)
        report.difference_count += count
        report.differences.extend(found)
    return report
