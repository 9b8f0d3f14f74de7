"""Longer candles are built from complete buckets of shorter ones, never from partial data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketdata.resampling import resample_candles


def _hourly(hours: int, start: str = "2023-01-01") -> pd.DataFrame:
    idx = pd.date_range(start, periods=hours, freq="h", tz="UTC")
    close = 100 + np.arange(hours, dtype=float)
    return pd.DataFrame({"open": close - 0.5, "high": close + 1, "low": close - 1, "close": close,
                         "volume": np.ones(hours)}, index=idx)


def test_four_hour_candles_from_hourly():
    result = resample_candles(_hourly(12), "1h", "4h")
    frame = result.frame
    assert list(frame.index.hour) == [0, 4, 8]
    first = frame.iloc[0]
    assert (first.open, first.high, first.low, first.close, first.volume) == (99.5, 104.0, 99.0, 103.0, 4.0)


def test_incomplete_bucket_is_dropped_not_invented():
    candles = _hourly(12).drop(pd.Timestamp("2023-01-01 05:00", tz="UTC"))
    result = resample_candles(candles, "1h", "4h")
    assert list(result.frame.index.hour) == [0, 8]
    assert result.dropped == [pd.Timestamp("2023-01-01 04:00", tz="UTC")]


def test_unfinished_last_bucket_is_dropped():
    result = resample_candles(_hourly(30), "1h", "1d")
    assert len(result.frame) == 1 and result.dropped == [pd.Timestamp("2023-01-02", tz="UTC")]


def test_weekly_buckets_start_on_monday():
    result = resample_candles(_hourly(24 * 21, start="2023-01-02"), "1h", "1w")  # 2023-01-02 is a Monday
    assert list(result.frame.index.day_of_week) == [0, 0, 0]


def test_refuses_a_shorter_target():
    with pytest.raises(ValueError):
        resample_candles(_hourly(5), "4h", "1h")
