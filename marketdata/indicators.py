"""Technical indicators as pure functions: pandas in, pandas out, aligned to the input index.

No Django here. Every function is causal (the value at bar ``t`` uses bars ``<= t`` only) and
returns NaN for warm-up bars instead of a made-up value.

Conventions (those of the StockCharts tables that bukosabino/ta's tests use, see
``tests/data/ta_reference``):

* EMA: ``alpha = 2 / (window + 1)``, seeded with the first value (pandas ``ewm(adjust=False)``),
  NaN for the first ``window - 1`` bars. MACD is built on it; its signal line starts at the first
  defined MACD value.
* Wilder smoothing (RSI, ATR, ADX): ``s[t] = s[t-1] + (x[t] - s[t-1]) / window``.
  RSI seeds the average gain/loss with 0 at the first bar (so the first ``window`` changes are
  averaged in) and is defined from bar ``window``; ATR seeds with the mean of the first ``window``
  true ranges (the first bar's true range is ``high - low``) and is defined from bar ``window - 1``;
  ADX's +DI/-DI seed with the mean of bars ``1..window`` (defined from bar ``window``) and ADX with
  the mean of the first ``window`` DX values (defined from bar ``2 * window - 1``).
* Bollinger Bands use the population standard deviation (``ddof=0``); ``width`` is in percent of
  the middle band, ``percent_b`` is NaN when the bands collapse.
* VWAP uses the typical price ``(high + low + close) / 3``.

We implement the formulas in pandas/numpy rather than calling ``ta``: pandas' rolling and ``ewm``
kernels are compiled (``ta``'s ATR and ADX are per-element Python loops, ~100x slower at 1M bars)
and it keeps ``ta`` available as an independent cross-check in the tests.

Example::

    >>> frame = compute_all(candles)            # wide: ema_9 ... rsi_14, macd_12_26_9_signal, ...
    >>> compute_indicator("rsi", candles, window=9).columns.tolist()
    ['value']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

NANOS_PER_DAY = 86_400 * 10**9


# --------------------------------------------------------------------------- helpers


def as_float64(values: pd.Series) -> pd.Series:
    """``values`` as float64: the Series itself when it already is (``astype`` costs about 0.1 ms a call even
    then, and indicators are computed on every evaluation of a permutation test)."""
    return values if values.dtype == np.float64 else values.astype("float64")


def _ema_of(values: pd.Series, alpha: float, min_periods: int) -> pd.Series:
    return values.ewm(alpha=alpha, adjust=False, min_periods=min_periods).mean()


def wilder_smooth(values: pd.Series, window: int, start: int = 0) -> pd.Series:
    """Wilder's moving average seeded with the simple mean of ``values[start:start+window]``.

    The first defined value is at position ``start + window - 1``; earlier ones are NaN. The
    recursion ``s[t] = s[t-1] + (x[t] - s[t-1]) / window`` runs in pandas' compiled ``ewm``.
    """
    out = np.full(len(values), np.nan)
    seed_at = start + window - 1
    if window >= 1 and seed_at < len(values):
        raw = values.to_numpy(dtype="float64", copy=False)
        tail = np.concatenate(([raw[start:seed_at + 1].mean()], raw[seed_at + 1:]))
        out[seed_at:] = pd.Series(tail).ewm(alpha=1.0 / window, adjust=False).mean().to_numpy()
    return pd.Series(out, index=values.index)


def true_range(high: pd.Series, low: pd.Series, close: pd.Series) -> pd.Series:
    """``max(high, prev_close) - min(low, prev_close)``; ``high - low`` at the first bar."""
    prev_close = close.shift(1)
    top = np.fmax(high.to_numpy(dtype="float64"), prev_close.to_numpy(dtype="float64"))
    bottom = np.fmin(low.to_numpy(dtype="float64"), prev_close.to_numpy(dtype="float64"))
    return pd.Series(top - bottom, index=close.index)


def typical_price(high: pd.Series, low: pd.Series, close: pd.Series) -> pd.Series:
    return (high + low + close) / 3.0


# --------------------------------------------------------------------------- indicators


def ema(close: pd.Series, window: int = 20) -> pd.Series:
    """Exponential moving average, seeded with the first value; NaN for ``window - 1`` bars."""
    return _ema_of(as_float64(close), 2.0 / (window + 1), window)


def sma(close: pd.Series, window: int = 20) -> pd.Series:
    return as_float64(close).rolling(window, min_periods=window).mean()


def rsi(close: pd.Series, window: int = 14) -> pd.Series:
    """Wilder RSI in [0, 100]; 100 when there were no losses, NaN for the first ``window`` bars.

    The element-wise steps run on arrays (the same operations as the Series methods, so the same values;
    a Series method costs about 0.1-0.2 ms a call, and strategies compute this once per evaluation)."""
    change = np.diff(close.to_numpy(dtype="float64"), prepend=np.nan)
    gain = pd.Series(_clip_below_zero_filled(change), index=close.index)
    loss = pd.Series(_clip_below_zero_filled(-change), index=close.index)
    avg_gain = _ema_of(gain, 1.0 / window, 1).to_numpy()
    avg_loss = _ema_of(loss, 1.0 / window, 1).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    value = np.where(avg_loss != 0.0, value, 100.0)
    value[:window] = np.nan
    return pd.Series(value, index=close.index, name=close.name)


def _clip_below_zero_filled(values: np.ndarray) -> np.ndarray:
    """``Series.clip(lower=0.0).fillna(0.0)`` of an array: negatives and NaN become 0.0."""
    return np.where(values < 0.0, 0.0, np.where(np.isnan(values), 0.0, values))


def macd(close: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    """MACD line (EMA fast - EMA slow), its EMA signal line and the histogram (line - signal)."""
    line = ema(close, fast).to_numpy() - ema(close, slow).to_numpy()
    signal_line = _ema_of(pd.Series(line, index=close.index), 2.0 / (signal + 1), signal).to_numpy()
    return pd.DataFrame({"macd": line, "signal": signal_line, "hist": line - signal_line}, index=close.index)


def atr(high: pd.Series, low: pd.Series, close: pd.Series, window: int = 14) -> pd.Series:
    """Average true range, Wilder-smoothed; first value (bar ``window - 1``) is the mean TR."""
    return wilder_smooth(true_range(high, low, close), window, start=0)


def bbands(close: pd.Series, window: int = 20, std: float = 2.0) -> pd.DataFrame:
    """Bollinger Bands: SMA middle, +/- ``std`` population standard deviations, %B and width (%).

    Rolling windows in pandas, the rest on arrays (as :func:`rsi`)."""
    close = as_float64(close)
    rolling = close.rolling(window, min_periods=window)
    middle = rolling.mean().to_numpy()
    deviation = rolling.std(ddof=0).to_numpy()
    upper = middle + std * deviation
    lower = middle - std * deviation
    band = np.where(upper != lower, upper - lower, np.nan)
    prices = close.to_numpy()
    return pd.DataFrame({
        "middle": middle,
        "upper": upper,
        "lower": lower,
        "percent_b": (prices - lower) / band,
        "width": (upper - lower) / middle * 100.0,
    }, index=close.index)


def volume_sma(volume: pd.Series, window: int = 20) -> pd.Series:
    return sma(volume, window)


def volume_ratio(volume: pd.Series, window: int = 20) -> pd.Series:
    """Volume divided by its SMA; NaN (not infinity) where the SMA is zero."""
    average = volume_sma(volume, window).to_numpy()
    ratio = volume.to_numpy(dtype="float64") / np.where(average != 0.0, average, np.nan)
    return pd.Series(ratio, index=volume.index, name=volume.name)


def adx(high: pd.Series, low: pd.Series, close: pd.Series, window: int = 14) -> pd.DataFrame:
    """Average directional index with +DI and -DI (Wilder).

    +DI/-DI are defined from bar ``window`` (they smooth bars ``1..``, the first bar has no
    previous bar), ADX from bar ``2 * window - 1``. Where the smoothed true range is 0 the DIs are
    0, and where +DI + -DI is 0 DX is 0 (no directional movement), as in ``ta``.
    """
    high = as_float64(high)
    low = as_float64(low)
    up_move = high.diff()
    down_move = -low.diff()
    plus_dm = up_move.where((up_move > down_move) & (up_move > 0), 0.0)
    minus_dm = down_move.where((down_move > up_move) & (down_move > 0), 0.0)
    tr_smooth = wilder_smooth(true_range(high, low, close), window, start=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        plus_di = (100.0 * wilder_smooth(plus_dm, window, start=1) / tr_smooth).where(tr_smooth != 0, 0.0)
        minus_di = (100.0 * wilder_smooth(minus_dm, window, start=1) / tr_smooth).where(tr_smooth != 0, 0.0)
        di_sum = plus_di + minus_di
        dx = (100.0 * (plus_di - minus_di).abs() / di_sum).where(di_sum != 0, 0.0)
    warm = tr_smooth.isna()
    plus_di[warm] = np.nan
    minus_di[warm] = np.nan
    dx[warm] = np.nan
    return pd.DataFrame({
        "adx": wilder_smooth(dx, window, start=window),
        "plus_di": plus_di,
        "minus_di": minus_di,
    })


def vwap_daily(high: pd.Series, low: pd.Series, close: pd.Series, volume: pd.Series) -> pd.Series:
    """VWAP anchored to each UTC day: cumulative sums restart at 00:00 UTC.

    Needs a ``DatetimeIndex`` (naive is taken as UTC). NaN while the day's volume is still 0.
    """
    if not isinstance(close.index, pd.DatetimeIndex):
        raise TypeError("vwap_daily needs a DatetimeIndex to find UTC days")
    index = close.index if close.index.tz is None else close.index.tz_convert("UTC")
    day = index.as_unit("ns").asi8 // NANOS_PER_DAY
    price_volume = (typical_price(high, low, close) * volume).to_numpy(dtype="float64")
    vol = volume.to_numpy(dtype="float64")
    cum_pv = _cumsum_by_group(price_volume, day)
    cum_vol = _cumsum_by_group(vol, day)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(cum_vol > 0, cum_pv / cum_vol, np.nan)
    return pd.Series(value, index=close.index)


def _cumsum_by_group(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Running sum that restarts whenever ``keys`` changes (keys sorted, as time is)."""
    total = np.cumsum(values)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    before_group = np.r_[0.0, total][starts]
    lengths = np.diff(np.r_[starts, len(values)])
    return total - np.repeat(before_group, lengths)


def vwap_rolling(
    high: pd.Series, low: pd.Series, close: pd.Series, volume: pd.Series, window: int = 14
) -> pd.Series:
    """VWAP over the last ``window`` bars (``ta``'s VolumeWeightedAveragePrice); NaN when volume is 0."""
    price_volume = (typical_price(high, low, close) * volume).rolling(window, min_periods=window).sum()
    total_volume = as_float64(volume).rolling(window, min_periods=window).sum()
    return price_volume / total_volume.where(total_volume > 0)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class IndicatorSpec:
    """What the registry knows about one indicator.

    ``inputs`` are candle columns passed positionally to ``func``; ``defaults`` are the keyword
    parameters (their order gives the order of values in wide column names); ``outputs`` are
    the column names of :func:`compute_indicator`'s frame (``value`` for single-output ones).
    """

    name: str
    func: Callable[..., pd.Series | pd.DataFrame]
    inputs: tuple[str, ...]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    outputs: tuple[str, ...] = ("value",)


_HLC = ("high", "low", "close")
_HLCV = ("high", "low", "close", "volume")

INDICATORS: dict[str, IndicatorSpec] = {
    spec.name: spec
    for spec in (
        IndicatorSpec("ema", ema, ("close",), {"window": 20}),
        IndicatorSpec("sma", sma, ("close",), {"window": 20}),
        IndicatorSpec("rsi", rsi, ("close",), {"window": 14}),
        IndicatorSpec("macd", macd, ("close",), {"fast": 12, "slow": 26, "signal": 9},
                      ("macd", "signal", "hist")),
        IndicatorSpec("atr", atr, _HLC, {"window": 14}),
        IndicatorSpec("bbands", bbands, ("close",), {"window": 20, "std": 2},
                      ("middle", "upper", "lower", "percent_b", "width")),
        IndicatorSpec("volume_sma", volume_sma, ("volume",), {"window": 20}),
        IndicatorSpec("volume_ratio", volume_ratio, ("volume",), {"window": 20}),
        IndicatorSpec("adx", adx, _HLC, {"window": 14}, ("adx", "plus_di", "minus_di")),
        IndicatorSpec("vwap_daily", vwap_daily, _HLCV, {}),
        IndicatorSpec("vwap_rolling", vwap_rolling, _HLCV, {"window": 14}),
    )
}

#: The default set of :func:`compute_all`: (name, params) pairs.
DEFAULT_SET: tuple[tuple[str, dict[str, Any]], ...] = (
    *(("ema", {"window": w}) for w in (9, 20, 50, 200)),
    *(("sma", {"window": w}) for w in (20, 50)),
    *(("rsi", {"window": w}) for w in (9, 14)),
    ("macd", {"fast": 12, "slow": 26, "signal": 9}),
    ("atr", {"window": 14}),
    ("bbands", {"window": 20, "std": 2}),
    ("volume_sma", {"window": 20}),
    ("volume_ratio", {"window": 20}),
    ("adx", {"window": 14}),
    ("vwap_daily", {}),
    ("vwap_rolling", {"window": 14}),
)


def get_spec(name: str) -> IndicatorSpec:
    try:
        return INDICATORS[name]
    except KeyError:
        raise ValueError(f"unknown indicator {name!r}; expected one of {', '.join(INDICATORS)}") from None


def resolve_params(name: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults of ``name`` overridden by ``params``, normalised (2.0 -> 2); unknown keys raise."""
    spec = get_spec(name)
    params = dict(params or {})
    unknown = set(params) - set(spec.defaults)
    if unknown:
        raise ValueError(f"{name} has no parameter(s) {sorted(unknown)}; it takes {list(spec.defaults)}")
    return {key: _normalise(params.get(key, default)) for key, default in spec.defaults.items()}


def _normalise(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def canonical_params(params: Mapping[str, Any]) -> str:
    """Sorted ``k=v`` pairs joined by ``,``: the ``params`` column of ``technical_indicators``.

    >>> canonical_params({"slow": 26, "fast": 12, "signal": 9.0})
    'fast=12,signal=9,slow=26'
    """
    return ",".join(f"{key}={_normalise(params[key])}" for key in sorted(params))


def wide_column(name: str, params: Mapping[str, Any], output: str = "value") -> str:
    """Column name in wide frames: name, parameter values in spec order, then the output.

    ``rsi_14``, ``ema_200``, ``macd_12_26_9_signal``, ``bbands_20_2_upper``, ``adx_14_plus_di``,
    ``vwap_daily``, ``vwap_rolling_14``.
    """
    resolved = resolve_params(name, params)
    parts = [name, *(str(value) for value in resolved.values())]
    if output != "value":
        parts.append(output)
    return "_".join(parts)


def compute_indicator(name: str, candles_df: pd.DataFrame, **params: Any) -> pd.DataFrame:
    """One indicator on a candle frame (columns open/high/low/close/volume, sorted index).

    Returns a frame on ``candles_df.index`` with one float column per output of the spec.
    """
    spec = get_spec(name)
    resolved = resolve_params(name, params)
    missing = [column for column in spec.inputs if column not in candles_df.columns]
    if missing:
        raise ValueError(f"{name} needs candle column(s) {missing}")
    result = spec.func(*(candles_df[column] for column in spec.inputs), **resolved)
    if isinstance(result, pd.Series):
        result = result.to_frame("value")
    return result[list(spec.outputs)].astype("float64")


def compute_many(
    candles_df: pd.DataFrame, specs: tuple[tuple[str, Mapping[str, Any]], ...] | list
) -> pd.DataFrame:
    """Several (name, params) indicators as one wide frame (see :func:`wide_column`)."""
    columns: dict[str, pd.Series] = {}
    for name, params in specs:
        frame = compute_indicator(name, candles_df, **params)
        for output in frame.columns:
            columns[wide_column(name, params, output)] = frame[output]
    return pd.DataFrame(columns, index=candles_df.index)


def compute_all(candles_df: pd.DataFrame) -> pd.DataFrame:
    """The default set (:data:`DEFAULT_SET`) as one wide frame aligned to ``candles_df``."""
    return compute_many(candles_df, DEFAULT_SET)
