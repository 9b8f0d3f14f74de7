"""Pure data-quality checks on hand-built series."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd

from marketdata.quality import assess_candles, find_gaps, find_outliers


def series(n: int = 300, *, freq: str = "1h", seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.005, n)))
    open_ = np.r_[100.0, close[:-1]][:n]
    index = pd.date_range("2022-01-01", periods=n, freq=freq, tz="UTC", name="open_time")
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * 1.001,
                         "low": np.minimum(open_, close) * 0.999, "close": close,
                         "volume": rng.uniform(1, 10, n)}, index=index)


def test_clean_series_scores_one():
    report = assess_candles(series(), "1h")

    assert report["score"] == 1.0
    assert report["gaps"] == [] and report["outlier_count"] == 0
    assert report["rows"] == report["expected_rows"] == 300


def test_gaps_are_listed_with_first_missing_bar_and_resumption_time():
    frame = series().drop(pd.date_range("2022-01-02 05:00", "2022-01-02 09:00", freq="1h", tz="UTC"))

    report = assess_candles(frame, "1h")

    assert report["gaps"] == [{"start": "2022-01-02T05:00:00+00:00", "end": "2022-01-02T10:00:00+00:00",
                               "missing_bars": 5}]
    assert report["missing_bars"] == 5
    assert report["score"] == round(295 / 300, 4)


def test_find_gaps_on_daily_grid():
    times = pd.to_datetime(["2021-01-01", "2021-01-02", "2021-01-05"], utc=True)

    gaps = find_gaps(times, "1d")

    assert [(g.start.day, g.end.day, g.missing_bars) for g in gaps] == [(3, 5, 2)]


def test_counts_duplicates_broken_rows_zero_volume_and_flat_candles():
    frame = series(100)
    frame.iloc[10, frame.columns.get_loc("high")] = frame["low"].iloc[10] * 0.5  # high < low
    frame.iloc[20, frame.columns.get_loc("volume")] = 0.0
    frame.iloc[30, :4] = 50.0
    frame = pd.concat([frame, frame.iloc[[40, 41]]])

    report = assess_candles(frame, "1h")

    assert report["duplicates"] == 2
    assert report["invalid_ohlc"] == 1
    assert report["zero_volume"] == 1
    assert report["flat"] == 1
    assert 0 < report["score"] < 1


def test_a_spike_is_an_outlier_and_normal_moves_are_not():
    frame = series(400)
    frame.iloc[250, frame.columns.get_loc("close")] *= 1.3

    report = assess_candles(frame, "1h")

    flagged = {o["open_time"] for o in report["outliers"]}
    assert "2022-01-11T10:00:00+00:00" in flagged  # the spike bar (250 hours after the start)
    assert report["outlier_count"] <= 2  # the spike and the return back from it


def test_flat_stablecoin_does_not_flag_small_ticks():
    close = pd.Series(np.r_[np.ones(100), 1.0005, np.ones(50)])

    assert find_outliers(close).empty


def test_empty_series_scores_zero():
    empty = series(0)

    assert assess_candles(empty, "1h")["score"] == 0.0


def test_report_is_json_safe():
    json.dumps(assess_candles(series(50), "1h"))


def test_quality_module_imports_no_django():
    code = "import sys, marketdata.quality; print('django' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
