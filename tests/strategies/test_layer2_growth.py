"""Layer2EcosystemGrowth: TVL growth plus price trend; price momentum stands in when TVL is missing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from strategies.base import MarketData
from strategies.layer2_growth import Layer2EcosystemGrowth
from tests.strategies.synthetic import bar_index, handmade_candles, onchain_frame, regime_frames, zigzag

BARS = 400
GROWTH_FROM = 250
WINDOW = 84  # 14 days of 4h bars


@pytest.fixture
def index() -> pd.DatetimeIndex:
    return bar_index("4h", BARS)


@pytest.fixture
def uptrend(index) -> pd.DataFrame:
    return handmade_candles(zigzag(BARS, 0.012, 0.01), index)


def growing_tvl(index) -> np.ndarray:
    """Flat 1e9, then +0.2% a bar from bar 250: the 14-day change passes 10% about 48 bars later."""
    return 1e9 * 1.002 ** np.clip(np.arange(BARS) - GROWTH_FROM, 0, None)


def signals(data: MarketData, **params) -> pd.DataFrame:
    return Layer2EcosystemGrowth(**params).generate_signals(data)["OP"]


def test_entry_when_tvl_growth_crosses_the_threshold_in_an_uptrend(index, uptrend):
    data = MarketData(candles={"OP": uptrend}, regime=regime_frames(index),
                      onchain={"OP": onchain_frame(index, tvl=growing_tvl(index))})
    frame = signals(data)
    entries = np.flatnonzero(frame["entry"])
    assert entries.size == 1
    at = entries[0]
    assert frame["tvl_growth"].iloc[at] > 0.10 >= frame["tvl_growth"].iloc[at - 1]
    assert frame["stop"].iloc[at] < uptrend["close"].iloc[at]
    assert not any("OP" in note for note in data.notes)


def test_flat_tvl_means_no_entry_even_in_an_uptrend(index, uptrend):
    data = MarketData(candles={"OP": uptrend}, regime=regime_frames(index),
                      onchain={"OP": onchain_frame(index, tvl=1e9)})
    assert not signals(data)["entry"].any()


def test_shrinking_tvl_is_an_exit(index, uptrend):
    tvl = 1e9 * 0.999 ** np.arange(BARS)
    data = MarketData(candles={"OP": uptrend}, regime=regime_frames(index), onchain={"OP": onchain_frame(index, tvl=tvl)})
    frame = signals(data)
    assert frame["exit"].iloc[WINDOW:].all()
    assert not frame["entry"].any()


def test_missing_tvl_uses_price_momentum_and_notes_it(index):
    flat = zigzag(GROWTH_FROM, 0.005, 0.005)
    close = np.r_[flat, zigzag(BARS - GROWTH_FROM, 0.015, 0.01, start=flat[-1])]
    candles = handmade_candles(close, index)
    data = MarketData(candles={"OP": candles}, regime=regime_frames(index))
    frame = signals(data)
    entries = np.flatnonzero(frame["entry"])
    assert entries.size >= 1 and entries[0] > GROWTH_FROM
    at = entries[0]
    assert np.isnan(frame["tvl_growth"].iloc[at])
    assert close[at] / close[at - WINDOW] - 1 > 0.10
    assert any(note.startswith("layer2_growth OP: no on-chain tvl data at all") and "price momentum" in note
               for note in data.notes)
    assert any("ARB: no candles" in note for note in data.notes)


def test_regime_filter_on_and_off(index, uptrend):
    onchain = {"OP": onchain_frame(index, tvl=growing_tvl(index))}
    bear = MarketData(candles={"OP": uptrend}, regime=regime_frames(index, rising=False), onchain=onchain)
    assert not signals(bear)["entry"].any()
    assert signals(bear, use_regime_filter=False)["entry"].sum() == 1


def test_downtrend_blocks_entries_despite_tvl_growth(index):
    falling = handmade_candles(zigzag(BARS, 0.01, 0.012), index)
    data = MarketData(candles={"OP": falling}, regime=regime_frames(index),
                      onchain={"OP": onchain_frame(index, tvl=growing_tvl(index))})
    assert not signals(data)["entry"].any()


@pytest.mark.parametrize("params", [{"tvl_growth_min": 0.5}, {"tvl_growth_days": 3}, {"ema_slow": 200}])
def test_invalid_parameters_raise(params):
    with pytest.raises(ValueError, match=next(iter(params))):
        Layer2EcosystemGrowth(**params)
