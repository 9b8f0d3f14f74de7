"""Synthetic but realistic-looking market data for strategy tests (seeded, no I/O).

Random-walk OHLCV for a strategy's universe, BTC/ETH regime candles, stablecoins that hover around
1.00, and daily on-chain frames (tvl, fees, volume) joined onto the bars point-in-time with
``marketdata.pointintime.align_daily_to_bars`` exactly as the platform's loader does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketdata.pointintime import align_daily_to_bars
from marketdata.timeframes import timeframe_delta
from strategies.base import BaseStrategy, MarketData

STABLES = {"USDC", "DAI", "FRAX", "USDT"}
START = pd.Timestamp("2022-01-01", tz="UTC")


def bar_index(timeframe: str, bars: int, start: pd.Timestamp = START) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=bars, freq=timeframe_delta(timeframe), tz="UTC")


def candles_from_close(close: np.ndarray, index: pd.DatetimeIndex, rng: np.random.Generator,
                       spread: float = 0.004) -> pd.DataFrame:
    """OHLCV around a close path: open = previous close, high/low a little beyond both."""
    close = np.asarray(close, dtype="float64")
    open_ = np.r_[close[0], close[:-1]]
    wiggle = np.abs(rng.normal(0.0, spread, size=(2, len(close))))
    high = np.maximum(open_, close) * (1.0 + wiggle[0])
    low = np.minimum(open_, close) * (1.0 - wiggle[1])
    volume = rng.lognormal(10.0, 0.5, len(close))
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)


def random_walk(index: pd.DatetimeIndex, rng: np.random.Generator, start: float = 100.0,
                drift: float = 0.0, vol: float = 0.02) -> pd.DataFrame:
    steps = rng.normal(drift, vol, len(index))
    return candles_from_close(start * np.exp(np.cumsum(steps)), index, rng, spread=vol / 4)


def stable_walk(index: pd.DatetimeIndex, rng: np.random.Generator, noise: float = 0.001) -> pd.DataFrame:
    """A stablecoin: AR(1) deviation around 1.00, a few basis points wide."""
    deviation = np.zeros(len(index))
    shocks = rng.normal(0.0, noise, len(index))
    for t in range(1, len(index)):
        deviation[t] = 0.8 * deviation[t - 1] + shocks[t]
    return candles_from_close(1.0 + deviation, index, rng, spread=noise / 2)


def daily_onchain(days: pd.DatetimeIndex, rng: np.random.Generator) -> pd.DataFrame:
    """Daily tvl (random walk), volume and fees (a share of volume) for one protocol."""
    tvl = 1e9 * np.exp(np.cumsum(rng.normal(0.002, 0.03, len(days))))
    volume = tvl * rng.uniform(0.05, 0.2, len(days))
    fees = volume * 0.0005
    return pd.DataFrame({"tvl": tvl, "volume": volume, "fees": fees}, index=days)


def onchain_on_bars(index: pd.DatetimeIndex, timeframe: str, rng: np.random.Generator) -> pd.DataFrame:
    """Daily on-chain values visible from the end of their day + 1h, joined onto ``index``."""
    days = pd.date_range(index[0].normalize() - pd.Timedelta(days=30), index[-1].normalize(), freq="1D", tz="UTC")
    joined = align_daily_to_bars(daily_onchain(days, rng), index, timeframe_delta(timeframe))
    return joined.drop(columns=["as_of"])


def make_market_data(strategy_cls: type[BaseStrategy], *, bars: int = 1200, seed: int = 0,
                     onchain: bool = True, regime_drift: float = 0.001) -> MarketData:
    """Candles for the universe, BTC/ETH regime candles and (optionally) on-chain frames.

    USDC, when in the universe, depegs to ~0.95 for five bars at 80% of the sample.
    """
    rng = np.random.default_rng(seed)
    timeframe = strategy_cls.timeframe
    index = bar_index(timeframe, bars)
    candles = {}
    for symbol in strategy_cls.universe:
        if symbol in STABLES:
            candles[symbol] = stable_walk(index, rng)
            if symbol == "USDC":  # an SVB-like depeg: five bars near 0.95 at 80% of the sample
                dip = slice(int(bars * 0.8), int(bars * 0.8) + 5)
                candles[symbol].iloc[dip, :4] = candles[symbol].iloc[dip, :4] - 0.05
        else:
            candles[symbol] = random_walk(index, rng, start=float(rng.uniform(1, 200)), vol=0.02)
    regime = {symbol: random_walk(index, rng, start=30_000.0, drift=regime_drift, vol=0.01)
              for symbol in strategy_cls.regime_symbols}
    frames = {s: onchain_on_bars(index, timeframe, rng) for s in strategy_cls.universe} if onchain else {}
    return MarketData(candles=candles, onchain=frames, regime=regime)


def handmade_candles(close: np.ndarray | list, index: pd.DatetimeIndex, volume: np.ndarray | float = 1000.0,
                     spread: float = 0.001) -> pd.DataFrame:
    """Deterministic candles around a close path: open = previous close, high/low ``spread`` beyond."""
    close = np.asarray(close, dtype="float64")
    open_ = np.r_[close[0], close[:-1]]
    volume = np.broadcast_to(np.asarray(volume, dtype="float64"), close.shape).copy()
    return pd.DataFrame({
        "open": open_,
        "high": np.maximum(open_, close) * (1.0 + spread),
        "low": np.minimum(open_, close) * (1.0 - spread),
        "close": close,
        "volume": volume,
    }, index=index)


def zigzag(bars: int, up: float, down: float, start: float = 100.0) -> np.ndarray:
    """Alternating +up / -down relative moves (a noisy trend with a known RSI)."""
    moves = np.where(np.arange(bars) % 2 == 0, 1.0 + up, 1.0 - down)
    moves[0] = 1.0
    return start * np.cumprod(moves)


def regime_frames(index: pd.DatetimeIndex, *, rising: bool = True,
                  symbols: tuple[str, ...] = ("BTC", "ETH")) -> dict[str, pd.DataFrame]:
    """Regime candles that trend steadily up (risk-on after the EMA warm-up) or down (risk-off)."""
    step = 1.002 if rising else 0.998
    close = 30_000.0 * step ** np.arange(len(index))
    return {symbol: handmade_candles(close, index) for symbol in symbols}


def onchain_frame(index: pd.DatetimeIndex, **columns: np.ndarray | float) -> pd.DataFrame:
    """An on-chain frame already aligned to ``index`` (as the caller delivers it)."""
    return pd.DataFrame({name: np.broadcast_to(np.asarray(v, dtype="float64"), (len(index),)).copy()
                         for name, v in columns.items()}, index=index)
