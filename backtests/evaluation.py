"""Evaluate a strategy on a time window of in-memory data (pure: engine + metrics, no Django).

The walk-forward optimiser, the holdout evaluation and the stress tests all call :func:`evaluate_window`:
the data is cut to ``[start - warm-up, end)``, entries before ``start`` are suppressed (the warm-up only
feeds indicators) and statistics are computed on the equity from ``start`` on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import pandas as pd

from backtests.engine import EngineConfig, run_backtest
from backtests.metrics import performance_summary, total_return
from strategies.base import BaseStrategy, MarketData
from strategies.disclosure import data_coverage


def slice_market(data: MarketData, start: pd.Timestamp, end: pd.Timestamp) -> MarketData:
    """Rows with ``start <= t < end`` of every frame (notes start empty)."""

    def cut(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        out = {}
        for key, frame in frames.items():
            part = frame.loc[(frame.index >= start) & (frame.index < end)]
            if len(part):
                out[key] = part
        return out

    return MarketData(candles=cut(data.candles), onchain=cut(data.onchain), social=cut(data.social),
                      regime=cut(data.regime), notes=[], sentiment=cut(data.sentiment), vendors=data.vendors,
                      detail=cut(data.detail))


#: Windows of one dataset kept cut (with their memo of derived values) for the next evaluation on the same bounds.
WINDOWS_KEPT = 32


def evaluation_window(data: MarketData, begin: pd.Timestamp, start: pd.Timestamp,
                      end: pd.Timestamp) -> MarketData | None:
    """``[begin, end)`` of ``data`` holding the candles of the symbols that have a bar from ``start`` on (None
    if none has), with fresh notes.

    The cut frames and their :meth:`~strategies.base.MarketData.memo` are kept on ``data`` per bounds (the
    last :data:`WINDOWS_KEPT`), so the trials of an optimisation on one window share the indicators their
    parameters do not change instead of recomputing them. The window's
    :meth:`~strategies.base.MarketData.memo_context` is kept in ``data``'s, so data sharing that context (the
    same bars with permuted prices) cuts windows that share it too.
    """
    key = (begin, start, end)

    def cut() -> MarketData | None:
        whole = slice_market(data, begin, end)
        tradable = {s: f for s, f in whole.candles.items() if (f.index >= start).any()}
        if not tradable:
            return None
        window = replace(whole, candles=tradable)
        window.share_context(_recent(data.memo_context(("evaluation window contexts",), dict), key, dict))
        return window

    shared = _recent(data.memo(("evaluation windows",), dict), key, cut)
    if shared is None:
        return None
    window = replace(shared, notes=[])
    window.share_memo(shared)
    return window


_ABSENT = object()


def _recent(kept: dict, key: Any, make: Any) -> Any:
    """``kept[key]`` (made if absent; None is kept like any value), moved to the end (most recently used last);
    the oldest entries beyond :data:`WINDOWS_KEPT` dropped."""
    value = kept.pop(key, _ABSENT)
    if value is _ABSENT:
        value = make()
        while len(kept) >= WINDOWS_KEPT:
            kept.pop(next(iter(kept)))
    kept[key] = value
    return value


class StartGate:
    """Wraps a strategy so that it takes no entries before ``start`` (earlier bars are warm-up only)."""

    def __init__(self, strategy: BaseStrategy, start: pd.Timestamp) -> None:
        self._strategy = strategy
        self._start = pd.Timestamp(start)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._strategy, name)

    def generate_signals(self, data: MarketData) -> dict[str, pd.DataFrame]:
        signals = self._strategy.generate_signals(data)
        for frame in signals.values():
            allowed = frame.index >= self._start
            if allowed.all():
                continue
            for column in ("entry", "scale_in"):  # whole columns: a masked .loc write costs more than the rule
                if column in frame.columns:
                    frame[column] = frame[column].to_numpy(dtype=bool) & allowed
        return signals


YIELD_CONVENTION = ("estimated yield earned on the position held (strategy's APY x the engine's exposure, bar by "
                    "bar); reported apart: not in the equity curve, the ratios or the trades")


def yield_contribution(strategy: BaseStrategy, data: MarketData, result: Any, start: pd.Timestamp | None = None
                       ) -> dict | None:
    """For strategies that earn a yield the engine does not pay (``yield_accrual``), what it adds to equity."""
    if result is None or not result.signals:
        return None
    rate = strategy.yield_accrual(data, result.signals)
    if rate is None:
        return None
    equity = result.equity if start is None else result.equity.loc[result.equity.index >= start]
    held = equity["exposure"].shift(1, fill_value=0.0)  # the position held through each bar
    per_bar = rate.reindex(equity.index, fill_value=0.0) * held
    return {"yield_return": float((1.0 + per_bar).prod() - 1.0), "convention": YIELD_CONVENTION}


@dataclass
class WindowResult:
    performance: dict
    result: Any  # engine BacktestResult, or None when the window had no data
    notes: list[str]
    strategy: BaseStrategy | None = None
    window: MarketData | None = None
    start: pd.Timestamp | None = None

    @cached_property
    def coverage(self) -> dict | None:
        """``strategies.disclosure.data_coverage`` of the evaluated bars, computed when first asked for (an
        optimiser's trials never ask)."""
        if self.result is None or self.strategy is None or self.window is None:
            return None
        return data_coverage(self.strategy, self.window, self.result.signals, self.start)

    @property
    def has_data(self) -> bool:
        return self.result is not None

    @property
    def total_return(self) -> float | None:
        """The window's total return from ``start`` on (``performance["total_return"]``, also when the other
        statistics were not computed); None without data."""
        if self.result is None:
            return None
        if "total_return" in self.performance:
            return self.performance["total_return"]
        equity = self.result.equity["equity"]
        equity = equity.loc[equity.index >= self.start].dropna() if self.start is not None else equity.dropna()
        return total_return(equity) if len(equity) else None


def evaluate_window(
    strategy: BaseStrategy,
    data: MarketData,
    config: EngineConfig,
    start: pd.Timestamp,
    end: pd.Timestamp,
    bar_length: pd.Timedelta,
    *,
    statistics: bool = True,
) -> WindowResult:
    """Run ``strategy`` on ``[start, end)`` with its warm-up before ``start``; statistics from ``start`` on
    (``statistics=False``: none, for a caller that needs only :attr:`WindowResult.total_return`)."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    window = evaluation_window(data, start - bar_length * int(strategy.warmup_bars), start, end)
    if window is None:
        return WindowResult(performance={}, result=None, notes=["no candles in the window"])
    result = run_backtest(StartGate(strategy, start), window, config)
    if not statistics:
        return WindowResult(performance={}, result=result, notes=list(window.notes), strategy=strategy,
                            window=window, start=start)
    equity = result.equity.loc[result.equity.index >= start]
    trades = result.trades
    performance = performance_summary(equity["equity"], trades, position=equity["exposure"] > 0)
    earned = yield_contribution(strategy, window, result, start)
    if earned is not None:
        performance["yield"] = earned
    return WindowResult(performance=performance, result=result, notes=list(window.notes), strategy=strategy,
                        window=window, start=start)
