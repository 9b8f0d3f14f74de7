"""A minimal example strategy used by the engine's tests and benchmark."""

from __future__ import annotations

import pandas as pd

from strategies.base import BaseStrategy, MarketData, Param


def sma_crossover_signals(close: pd.Series, fast: int, slow: int) -> pd.DataFrame:
    """Long when the fast SMA crosses above the slow one, flat when it crosses below.

    A cross at bar t compares bar t-1 (fast < slow) with bar t (fast > slow), i.e. the rule of
    ``backtesting.lib.crossover``; it uses closes up to t only.
    """
    fast_sma = close.rolling(fast).mean()
    slow_sma = close.rolling(slow).mean()
    above = fast_sma > slow_sma
    below = fast_sma < slow_sma
    frame = BaseStrategy.empty_signals(close.index)
    frame["entry"] = (above & below.shift(1, fill_value=False)).to_numpy()
    frame["exit"] = (below & above.shift(1, fill_value=False)).to_numpy()
    return frame


class SmaCrossover(BaseStrategy):
    """SMA(fast)/SMA(slow) crossover, long only; optional fixed-percentage stop for risk sizing."""

    name = "sma_crossover"
    label = "SMA crossover (example)"
    universe = ("BTC",)
    parameters = {
        "fast": Param(20, 2, 100),
        "slow": Param(50, 5, 400),
        "stop_pct": Param(0.0, 0.0, 0.5, step=0.05, kind="float"),
    }
    warmup_bars = 50
    regime_symbols = ()

    def validate_params(self) -> None:
        if self.params["fast"] >= self.params["slow"]:
            raise ValueError(f"fast ({self.params['fast']}) must be below slow ({self.params['slow']})")

    def required_indicators(self) -> list[tuple[str, dict]]:
        return [("sma", {"window": self.params["fast"]}), ("sma", {"window": self.params["slow"]})]

    def generate_signals(self, data: MarketData) -> dict[str, pd.DataFrame]:
        out = {}
        for symbol, candles in data.candles.items():
            close = candles["close"]
            frame = sma_crossover_signals(close, self.params["fast"], self.params["slow"])
            if self.params["stop_pct"] > 0:
                frame["stop"] = (close * (1.0 - self.params["stop_pct"])).where(frame["entry"])
            out[symbol] = frame
        return out
