"""Shared building blocks of the research strategies (pure: pandas/numpy only, no Django).

Everything here is causal: a value at bar ``t`` uses rows with timestamp ``<= t`` only. Optional data
(on-chain metrics, regime candles) is reindexed onto the candle index with a *forward* fill of past
rows (``reindex(method="ffill")`` takes the last row at or before each bar and never fills a NaN that
is in the data); nothing is back-filled or replaced by a constant. Missing stretches are reported in
``data.notes`` once per symbol and metric, with their date ranges.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketdata import indicators
from marketdata.timeframes import bars_per_day
from strategies.base import BaseStrategy, MarketData, Param

#: EMA length of the BTC/ETH market regime filter (bars of the strategy's timeframe).
REGIME_EMA_WINDOW = 200
#: At most this many missing stretches are listed one by one in a note; more are summarised.
MAX_LISTED_GAPS = 3


def regime_param() -> Param:
    """The ``use_regime_filter`` switch every research strategy declares."""
    return Param(True, kind="bool")


def add_note(data: MarketData, text: str) -> None:
    """Append ``text`` to ``data.notes`` unless it is already there (notes are per run, not per bar)."""
    if text not in data.notes:
        data.notes.append(text)


def days_to_bars(days: float, timeframe: str) -> int:
    """Number of ``timeframe`` bars in ``days`` days (at least 1)."""
    return max(1, round(days * bars_per_day(timeframe)))


def flags(condition: pd.Series | np.ndarray) -> np.ndarray:
    """``condition`` as a boolean array, undefined (NaN) values False."""
    values = np.asarray(condition)
    if values.dtype == bool:
        return values
    return pd.notna(values) & (values != 0)


def edge(condition: pd.Series | np.ndarray) -> np.ndarray:
    """True on the bars where ``condition`` becomes True (it was False or undefined on the bar before)."""
    current = flags(condition)
    out = current.copy()
    out[1:] &= ~current[:-1]
    return out


def after_warmup(condition: pd.Series | np.ndarray, warmup_bars: int) -> np.ndarray:
    """``condition`` with the first ``warmup_bars`` bars forced to False (the contract's warm-up rule)."""
    out = flags(condition).copy()
    out[:warmup_bars] = False
    return out


def shifted(values: np.ndarray, bars: int = 1) -> np.ndarray:
    """``values`` (floats) ``bars`` bars later, NaN before: ``Series.shift`` on an array. The rules of the
    strategies are array expressions: a pandas operation costs more than the arithmetic on a window's bars."""
    out = np.full(len(values), np.nan)
    if bars < len(values):
        out[bars:] = values[: len(values) - bars]
    return out


def align_to(frame_or_series: pd.DataFrame | pd.Series, index: pd.Index) -> pd.DataFrame | pd.Series:
    """Reindex onto ``index`` using the last row at or before each timestamp (never a later row)."""
    if frame_or_series.index.equals(index):
        return frame_or_series
    source = frame_or_series.sort_index()
    source = source[~source.index.duplicated(keep="last")]
    return source.reindex(index, method="ffill")


def regime_flags(data: MarketData, symbols: tuple[str, ...], owner: str) -> pd.Series | None:
    """Risk-on flag on the regime candles' own bars: every regime symbol closes above its EMA(200).

    Values are 1.0 (risk-on), 0.0 (risk-off) or NaN (a symbol has no bar there yet, or is inside its EMA
    warm-up). ``None`` when a regime symbol is absent from ``data.regime`` (noted).
    """
    combined: pd.Series | None = None
    for symbol in symbols:
        candles = data.regime.get(symbol)
        if candles is None or candles.empty:
            add_note(data, f"{owner}: no {symbol} regime candles, regime filter blocks all entries "
                           "(set use_regime_filter=False to trade without it)")
            return None
        close = indicators.as_float64(candles["close"])
        trend = indicators.ema(close, REGIME_EMA_WINDOW)
        above = (close > trend).astype("float64").where(trend.notna())
        if combined is None:
            combined = above
        else:
            union = combined.index.union(above.index)
            both = pd.concat([align_to(combined, union), align_to(above, union)], axis=1)
            combined = both.min(axis=1, skipna=False)
    return combined


class RegimeGate:
    """The BTC/ETH regime filter of one ``generate_signals`` call, computed once and aligned per symbol.

    Risk-on at a bar when every regime symbol's last close at or before it is above its EMA(200). A bar
    with no regime value yet (before the data starts, inside the EMA warm-up) is *not* risk-on: the filter
    blocks entries rather than guessing; a missing regime symbol blocks all entries (with a note). With
    ``use_regime_filter=False`` every bar passes.
    """

    def __init__(self, params: dict, data: MarketData, symbols: tuple[str, ...], owner: str) -> None:
        self.enabled = bool(params.get("use_regime_filter", True))
        self.data, self.key = data, (symbols, owner)
        self.flags = (data.memo_context(("regime flags", symbols, owner), lambda: regime_flags(data, symbols, owner))
                      if self.enabled and symbols else None)
        self.missing = self.enabled and bool(symbols) and self.flags is None

    def on(self, index: pd.Index) -> pd.Series:
        if not self.enabled or (self.flags is None and not self.missing):
            return pd.Series(True, index=index)
        if self.missing:
            return pd.Series(False, index=index)
        flags = self.flags
        symbol = symbol_of_index(self.data, index)
        if symbol is None:
            return align_to(flags, index).eq(1.0)
        return self.data.memo_context(("regime on", *self.key, symbol), lambda: align_to(flags, index).eq(1.0))


def regime_gate(strategy_params: dict, data: MarketData, index: pd.Index, symbols: tuple[str, ...],
                owner: str) -> pd.Series:
    """One-off :class:`RegimeGate` evaluated on ``index``."""
    return RegimeGate(strategy_params, data, symbols, owner).on(index)


def symbol_of_index(data: MarketData, index: pd.Index) -> str | None:
    """The symbol whose candle frame in ``data`` has this very index object (values on it can be memoised)."""
    for symbol, candles in data.candles.items():
        if candles.index is index:
            return symbol
    return None


def own_bars(data: MarketData, symbol: str, index: pd.Index) -> bool:
    """True when ``index`` is ``symbol``'s own candle index in ``data`` (so a value on it can be memoised)."""
    candles = data.candles.get(symbol)
    return candles is not None and candles.index is index


#: The candle columns each price indicator of :func:`feature` reads, in its argument order.
FEATURE_INPUTS: dict[str, tuple[str, ...]] = {
    "ema": ("close",), "sma": ("close",), "rsi": ("close",), "macd": ("close",), "bbands": ("close",),
    "atr": ("high", "low", "close"), "volume_ratio": ("volume",),
}


def close_of(data: MarketData, symbol: str) -> pd.Series:
    """``symbol``'s closes as float64 (computed once per window: :meth:`MarketData.memo`)."""
    return data.memo(("close", symbol), lambda: indicators.as_float64(data.candles[symbol]["close"]))


def feature(data: MarketData, symbol: str, name: str, *args: object) -> pd.Series | pd.DataFrame:
    """``marketdata.indicators.<name>(<its candle columns>, *args)`` on ``symbol``'s candles, computed once per
    window and shared by every trial whose parameters give the same arguments (never modify the result)."""

    def compute() -> pd.Series | pd.DataFrame:
        candles = data.candles[symbol]
        return getattr(indicators, name)(*(indicators.as_float64(candles[c]) for c in FEATURE_INPUTS[name]), *args)

    return data.memo(("feature", name, symbol, *args), compute)


def onchain_series(data: MarketData, symbol: str, column: str, index: pd.Index) -> pd.Series:
    """On-chain ``column`` of ``symbol`` on ``index`` (NaN where absent or missing; never filled in)."""
    if own_bars(data, symbol, index):
        return data.memo_context(("onchain", symbol, column), lambda: _onchain_series(data, symbol, column, index))
    return _onchain_series(data, symbol, column, index)


def _onchain_series(data: MarketData, symbol: str, column: str, index: pd.Index) -> pd.Series:
    frame = data.onchain.get(symbol)
    if frame is None or column not in frame.columns:
        return pd.Series(np.nan, index=index, dtype="float64")
    return align_to(frame[column].astype("float64"), index)


def sentiment_at_least(data: MarketData, symbol: str, minimum: float, index: pd.Index,
                       owner: str) -> tuple[np.ndarray, np.ndarray]:
    """(gate, known) boolean arrays: ``gate`` is True where the Fear & Greed index (as known at the bar's close) is at
    least ``minimum``, and on every bar where the index is unknown (no filter there: noted once with the
    ranges); ``known`` marks the bars where the index decided."""
    def aligned() -> pd.Series:
        frame = data.sentiment.get(symbol)
        if frame is None or "fear_greed" not in frame.columns:
            value = pd.Series(np.nan, index=index, dtype="float64")
        else:
            value = align_to(frame["fear_greed"].astype("float64"), index)
        note_missing(data, owner, symbol, "Fear & Greed sentiment", value, "no sentiment filter")
        return value

    value = data.memo_context(("fear greed", symbol, owner), aligned) if own_bars(data, symbol, index) else aligned()
    values = value.to_numpy()
    known = ~np.isnan(values)
    return (values >= minimum) | ~known, known


def first_available(data: MarketData, symbol: str, columns: tuple[str, ...],
                    index: pd.Index) -> tuple[str | None, pd.Series]:
    """The first of ``columns`` that has any value for ``symbol``, and its series (None, NaN if none)."""
    if own_bars(data, symbol, index):
        return data.memo_context(("first available", symbol, columns), lambda: _first_available(data, symbol, columns, index))
    return _first_available(data, symbol, columns, index)


def _first_available(data: MarketData, symbol: str, columns: tuple[str, ...],
                     index: pd.Index) -> tuple[str | None, pd.Series]:
    for column in columns:
        series = onchain_series(data, symbol, column, index)
        if series.notna().any():
            return column, series
    return None, pd.Series(np.nan, index=index, dtype="float64")


def missing_ranges(mask: pd.Series) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Contiguous runs of True in ``mask`` as (first timestamp, last timestamp) pairs."""
    values = mask.to_numpy(dtype=bool)
    if not values.any():
        return []
    padded = np.r_[False, values, False].astype(np.int8)
    starts = np.flatnonzero(np.diff(padded) == 1)
    ends = np.flatnonzero(np.diff(padded) == -1) - 1
    return [(mask.index[s], mask.index[e]) for s, e in zip(starts, ends, strict=True)]


def _day(ts: pd.Timestamp) -> str:
    return pd.Timestamp(ts).strftime("%Y-%m-%d")


def note_missing(data: MarketData, owner: str, symbol: str, what: str, series: pd.Series,
                 fallback: str) -> None:
    """Note (once) the date ranges where ``series`` is NaN and which price-only rule replaces it."""
    runs = missing_ranges(series.isna())
    if not runs:
        return
    if len(runs) == 1 and runs[0] == (series.index[0], series.index[-1]):
        where = f"no {what} data at all ({_day(runs[0][0])}..{_day(runs[0][1])})"
    elif len(runs) <= MAX_LISTED_GAPS:
        where = f"no {what} data for " + ", ".join(f"{_day(a)}..{_day(b)}" for a, b in runs)
    else:
        where = (f"no {what} data in {len(runs)} stretches between {_day(runs[0][0])} and "
                 f"{_day(runs[-1][1])}")
    add_note(data, f"{owner} {symbol}: {where}: {fallback}")


def note_missing_candles(data: MarketData, owner: str, symbol: str) -> None:
    add_note(data, f"{owner} {symbol}: no candles, not traded")


def atr_stop(candles: pd.DataFrame, multiple: float, window: int = 14, *, data: MarketData | None = None,
             symbol: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ATR, close - multiple * ATR) as arrays: the initial stop a long entry at this bar's close would use.

    With ``data`` and ``symbol`` (``candles`` being that symbol's frame in it) the ATR is :func:`feature`'s."""
    if data is not None and symbol is not None:
        atr, close = feature(data, symbol, "atr", window).to_numpy(), close_of(data, symbol).to_numpy()
    else:
        close = candles["close"].to_numpy(dtype="float64")
        atr = indicators.atr(candles["high"], candles["low"], candles["close"], window).to_numpy()
    return atr, close - multiple * atr


def trend_up(series: pd.Series, bars: int) -> pd.Series:
    """``series`` now versus ``bars`` bars ago: 1.0 rising/flat, 0.0 falling, NaN when either is missing."""
    before = series.shift(bars)
    out = (series >= before).astype("float64")
    out[series.isna() | before.isna()] = np.nan
    return out


def pct_change_over(series: pd.Series, bars: int) -> pd.Series:
    """Relative change over ``bars`` bars; NaN when either end is missing or the base is not positive."""
    before = series.shift(bars)
    return (series / before.where(before > 0) - 1.0).astype("float64")


class PerSymbolStrategy(BaseStrategy):
    """A strategy whose rule reads one symbol at a time, behind the market-regime gate.

    Subclasses implement ``_signals_for(symbol, candles, data, gate)``; a symbol without candles is skipped
    with a note (never traded on invented data).
    """

    def generate_signals(self, data: MarketData) -> dict[str, pd.DataFrame]:
        out: dict[str, pd.DataFrame] = {}
        gate = RegimeGate(self.params, data, self.regime_symbols, self.name)
        for symbol in self.universe:
            candles = data.candles.get(symbol)
            if candles is None or candles.empty:
                note_missing_candles(data, self.name, symbol)
                continue
            out[symbol] = self._signals_for(symbol, candles, data, gate)
        return out

    def _signals_for(self, symbol: str, candles: pd.DataFrame, data: MarketData,
                     gate: RegimeGate) -> pd.DataFrame:
        raise NotImplementedError


def require_below(params: dict, low: str, high: str) -> None:
    """``ValueError`` unless ``params[low] < params[high]`` (e.g. a fast EMA below a slow one)."""
    if params[low] >= params[high]:
        raise ValueError(f"{low} ({params[low]}) must be below {high} ({params[high]})")
