"""Finer candles inside the engine's bars, for ordering a stop and a target reached in the same bar.

As freqtrade's ``--timeframe-detail``: when one bar's range reaches both the stop and the target, the
bar's finer candles (e.g. 1m under 1h) are walked in time order and the first level reached fills (stop
first when one finer candle reaches both). Only bars whose finer candles are complete (every finer bar of
the bar present) are resolved this way; the rest keep the coarse rule (stop first). Bars that reach only
one level are unchanged, so a run with finer candles equals the coarse run except where the finer candles
say the target came first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.timeutil import utc_index


@dataclass(frozen=True)
class DetailLayout:
    """Finer candles of all symbols stacked in one array each; bar i of symbol j owns rows
    ``start[i, j]:end[i, j]`` (an empty range: no complete finer candles for that bar)."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    start: np.ndarray
    end: np.ndarray
    timeframe: str | None
    bars_covered: int

    @classmethod
    def empty(cls, m: int) -> DetailLayout:
        nothing = np.zeros(0)
        rows = np.zeros((1, m), dtype=np.int64)
        return cls(nothing, nothing, nothing, rows, rows, None, 0)


def _code(step_ns: int) -> str:
    """A bar length as a timeframe code: ``1m``, ``15m``, ``1h``."""
    minutes, rest = divmod(step_ns, 60 * 10**9)
    if rest:
        return str(pd.Timedelta(step_ns))
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def detail_layout(detail: dict[str, pd.DataFrame] | None, symbols: list[str], grid_start: int, n: int,
                  bar_ns: int) -> DetailLayout:
    """Lay each symbol's finer candles under the grid's bars (see :class:`DetailLayout`)."""
    m = len(symbols)
    given = {s: frame for s, frame in (detail or {}).items() if s in symbols and len(frame)}
    if not given:
        return DetailLayout.empty(m)
    start = np.zeros((n, m), dtype=np.int64)
    end = np.zeros((n, m), dtype=np.int64)
    opens: list[np.ndarray] = []
    highs: list[np.ndarray] = []
    lows: list[np.ndarray] = []
    steps: set[int] = set()
    offset = 0
    for j, symbol in enumerate(symbols):
        frame = given.get(symbol)
        if frame is None:
            continue
        ts = utc_index(frame.index).as_unit("ns").asi8
        if len(ts) > 1:
            step = int(np.diff(ts).min())
            if step <= 0 or bar_ns % step:
                raise ValueError(f"finer candles of {symbol} must be strictly increasing and divide the bar length")
        else:
            step = bar_ns
        if step >= bar_ns:
            continue
        steps.add(step)
        keep = (ts >= grid_start) & (ts < grid_start + n * bar_ns)
        ts = ts[keep]
        bars = (ts - grid_start) // bar_ns
        counts = np.bincount(bars, minlength=n)
        complete = counts == bar_ns // step
        first = np.searchsorted(bars, np.arange(n), side="left")
        start[:, j] = np.where(complete, first + offset, 0)
        end[:, j] = np.where(complete, first + counts + offset, 0)
        for column, out in (("open", opens), ("high", highs), ("low", lows)):
            out.append(frame[column].to_numpy(dtype=np.float64)[keep])
        offset += len(ts)
    if not steps:
        return DetailLayout.empty(m)
    timeframe = ", ".join(_code(step) for step in sorted(steps))
    covered = int(np.count_nonzero(end > start))
    return DetailLayout(np.concatenate(opens), np.concatenate(highs), np.concatenate(lows), start, end, timeframe,
                        covered)
