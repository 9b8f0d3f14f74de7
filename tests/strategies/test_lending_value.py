"""LendingProtocolValue: fee yield on market cap, or the z-score proxy, plus a trend turn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketdata import indicators
from strategies.base import MarketData
from strategies.lending_value import LendingProtocolValue
from tests.strategies.synthetic import bar_index, handmade_candles, onchain_frame, regime_frames, zigzag

BARS = 400
DROP = 300


@pytest.fixture
def index() -> pd.DatetimeIndex:
    return bar_index("1d", BARS)


@pytest.fixture
def candles(index) -> pd.DataFrame:
    """Sideways, then eight -3% days from bar 300 and a +2% a day rebound."""
    close = zigzag(BARS, 0.005, 0.005)
    close[DROP:] = close[DROP - 1] * np.r_[0.97 ** np.arange(1, 9), 0.97 ** 8 * 1.02 ** np.arange(1, BARS - DROP - 7)]
    return handmade_candles(close, index)


def signals(data: MarketData, **params) -> pd.DataFrame:
    return LendingProtocolValue(**params).generate_signals(data)["AAVE"]


def test_proxy_mode_buys_the_trend_turn_after_a_deep_discount(index, candles):
    data = MarketData(candles={"AAVE": candles}, regime=regime_frames(index))
    frame = signals(data)
    entries = np.flatnonzero(frame["entry"])
    assert entries.size == 1 and DROP + 8 <= entries[0] < DROP + 20
    at = entries[0]
    assert frame["zscore"].iloc[at - 10:at + 1].min() <= -1.5
    atr = indicators.atr(candles["high"], candles["low"], candles["close"], 14).iloc[at]
    assert frame["stop"].iloc[at] == pytest.approx(candles["close"].iloc[at] - 2.5 * atr)
    assert any(n.startswith("lending_value AAVE: no market cap") and "price-only value proxy" in n for n in data.notes)


def test_exit_once_the_discount_is_gone(index, candles):
    frame = signals(MarketData(candles={"AAVE": candles}, regime=regime_frames(index)))
    at = int(np.flatnonzero(frame["entry"])[0])
    after = frame.iloc[at + 1:]
    first_exit = after.index[after["exit"]][0]
    assert frame.loc[first_exit, "zscore"] >= 0.5 or frame.loc[first_exit, "macd_hist"] < 0


def test_no_discount_no_entry(index):
    calm = handmade_candles(zigzag(BARS, 0.005, 0.005), index)
    assert not signals(MarketData(candles={"AAVE": calm}, regime=regime_frames(index)))["entry"].any()


def test_fee_mode_judges_a_drop_by_earnings_not_by_price(index, candles):
    market_cap = candles["close"].to_numpy() * 1e7  # price x a constant supply
    steady = onchain_frame(index, revenue=1e5, market_cap=market_cap)
    data = MarketData(candles={"AAVE": candles}, regime=regime_frames(index), onchain={"AAVE": steady})
    frame = signals(data)
    # Same earnings, lower price: the fee yield jumps against its history, so the drop is a buy.
    at = int(np.flatnonzero(frame["entry"])[0])
    assert frame["fee_yield_z"].iloc[at - 10:at + 1].max() >= 1.5 and frame["uses_earnings"].iloc[at]
    assert not any("AAVE" in note for note in data.notes)
    # Earnings collapsed 80% before the price fell: the yield is at a low, the drop is no bargain, and the
    # price proxy's buy of the same bar (test above) does not happen.
    collapsing = onchain_frame(index, revenue=np.where(np.arange(BARS) >= DROP - 20, 2e4, 1e5), market_cap=market_cap)
    data = MarketData(candles={"AAVE": candles}, regime=regime_frames(index), onchain={"AAVE": collapsing})
    frame = signals(data)
    assert not frame["entry"].any()
    assert frame["fee_yield_z"].iloc[DROP:DROP + 10].max() < 0


def test_regime_filter_on_and_off(index, candles):
    bear = MarketData(candles={"AAVE": candles}, regime=regime_frames(index, rising=False))
    assert not signals(bear)["entry"].any()
    assert signals(bear, use_regime_filter=False)["entry"].sum() == 1


@pytest.mark.parametrize("params", [{"z_entry": 3.0}, {"zscore_window": 10}, {"z_exit": -0.1}])
def test_invalid_parameters_raise(params):
    with pytest.raises(ValueError, match=next(iter(params))):
        LendingProtocolValue(**params)
