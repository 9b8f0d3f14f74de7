"""Look-ahead check: does a strategy decide the same at bar T whether or not it can see the future?

A strategy obeys the contract (``strategies.base``) when its output at bar T depends only on data up to
T. The check runs ``generate_signals`` once on the full data, then re-runs it on ``data.cut(T)`` (rows
``<= T`` only) for a set of cut times T and compares every column of every signal frame (the signal
columns and any stop/target/indicator/debug columns the frames carry). Each difference is reported with
symbol, bar, column and both values. Floats are compared with ``RTOL``/``ATOL`` (rolling kernels may
differ in the last ulp); NaN equals NaN.

Two modes
---------
``mode="sample"`` (default, cheap)
    Cuts at up to ``sample`` bars where the full run signals (entry, exit or scale-in) **and** at up to
    ``non_signal_sample`` bars after the warm-up where it does not (both drawn with
    ``numpy.random.default_rng(seed)``), and compares all bars ``<= T`` of each cut run.
``mode="replay"`` (exact, O(bars) strategy runs)
    A causal bar-by-bar replay: for *every* bar T after the warm-up it re-runs on ``data.cut(T)`` and
    compares the row at bar T.

What the sampled cuts catch, and what they miss
-----------------------------------------------
At a cut T the re-run sees no future at all, so a cut catches any peek that changes a value at the cut
bar itself (or at the earlier bars whose look-ahead window reaches past T). That covers the peeks that
change a value on (almost) every bar: ``shift(-1)`` or ``bfill`` in an indicator column, centred rolling
windows, statistics of the whole series (mean/std/z-scores, min-max scaling, quantiles), a daily (or
weekly) resample joined back onto the intraday bars, anything fitted on the whole frame. One cut is
enough for those; sampling several is cheap insurance.

A peek that only *sometimes* changes a decision can slip through. The classic case is a veto: "enter on
the causal rule unless the next bar falls" (``close.shift(-1) < close``). At a bar where the full run
enters, the veto did not fire, and the cut run (which cannot see the next bar, so never vetoes) enters
too: cuts at signal bars can never catch it. It changes the decision only on the bars where it vetoed,
where the full run does *not* signal; the non-signal cuts find it only if one lands on such a bar (with
8 vetoed bars among thousands, a sample of 20 usually misses them). Only the replay proves that every
decision after the warm-up is causal.

Why the replay compares only bar T, and why that is exact
----------------------------------------------------------
The decision the backtest takes at bar T is the full run's row T; the decision a live system would take
at T is the row T of a run that has seen data up to T only, i.e. of the run on ``data.cut(T)``. The
replay checks that these two rows are equal for every T after the warm-up, every symbol and every
column, with no sampling: if it passes, the full run's decisions are exactly the causal ones, on this
data. Comparing the earlier rows of each cut run as well would only re-check bars already checked
against their own cut, at O(bars^2) comparisons for nothing.

What neither mode can catch
---------------------------
- Future information already in the inputs: on-chain/social/sentiment values stamped earlier than
  they were published (point-in-time alignment is the loader's job, ``marketdata.pointintime``), or
  candles revised after the fact.
- Parameters chosen on the whole period (that is overfitting; see the holdout and walk-forward tools).
- Look-ahead outside the signal frames, e.g. in the ``yield_accrual`` hook.
- A peek that happens to agree with the causal value on every checked bar of *this* data (the check is
  empirical: a clean pass on one window says nothing about another).
- Decisions inside the warm-up (``strategy.warmup_bars``): the replay and the non-signal cuts start
  after it (sample mode still compares the warm-up bars before each cut).

Report
------
``status`` is ``"passed"`` (something was checked and nothing differed), ``"look-ahead found"`` or
``"nothing checked"`` (empty data, no bar after the warm-up, no signal frame): a check that checked
nothing is never a pass. ``to_dict()`` is JSON-safe.

Pure module: pandas/numpy only.

>>> report = lookahead_check(MyStrategy(), data, sample=10)                  # doctest: +SKIP
>>> report.status, report.to_dict()["differences"][:1]                       # doctest: +SKIP
>>> lookahead_check(MyStrategy(), data, mode="replay").passed                # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
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
#: In replay mode (one cut per bar) at most this many differences are kept in all (the count is exact).
MAX_REPLAY_DIFFERENCES = 500

MODES = ("sample", "replay")
PASSED = "passed"
LOOKAHEAD_FOUND = "look-ahead found"
NOTHING_CHECKED = "nothing checked"


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
    """Result of :func:`lookahead_check`.

    ``passed`` is True only when at least one cut was checked and no value differed; ``status`` says
    which of ``"passed"``, ``"look-ahead found"``, ``"nothing checked"`` it is. ``cuts`` are the cut times
    (sorted), ``signal_cuts``/``non_signal_cuts`` how many of them were at bars where the full run
    signals or not, ``differing_cuts`` how many cuts had at least one difference. ``bars`` is the number
    of candle rows per symbol of the data checked and ``data_notes`` the data's own notes (e.g. the
    loader's "no candles for X"), kept apart from the check's ``notes``.
    """

    strategy: str
    params: dict[str, Any]
    mode: str = "sample"
    cuts: list[pd.Timestamp] = field(default_factory=list)
    signal_bars: int = 0
    signal_cuts: int = 0
    non_signal_cuts: int = 0
    differing_cuts: int = 0
    warmup_bars: int = 0
    bars: dict[str, int] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)
    difference_count: int = 0
    notes: list[str] = field(default_factory=list)
    data_notes: list[str] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    @property
    def status(self) -> str:
        if self.difference_count:
            return LOOKAHEAD_FOUND
        return PASSED if self.cuts else NOTHING_CHECKED

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "params": {k: json_safe(v) for k, v in self.params.items()},
            "status": self.status,
            "passed": self.passed,
            "mode": self.mode,
            "cuts_checked": len(self.cuts),
            "signal_cuts": self.signal_cuts,
            "non_signal_cuts": self.non_signal_cuts,
            "differing_cuts": self.differing_cuts,
            "cuts": [_iso(ts) for ts in self.cuts],
            "signal_bars": self.signal_bars,
            "warmup_bars": self.warmup_bars,
            "bars": dict(self.bars),
            "difference_count": self.difference_count,
            "differences": [d.to_dict() for d in self.differences],
            "notes": list(self.notes),
            "data_notes": list(self.data_notes),
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }


def _iso(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None or pd.isna(ts) else pd.Timestamp(ts).isoformat()


def _union(indexes: list[pd.Index]) -> pd.DatetimeIndex:
    if not indexes:
        return pd.DatetimeIndex([], tz="UTC")
    union = indexes[0]
    for more in indexes[1:]:
        union = union.union(more)
    return pd.DatetimeIndex(union).sort_values().unique()


def _signal_times(signals: dict[str, pd.DataFrame]) -> pd.DatetimeIndex:
    """Timestamps where any symbol has an entry, exit or scale-in (sorted, unique)."""
    times: list[pd.Index] = []
    for frame in signals.values():
        flagged = np.zeros(len(frame), dtype=bool)
        for column in ("entry", "exit", "scale_in"):
            if column in frame.columns:
                flagged |= frame[column].fillna(False).to_numpy(dtype=bool)
        times.append(frame.index[flagged])
    return _union(times)


def _all_times(signals: dict[str, pd.DataFrame], skip: int) -> pd.DatetimeIndex:
    """Every bar of any signal frame after that frame's first ``skip`` bars (the warm-up)."""
    return _union([frame.index[skip:] for frame in signals.values()])


def _arrays_differ(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Boolean mask of positions where two aligned arrays differ (floats within RTOL/ATOL; NaN == NaN)."""
    if a.dtype.kind in "fiub" and b.dtype.kind in "fiub":
        same = np.isclose(a.astype("float64"), b.astype("float64"), rtol=RTOL, atol=ATOL, equal_nan=True)
        return ~same
    a_na, b_na = pd.isna(a), pd.isna(b)
    equal = np.array([x == y for x, y in zip(a, b, strict=True)], dtype=bool)
    return ~((a_na & b_na) | (~a_na & ~b_na & equal))


def _values_differ(full: pd.Series, cut: pd.Series) -> np.ndarray:
    """Boolean mask of positions where two aligned columns differ (NaN == NaN)."""
    return _arrays_differ(full.to_numpy(), cut.to_numpy())


def _presence(present: bool) -> str:
    return "present" if present else "absent"


class _Collector:
    """Counts every difference of one cut, keeps at most ``limit``."""

    def __init__(self, limit: int) -> None:
        self.count = 0
        self.found: list[Difference] = []
        self.limit = limit

    def add(self, diff: Difference) -> None:
        self.count += 1
        if len(self.found) < self.limit:
            self.found.append(diff)


def compare_signals(full: dict[str, pd.DataFrame], cut: dict[str, pd.DataFrame],
                    cut_at: pd.Timestamp) -> tuple[int, list[Difference]]:
    """Differences between the full run and the run on data cut at ``cut_at``, on bars ``<= cut_at``."""
    out = _Collector(MAX_DIFFERENCES_PER_CUT)
    for symbol in sorted(set(full) | set(cut)):
        full_frame = full.get(symbol)
        cut_frame = cut.get(symbol)
        if full_frame is not None:
            full_frame = full_frame.loc[full_frame.index <= cut_at]
        if full_frame is None or cut_frame is None:
            present = full_frame if full_frame is not None else cut_frame
            rows = len(present) if present is not None else 0
            if rows:
                out.add(Difference(cut_at, symbol, None, "<frame>", _presence(full_frame is not None),
                                   _presence(cut_frame is not None)))
            continue
        if not full_frame.index.equals(cut_frame.index):
            out.add(Difference(cut_at, symbol, None, "<index>", len(full_frame), len(cut_frame)))
            continue
        for column in sorted(set(full_frame.columns) | set(cut_frame.columns)):
            if column not in full_frame.columns or column not in cut_frame.columns:
                out.add(Difference(cut_at, symbol, None, column, _presence(column in full_frame.columns),
                                   _presence(column in cut_frame.columns)))
                continue
            mask = _values_differ(full_frame[column], cut_frame[column])
            for pos in np.flatnonzero(mask):
                out.add(Difference(cut_at, symbol, full_frame.index[pos], column,
                                   full_frame[column].iloc[pos], cut_frame[column].iloc[pos]))
    return out.count, out.found


class _FullRows:
    """The full run's frames with, per symbol, the row position of each replayed bar (-1: no such row)."""

    def __init__(self, full: dict[str, pd.DataFrame], timeline: pd.DatetimeIndex) -> None:
        self.frames = full
        self.positions: dict[str, np.ndarray] = {}
        self.columns: dict[str, dict[str, np.ndarray]] = {}
        for symbol, frame in full.items():
            if not frame.index.is_unique:
                raise ValueError(f"the signal frame of {symbol} has duplicate timestamps")
            self.positions[symbol] = frame.index.get_indexer(timeline)
            self.columns[symbol] = {column: frame[column].to_numpy() for column in frame.columns}


def _row_position(frame: pd.DataFrame, at: pd.Timestamp) -> int:
    """Position of the row at ``at`` in ``frame`` (the last row in a cut run), -1 when there is none."""
    if len(frame) and frame.index[-1] == at:
        return len(frame) - 1
    if not frame.index.is_unique:
        raise ValueError("a signal frame of the cut run has duplicate timestamps")
    return int(frame.index.get_indexer([at])[0])


_NUMBER_TYPES = (bool, int, float, np.bool_, np.number)


def _scalar_differs(full_value: Any, cut_value: Any, full_numeric: bool) -> bool:
    """:func:`_arrays_differ` for one value each (the replay compares one row per cut): numbers within
    RTOL/ATOL, NaN == NaN, anything else by ``==``."""
    if full_numeric and isinstance(cut_value, _NUMBER_TYPES):
        a, b = float(full_value), float(cut_value)
        if a == b or (a != a and b != b):
            return False
        return not abs(a - b) <= ATOL + RTOL * abs(b)  # NaN against a number: differs
    a_na, b_na = bool(pd.isna(full_value)), bool(pd.isna(cut_value))
    if a_na or b_na:
        return a_na != b_na
    try:
        return not bool(full_value == cut_value)
    except (TypeError, ValueError):  # values whose == is not a truth value
        return True


def compare_bar(full: _FullRows, step: int, cut: dict[str, pd.DataFrame],
                cut_at: pd.Timestamp) -> tuple[int, list[Difference]]:
    """Differences between the full run and the run cut at ``cut_at``, on the row at ``cut_at`` only
    (``step`` is the position of ``cut_at`` in the timeline ``full`` was built for)."""
    out = _Collector(MAX_DIFFERENCES_PER_CUT)
    for symbol in sorted(set(full.frames) | set(cut)):
        full_pos = int(full.positions[symbol][step]) if symbol in full.frames else -1
        cut_frame = cut.get(symbol)
        cut_pos = _row_position(cut_frame, cut_at) if cut_frame is not None else -1
        if full_pos < 0 or cut_pos < 0:
            if full_pos >= 0 or cut_pos >= 0:
                out.add(Difference(cut_at, symbol, cut_at, "<row>", _presence(full_pos >= 0),
                                   _presence(cut_pos >= 0)))
            continue
        assert cut_frame is not None  # cut_pos >= 0
        full_columns = full.columns[symbol]
        cut_columns = {column: j for j, column in enumerate(cut_frame.columns)}
        for column in sorted(set(full_columns) | set(cut_columns)):
            if column not in full_columns or column not in cut_columns:
                out.add(Difference(cut_at, symbol, cut_at, column, _presence(column in full_columns),
                                   _presence(column in cut_columns)))
                continue
            values = full_columns[column]
            full_value, cut_value = values[full_pos], cut_frame.iat[cut_pos, cut_columns[column]]
            if _scalar_differs(full_value, cut_value, values.dtype.kind in "fiub"):
                out.add(Difference(cut_at, symbol, cut_at, column, full_value, cut_value))
    return out.count, out.found


class _Cutter:
    """``data.cut(T)`` for many T: the same rows (``<= T``), found by binary search on sorted indexes.

    Every ``dict[str, DataFrame]`` table of :class:`MarketData` is cut (a table added to the dataclass
    later is cut too); the other fields are passed through, ``notes`` is a fresh list, as in
    ``MarketData.cut``. Frames whose index is not sorted fall back to the boolean mask of ``MarketData.cut``.
    Slices are copy-on-write (pandas >= 3), so a strategy cannot alter the caller's data through them.
    """

    def __init__(self, data: MarketData) -> None:
        self.data = data
        self.tables: dict[str, dict[str, tuple[pd.DataFrame, pd.DatetimeIndex | None]]] = {}
        for spec in dataclasses.fields(data):
            if not spec.init:  # derived state (the memo), not data
                continue
            value = getattr(data, spec.name)
            if isinstance(value, dict) and all(isinstance(frame, pd.DataFrame) for frame in value.values()):
                self.tables[spec.name] = {key: (frame, self._sorted_times(frame)) for key, frame in value.items()}

    @staticmethod
    def _sorted_times(frame: pd.DataFrame) -> pd.DatetimeIndex | None:
        index = frame.index
        if isinstance(index, pd.DatetimeIndex) and index.is_monotonic_increasing and not index.hasnans:
            return index
        return None

    def __call__(self, end: pd.Timestamp) -> MarketData:
        cut: dict[str, Any] = {"notes": []}
        for name, frames in self.tables.items():
            table = {}
            for key, (frame, times) in frames.items():
                if times is None:
                    table[key] = frame.loc[frame.index <= end]
                else:
                    table[key] = frame.iloc[:times.searchsorted(end, side="right")]
            cut[name] = table
        return dataclasses.replace(self.data, **cut)


def _pick(rng: np.random.Generator, candidates: pd.DatetimeIndex, size: int) -> pd.DatetimeIndex:
    if size <= 0 or len(candidates) == 0:
        return candidates[:0]
    picked = rng.choice(len(candidates), size=min(size, len(candidates)), replace=False)
    return candidates[np.sort(picked)]


def lookahead_check(strategy: BaseStrategy, data: MarketData, *, sample: int = 20, seed: int = 0,
                    mode: str = "sample", non_signal_sample: int | None = None,
                    progress: Callable[[int, int], None] | None = None) -> LookaheadReport:
    """Re-run ``strategy`` on data cut at a set of bars and compare with the full run (see the module doc).

    ``mode="sample"``: cut at up to ``sample`` bars where any symbol has an entry, exit or scale-in and at
    up to ``non_signal_sample`` (default: ``sample``; 0 for none) bars after the warm-up where none has,
    drawn without replacement with ``numpy.random.default_rng(seed)`` (signal bars first, so a seed cuts
    at the same signal bars as before the non-signal cuts existed); compare all bars ``<= T``.
    ``mode="replay"``: cut at every bar after the warm-up and compare the row at that bar (exact; one
    strategy run per bar). ``progress(done, total)`` is called after each cut.

    ``data`` is not modified (each run gets its own notes list). Bad arguments raise ``ValueError``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if isinstance(sample, bool) or not isinstance(sample, int | np.integer) or sample < 1:
        raise ValueError(f"sample must be an integer >= 1, got {sample!r}")
    if non_signal_sample is None:
        non_signal_sample = int(sample)
    elif (isinstance(non_signal_sample, bool) or not isinstance(non_signal_sample, int | np.integer)
          or non_signal_sample < 0):
        raise ValueError(f"non_signal_sample must be an integer >= 0, got {non_signal_sample!r}")
    started = time.perf_counter()
    warmup = int(strategy.warmup_bars)
    report = LookaheadReport(strategy=type(strategy).__name__, params=dict(strategy.params), mode=mode,
                             warmup_bars=warmup, data_notes=list(data.notes),
                             bars={symbol: len(frame) for symbol, frame in data.candles.items()})
    if not any(report.bars.values()):
        report.notes.append("no candles: nothing to check")
        return report
    full = strategy.generate_signals(dataclasses.replace(data, notes=[]))
    if not full:
        report.notes.append("the strategy returned no signal frame on this data: nothing to check")
        return report
    signal_times = _signal_times(full)
    report.signal_bars = len(signal_times)
    after_warmup = _all_times(full, warmup)
    if len(after_warmup) == 0:
        longest = max(len(frame) for frame in full.values())
        report.notes.append(f"no bar after the warm-up of {warmup} bars (the longest signal frame has "
                            f"{longest}): nothing to check")
        return report
    cutter = _Cutter(data)
    if mode == "replay":
        _replay(strategy, full, after_warmup, signal_times, cutter, report, progress)
    else:
        if report.signal_bars == 0:
            report.notes.append("the strategy produced no entry/exit on this data: only bars where it does "
                                "not signal were cut")
        rng = np.random.default_rng(seed)
        at_signals = _pick(rng, signal_times, int(sample))
        elsewhere = _pick(rng, after_warmup.difference(signal_times), non_signal_sample)
        report.signal_cuts, report.non_signal_cuts = len(at_signals), len(elsewhere)
        cuts = at_signals.union(elsewhere).sort_values()
        for done, cut_at in enumerate(cuts, start=1):
            count, found = compare_signals(full, strategy.generate_signals(cutter(cut_at)), cut_at)
            _record(report, cut_at, count, found, limit=None)
            if progress is not None:
                progress(done, len(cuts))
    report.elapsed_seconds = time.perf_counter() - started
    return report


def _record(report: LookaheadReport, cut_at: pd.Timestamp, count: int, found: list[Difference],
            limit: int | None) -> None:
    report.cuts.append(cut_at)
    report.difference_count += count
    report.differing_cuts += bool(count)
    room = len(found) if limit is None else max(0, limit - len(report.differences))
    report.differences.extend(found[:room])


def _replay(strategy: BaseStrategy, full: dict[str, pd.DataFrame], timeline: pd.DatetimeIndex,
            signal_times: pd.DatetimeIndex, cutter: _Cutter, report: LookaheadReport,
            progress: Callable[[int, int], None] | None) -> None:
    rows = _FullRows(full, timeline)
    report.signal_cuts = int(timeline.isin(signal_times).sum())
    report.non_signal_cuts = len(timeline) - report.signal_cuts
    for step, cut_at in enumerate(timeline):
        count, found = compare_bar(rows, step, strategy.generate_signals(cutter(cut_at)), cut_at)
        _record(report, cut_at, count, found, limit=MAX_REPLAY_DIFFERENCES)
        if progress is not None:
            progress(step + 1, len(timeline))
    if report.difference_count > len(report.differences):
        report.notes.append(f"kept the first {len(report.differences)} of {report.difference_count} differences")


def synthetic_market(strategy_class: type[BaseStrategy], *, bars: int = 600, seed: int = 0) -> MarketData:
    """Random-walk candles (volatility 2 % a bar, trending regimes so rules fire) for the strategy's universe and
    regime symbols at its timeframe, after its warm-up; no fundamentals (strategies run on their fallbacks).

    Enough for a look-ahead check of a strategy that has no data yet (a new strategy being registered): a peek
    changes values whatever the prices are.
    """
    from marketdata.timeframes import timeframe_delta

    rng = np.random.default_rng(seed)
    n = int(strategy_class.warmup_bars) + bars
    index = pd.date_range("2022-01-01", periods=n, freq=timeframe_delta(strategy_class.timeframe), tz="UTC")
    drift = 0.004 * np.sign(np.sin(np.arange(n) / 40.0))
    frames = {}
    for symbol in dict.fromkeys([*strategy_class.universe, *strategy_class.regime_symbols]):
        close = 100.0 * np.exp(np.cumsum(drift + rng.normal(0.0, 0.02, n)))
        opens = np.concatenate([[100.0], close[:-1]])
        spread = np.abs(rng.normal(0.0, 0.01, n))
        frames[symbol] = pd.DataFrame({"open": opens, "high": np.maximum(opens, close) * (1 + spread),
                                       "low": np.minimum(opens, close) * (1 - spread), "close": close,
                                       "volume": rng.uniform(1e5, 1e6, n)}, index=index)
    return MarketData(candles={s: frames[s] for s in strategy_class.universe},
                      regime={s: frames[s] for s in strategy_class.regime_symbols})


def check_strategy_is_causal(strategy_class: type[BaseStrategy], *, sample: int = 20, seed: int = 0) -> None:
    """``ValueError`` (one line) when the strategy, with its default parameters, decides differently on
    synthetic data cut at sampled bars than on the whole of it."""
    report = lookahead_check(strategy_class(), synthetic_market(strategy_class, seed=seed), sample=sample, seed=seed)
    if report.status == LOOKAHEAD_FOUND:
        first = report.differences[0]
        raise ValueError(f"{strategy_class.__name__} ({strategy_class.name}) looks ahead: {report.difference_count} "
                         f"value(s) at {len(report.cuts)} cuts changed when the future was removed, first "
                         f"{first.symbol} {first.column!r} at {_iso(first.timestamp)} (run manage.py lookahead "
                         f"--strategy {strategy_class.name} --mode replay for every bar)")
