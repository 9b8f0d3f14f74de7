"""DefiDerivativesMomentum: trend/momentum/volume entries, on-chain confirmation, regime filter, ATR levels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketdata import indicators
from strategies.base import MarketData
from strategies.defi_derivatives_momentum import DefiDerivativesMomentum
from tests.strategies.synthetic import bar_index, handmade_candles, onchain_frame, regime_frames, zigzag

BARS = 400
SPIKE = 320


@pytest.fixture
def index() -> pd.DatetimeIndex:
    return bar_index("4h", BARS)


@pytest.fixture
def candles(index) -> pd.DataFrame:
    """A zigzag up-trend (RSI ~60) with flat volume and one volume spike on an up bar."""
    volume = np.full(BARS, 1000.0)
    volume[SPIKE] = 3000.0
    return handmade_candles(zigzag(BARS, 0.015, 0.01), index, volume)


def entries(data: MarketData, **params) -> np.ndarray:
    return np.flatnonzero(DefiDerivativesMomentum(**params).generate_signals(data)["SNX"]["entry"])


def test_entry_on_the_volume_confirmed_bar_only(index, candles):
    data = MarketData(candles={"SNX": candles}, regime=regime_frames(index))
    frame = DefiDerivativesMomentum().generate_signals(data)["SNX"]
    assert np.flatnonzero(frame["entry"]).tolist() == [SPIKE]
    atr = indicators.atr(candles["high"], candles["low"], candles["close"], 14).iloc[SPIKE]
    close = candles["close"].iloc[SPIKE]
    assert frame["stop"].iloc[SPIKE] == pytest.approx(close - 2.0 * atr)
    assert frame["take_profit"].iloc[SPIKE] == pytest.approx(close + 3.0 * atr)
    assert frame["take_profit_fraction"].iloc[SPIKE] == 0.5
    assert frame["stop"].drop(frame.index[SPIKE]).isna().all()
    assert frame.index.equals(candles.index)


def test_volume_threshold_above_the_spike_blocks_the_entry(index, candles):
    data = MarketData(candles={"SNX": candles}, regime=regime_frames(index))
    ratio = indicators.volume_ratio(candles["volume"], 20).iloc[SPIKE]
    assert ratio < 3.0
    candles.loc[candles.index[SPIKE], "volume"] = 1100.0  # ratio ~1.095 < 1.2
    assert entries(data).size == 0


def test_regime_filter_blocks_entries_in_a_falling_market_unless_switched_off(index, candles):
    data = MarketData(candles={"SNX": candles}, regime=regime_frames(index, rising=False))
    assert entries(data).size == 0
    assert entries(data, use_regime_filter=False).tolist() == [SPIKE]


def test_missing_regime_candles_block_entries_with_a_note(candles):
    data = MarketData(candles={"SNX": candles})
    assert entries(data).size == 0
    assert any("no BTC regime candles" in note for note in data.notes)


def test_no_onchain_data_uses_the_price_only_rule_and_says_so(index, candles):
    data = MarketData(candles={"SNX": candles}, regime=regime_frames(index))
    assert entries(data).tolist() == [SPIKE]
    notes = [n for n in data.notes if "SNX" in n]
    (onchain,) = [note for note in notes if "on-chain" in note]
    assert "price-only rule" in onchain and "2022-01-01" in onchain


def test_falling_protocol_fees_veto_the_entry_and_rising_fees_confirm_it(index, candles):
    falling = onchain_frame(index, fees=np.linspace(2e6, 1e6, BARS))
    rising = onchain_frame(index, fees=np.linspace(1e6, 2e6, BARS))
    regime = regime_frames(index)
    assert entries(MarketData(candles={"SNX": candles}, onchain={"SNX": falling}, regime=regime)).size == 0
    confirmed = MarketData(candles={"SNX": candles}, onchain={"SNX": rising}, regime=regime)
    assert entries(confirmed).tolist() == [SPIKE]
    assert not any("SNX" in note and "fees" in note for note in confirmed.notes)


def test_fees_missing_for_a_period_fall_back_there_and_name_the_range(index, candles):
    fees = np.linspace(2e6, 1e6, BARS)  # falling: would veto
    fees[300:340] = np.nan
    data = MarketData(candles={"SNX": candles}, onchain={"SNX": onchain_frame(index, fees=fees)},
                      regime=regime_frames(index))
    assert entries(data).tolist() == [SPIKE]
    note = next(n for n in data.notes if "SNX" in n)
    assert f"{index[300]:%Y-%m-%d}..{index[339]:%Y-%m-%d}" in note


def test_no_entry_inside_the_warmup(index, candles):
    candles["volume"] = 1000.0
    candles.loc[candles.index[150], "volume"] = 3000.0
    data = MarketData(candles={"SNX": candles}, regime=regime_frames(index))
    assert entries(data).size == 0


def test_exit_when_close_falls_below_the_slow_ema(index):
    close = np.r_[zigzag(300, 0.015, 0.01), zigzag(100, 0.0, 0.03, start=1.0) * zigzag(300, 0.015, 0.01)[-1]]
    data = MarketData(candles={"SNX": handmade_candles(close, index)}, regime=regime_frames(index))
    frame = DefiDerivativesMomentum().generate_signals(data)["SNX"]
    below = frame["ema_slow"].notna() & (pd.Series(close, index=index) < frame["ema_slow"])
    assert below.any()
    assert frame["exit"][below].all()


@pytest.mark.parametrize("params", [{"rsi_high": 90.0}, {"ema_fast": 5}, {"atr_stop_mult": "2"},
                                    {"use_regime_filter": 1}, {"unknown": 1}])
def test_invalid_parameters_raise(params):
    with pytest.raises(ValueError):
        DefiDerivativesMomentum(**params)
