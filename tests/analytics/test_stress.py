"""Tests of analytics.stress.stress_window_report (pure part)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analytics.stress import NO_DATA, stress_window_report


@pytest.fixture
def run() -> pd.DataFrame:
    idx = pd.date_range("2020-03-01", periods=6 * 24, freq="h", tz="UTC")  # 1..6 March, hourly
    equity = pd.Series(1000.0, index=idx)
    equity[idx >= pd.Timestamp("2020-03-03 12:00", tz="UTC")] = 900.0  # -10% on 3 March
    equity[idx >= pd.Timestamp("2020-03-04 06:00", tz="UTC")] = 945.0  # +5% on 4 March
    equity[idx >= pd.Timestamp("2020-03-05 06:00", tz="UTC")] = 850.5  # -10% on 5 March
    frame = pd.DataFrame({"equity": equity})
    frame["drawdown"] = 1 - frame["equity"] / frame["equity"].cummax()
    frame["circuit_breaker"] = frame.index == pd.Timestamp("2020-03-05 07:00", tz="UTC")
    frame["trades"] = 0
    frame.iloc[[10, 60, 80, 100], frame.columns.get_loc("trades")] = 1
    return frame


def test_window_report_by_hand(run):
    report = stress_window_report(run, "2020-03-03", "2020-03-05 23:00")
    json.dumps(report, allow_nan=False)
    assert report["status"] == "ok"
    assert report["return"] == pytest.approx(850.5 / 1000 - 1)  # baseline: last bar before the window
    assert report["max_drawdown"] == pytest.approx(1 - 850.5 / 1000)
    assert report["worst_day"]["return"] == pytest.approx(-0.1)
    assert report["worst_day"]["date"] in ("2020-03-03", "2020-03-05")
    assert report["trades"] == 3  # bars 60, 80, 100 are inside (2 March 12:00 is not)
    assert report["circuit_breaker_fired"] is True
    assert report["circuit_breaker_first_time"] == "2020-03-05T07:00:00+00:00"


def test_window_without_breaker_and_drawdown_inside_window_only(run):
    report = stress_window_report(run, "2020-03-04", "2020-03-04 23:00")
    assert report["return"] == pytest.approx(0.05)
    assert report["max_drawdown"] == 0.0
    assert report["max_drawdown_from_peak"] == pytest.approx(0.1)  # still 10% below the run's peak
    assert report["circuit_breaker_fired"] is False


def test_no_data_result_when_window_has_no_points(run):
    report = stress_window_report(run, "2022-05-05", "2022-05-20")
    assert report["status"] == NO_DATA
    assert report["return"] is None and report["n_bars"] == 0
    json.dumps(report, allow_nan=False)


def test_optional_columns_may_be_missing(run):
    report = stress_window_report(run[["equity"]], "2020-03-01", "2020-03-06")
    assert report["trades"] is None and report["circuit_breaker_fired"] is None
    assert report["return"] == pytest.approx(-0.1495)
    with pytest.raises(ValueError):
        stress_window_report(run, "2020-03-06", "2020-03-01")
