"""Shared fixtures for the engine tests: one numba warm-up per session and tiny candle builders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtests.engine import BaseStrategy, CostModel, EngineConfig, RiskLimits, run_signals

DATA_DIR = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="session", autouse=True)
def engine_warmup() -> None:
    """Compile (or load from numba's cache) the bar loop once, not inside every test."""
    candles = make_candles([100.0, 101.0, 102.0])
    signals = make_signals(candles, entry=[0], exit=[1])
    run_signals({"X": candles}, {"X": signals}, frictionless(sizing="fixed_fraction"))


def make_candles(
    opens: Sequence[float],
    highs: Sequence[float] | None = None,
    lows: Sequence[float] | None = None,
    closes: Sequence[float] | None = None,
    *,
    start: str = "2024-01-01",
    freq: str = "1h",
    drop: Sequence[int] = (),
) -> pd.DataFrame:
    """OHLC candles on an hourly UTC index; missing highs/lows/closes default to the opens.

    ``drop`` removes bars by position (to create gaps in the index).
    """
    opens = np.asarray(opens, dtype=float)
    highs = opens if highs is None else np.asarray(highs, dtype=float)
    lows = opens if lows is None else np.asarray(lows, dtype=float)
    closes = opens if closes is None else np.asarray(closes, dtype=float)
    index = pd.date_range(start, periods=len(opens), freq=freq, tz="UTC")
    frame = pd.DataFrame(
        {"open": opens, "high": np.maximum(highs, np.maximum(opens, closes)),
         "low": np.minimum(lows, np.minimum(opens, closes)), "close": closes, "volume": 1.0},
        index=index,
    )
    keep = np.ones(len(frame), dtype=bool)
    keep[list(drop)] = False
    return frame[keep]


def make_signals(candles: pd.DataFrame, *, entry=(), exit=(), scale_in=(), stop=None, take_profit=None,
                 take_profit_fraction=None) -> pd.DataFrame:
    """Signal frame on the candles' index; ``entry``/``exit``/``scale_in`` are bar positions and
    ``stop``/``take_profit``/``take_profit_fraction`` are ``{position: value}`` maps."""
    frame = BaseStrategy.empty_signals(candles.index)
    for column, positions in (("entry", entry), ("exit", exit), ("scale_in", scale_in)):
        frame.iloc[list(positions), frame.columns.get_loc(column)] = True
    for column, values in (("stop", stop), ("take_profit", take_profit),
                           ("take_profit_fraction", take_profit_fraction)):
        for position, value in (values or {}).items():
            frame.iloc[position, frame.columns.get_loc(column)] = value
    return frame


def frictionless(**overrides) -> EngineConfig:
    """No fees, no slippage, no carry, no risk limits: arithmetic that can be checked by hand."""
    settings = {"initial_capital": 10_000.0, "fee_rate": 0.0, "slippage_rate": 0.0,
                "risk": RiskLimits.unlimited(), "sizing": "risk", "costs": CostModel.frictionless_carry()}
    settings.update(overrides)
    return EngineConfig(**settings)


@pytest.fixture(scope="session")
def btc_candles() -> pd.DataFrame:
    """Real Binance BTCUSDT 1h candles, 2022 (see tests/data/PROVENANCE.md), on a UTC index."""
    frame = pd.read_csv(DATA_DIR / "BTCUSDT_1h.csv.gz", parse_dates=["date"], index_col="date")
    frame.index = frame.index.tz_localize("UTC")
    frame = frame.loc["2022-01-01":"2022-12-31", ["open", "high", "low", "close", "volume"]]
    return frame
