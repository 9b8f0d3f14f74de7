"""Shared strategy helpers: causal alignment, edges, regime gate and missing-data notes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from strategies import _common
from strategies.base import MarketData
from tests.strategies.synthetic import bar_index, handmade_candles, regime_frames


def test_align_to_takes_the_last_row_at_or_before_each_bar_and_never_fills_nans():
    daily = pd.Series([1.0, np.nan, 3.0], index=pd.to_datetime(["2022-01-01", "2022-01-02", "2022-01-03"], utc=True))
    bars = pd.date_range("2022-01-01", periods=6, freq="12h", tz="UTC")
    aligned = _common.align_to(daily, bars)
    assert aligned.tolist()[:2] == [1.0, 1.0]
    assert np.isnan(aligned.iloc[2]) and np.isnan(aligned.iloc[3])
    assert aligned.iloc[4] == 3.0
    before = _common.align_to(daily, pd.DatetimeIndex([pd.Timestamp("2021-12-31", tz="UTC")]))
    assert before.isna().all()


def test_edge_marks_only_the_first_bar_of_each_run():
    condition = pd.Series([True, True, False, np.nan, True, True], dtype="object")
    assert _common.edge(condition).tolist() == [True, False, False, False, True, False]


def test_missing_ranges_and_note_text():
    index = bar_index("1d", 10)
    series = pd.Series([np.nan, np.nan, 1, 1, np.nan, 1, 1, 1, np.nan, np.nan], index=index, dtype="float64")
    assert _common.missing_ranges(series.isna()) == [(index[0], index[1]), (index[4], index[4]),
                                                     (index[8], index[9])]
    data = MarketData(candles={})
    _common.note_missing(data, "s", "X", "tvl", series, "price-only")
    _common.note_missing(data, "s", "X", "tvl", series, "price-only")
    assert data.notes == ["s X: no tvl data for 2022-01-01..2022-01-02, 2022-01-05..2022-01-05, "
                          "2022-01-09..2022-01-10: price-only"]


def test_regime_gate_needs_both_symbols_above_their_ema():
    index = bar_index("1h", 300)
    regime = regime_frames(index)
    gate = _common.RegimeGate({"use_regime_filter": True}, MarketData(candles={}, regime=regime), ("BTC", "ETH"), "t")
    flags = gate.on(index)
    assert not flags.iloc[:199].any() and flags.iloc[199:].all()
    regime["ETH"] = regime_frames(index, rising=False)["ETH"]
    gate = _common.RegimeGate({"use_regime_filter": True}, MarketData(candles={}, regime=regime), ("BTC", "ETH"), "t")
    assert not gate.on(index).any()
    off = _common.RegimeGate({"use_regime_filter": False}, MarketData(candles={}), ("BTC", "ETH"), "t")
    assert off.on(index).all()


def test_atr_stop_sits_below_the_close():
    index = bar_index("1h", 50)
    candles = handmade_candles(np.linspace(100, 110, 50), index)
    atr, stop = _common.atr_stop(candles, 2.0)
    valid = ~np.isnan(atr)
    assert valid.sum() > 30
    close = candles["close"].to_numpy()
    assert (stop[valid] < close[valid]).all()
    assert np.allclose(close[valid] - stop[valid], 2.0 * atr[valid])
