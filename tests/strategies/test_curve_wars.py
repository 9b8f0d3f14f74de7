"""CurveWarsSpecialist: Bollinger/RSI dip entries, TVL filter, exits at the middle band, ATR stop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketdata import indicators
from strategies.base import MarketData
from strategies.curve_wars import CurveWarsSpecialist
from tests.strategies.synthetic import bar_index, handmade_candles, onchain_frame, regime_frames, zigzag

BARS = 400
DROP = 300


@pytest.fixture
def index() -> pd.DatetimeIndex:
    return bar_index("4h", BARS)


@pytest.fixture
def candles(index) -> pd.DataFrame:
    """A calm drift, then five -3% bars from bar 300 and a steady +2% rebound."""
    close = zigzag(BARS, 0.005, 0.004)
    close[DROP:] = close[DROP - 1] * np.r_[0.97 ** np.arange(1, 6), 0.97 ** 5 * 1.02 ** np.arange(1, BARS - DROP - 4)]
    return handmade_candles(close, index)


def signals(data: MarketData, **params) -> pd.DataFrame:
    return CurveWarsSpecialist(**params).generate_signals(data)["CRV"]


def test_enters_below_the_lower_band_with_oversold_rsi(index, candles):
    frame = signals(MarketData(candles={"CRV": candles}, regime=regime_frames(index)))
    entries = np.flatnonzero(frame["entry"])
    assert entries.size == 1 and DROP <= entries[0] < DROP + 5
    at = entries[0]
    bands = indicators.bbands(candles["close"], 20, 2.0)
    assert candles["close"].iloc[at] < bands["lower"].iloc[at]
    assert indicators.rsi(candles["close"], 14).iloc[at] < 30
    atr = indicators.atr(candles["high"], candles["low"], candles["close"], 14).iloc[at]
    assert frame["stop"].iloc[at] == pytest.approx(candles["close"].iloc[at] - 2.0 * atr)
    assert frame["take_profit"].isna().all()


def test_exits_at_the_middle_band_or_when_rsi_recovers(index, candles):
    frame = signals(MarketData(candles={"CRV": candles}, regime=regime_frames(index)))
    entry = int(np.flatnonzero(frame["entry"])[0])
    first_exit = entry + int(np.flatnonzero(frame["exit"].iloc[entry:])[0])
    assert first_exit > entry
    reached = (candles["close"] >= frame["bb_middle"]) | (frame["rsi"] > 55)
    assert bool(reached.iloc[first_exit])
    assert not reached.iloc[entry:first_exit].any()


def test_falling_tvl_blocks_the_dip_buy_and_stable_tvl_allows_it(index, candles):
    regime = regime_frames(index)
    falling = MarketData(candles={"CRV": candles}, regime=regime,
                         onchain={"CRV": onchain_frame(index, tvl=np.linspace(2e9, 1e9, BARS))})
    assert not signals(falling)["entry"].any()
    steady = MarketData(candles={"CRV": candles}, regime=regime,
                        onchain={"CRV": onchain_frame(index, tvl=1e9)})
    assert signals(steady)["entry"].sum() == 1
    assert not any("CRV" in note and "on-chain" in note for note in steady.notes)


def test_fees_trend_is_the_filter_when_tvl_is_absent(index, candles):
    data = MarketData(candles={"CRV": candles}, regime=regime_frames(index),
                      onchain={"CRV": onchain_frame(index, fees=np.linspace(2e6, 1e6, BARS))})
    assert not signals(data)["entry"].any()


def test_without_onchain_data_the_price_rule_trades_and_a_note_says_so(index, candles):
    data = MarketData(candles={"CRV": candles}, regime=regime_frames(index))
    assert signals(data)["entry"].sum() == 1
    assert any(note.startswith("curve_wars CRV: no on-chain tvl/fees data at all") for note in data.notes)
    assert any("CVX: no candles" in note for note in data.notes)


def test_regime_filter_on_and_off(index, candles):
    bear = MarketData(candles={"CRV": candles}, regime=regime_frames(index, rising=False))
    assert not signals(bear)["entry"].any()
    assert signals(bear, use_regime_filter=False)["entry"].sum() == 1


def test_no_dip_no_entry(index):
    calm = handmade_candles(zigzag(BARS, 0.005, 0.004), index)
    assert not signals(MarketData(candles={"CRV": calm}, regime=regime_frames(index)))["entry"].any()


@pytest.mark.parametrize("params", [{"bb_std": 3.0}, {"rsi_entry": 10.0}, {"tvl_window_days": 30}])
def test_invalid_parameters_raise(params):
    with pytest.raises(ValueError, match=next(iter(params))):
        CurveWarsSpecialist(**params)
