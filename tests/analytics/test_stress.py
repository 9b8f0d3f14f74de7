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


# --------------------------------------------------------------------------- what the strategy did, in words
from analytics.stress import (  # noqa: E402
    activity_sentence,
    basis_sentence,
    refusals_in_words,
    window_activity,
    window_summary,
)

W0, W1 = pd.Timestamp("2020-03-05", tz="UTC"), pd.Timestamp("2020-03-10", tz="UTC")


def _activity_frames():
    ts = pd.Timestamp
    trades = pd.DataFrame({  # one position from before the window stopped inside it, one opened and closed inside
        "symbol": ["A", "B"], "entry_time": [ts("2020-03-03", tz="UTC"), ts("2020-03-06", tz="UTC")],
        "exit_time": [ts("2020-03-06 05:00", tz="UTC"), ts("2020-03-07", tz="UTC")],
        "exit_reason": ["stop_loss", "signal"]})
    orders = pd.DataFrame({"time": pd.to_datetime(["2020-03-03 00:00", "2020-03-06 00:00", "2020-03-08 00:00",
                                                   "2020-03-06 05:00"],
                                                  utc=True), "kind": ["entry", "entry", "entry", "stop_loss"]})
    refusals = pd.DataFrame({"time": pd.to_datetime(["2020-03-01", "2020-03-06", "2020-03-07", "2020-03-07"],
                                                    utc=True),
                             "reason": ["correlation", "portfolio_heat", "portfolio_heat", "correlation"]})
    index = pd.date_range("2020-03-01", "2020-03-09 23:00", freq="h", tz="UTC")
    held = pd.Series(0, index=index)
    held[(index >= "2020-03-03") & (index < "2020-03-06 05:00")] = 1
    held[index >= "2020-03-08"] = 1  # opened on the 8th, still open at the end
    equity = pd.DataFrame({"equity": 1000.0, "open_positions": held})
    return trades, orders, refusals, equity


def test_window_activity_counts_positions_refusals_and_breaker_events_inside_the_window():
    trades, orders, refusals, equity = _activity_frames()
    activity = window_activity(trades=trades, orders=orders, refusals=refusals, equity=equity,
                               breaker_times=["2020-03-02T00:00:00+00:00", "2020-03-06T10:00:00+00:00"],
                               window_start=W0, window_end=W1)
    assert activity["opened"] == 2 and activity["closed"] == 2 and activity["open_at_end"] == 1
    assert activity["held_at_start"] == 1 and activity["stops_hit"] == 1
    assert activity["refusals"] == {"portfolio_heat": 2, "correlation": 1}  # the one of 1 March is outside
    assert activity["circuit_breaker_events"] == 1
    assert activity_sentence(activity) == ("opened 2 positions in the window, closed 2; 1 position still open "
                                           "at the window's end")


def test_no_trade_says_whether_it_was_flat_or_holding():
    assert activity_sentence({"opened": 0, "closed": 0, "held_at_start": 0}) == \
        "no trade in the window: held no position, flat through the window"
    assert activity_sentence({"opened": 0, "closed": 0, "held_at_start": 1, "open_at_end": 1}) == \
        "no trade in the window: held the position opened before the window"


def test_refusals_in_words():
    assert refusals_in_words({"portfolio_heat": 3, "correlation": 1, "missing_stop": 0}) == \
        "3 refused for portfolio heat, 1 for correlation"
    assert refusals_in_words({"missing_stop": 0}) == refusals_in_words(None) == "no refusals"


def test_a_proxy_basis_names_the_reference_each_beta_and_what_was_real():
    result = {"real_symbols": ["SNX"], "coverage": {"SNX": 0.7}, "proxies": [
        {"symbol": "GMX", "reference": "ETH", "beta": 1.2, "beta_source": "estimated",
         "fit": {"beta": 1.2, "raw": 1.2, "r2": 0.44, "overlap": 2190, "first": "2022-10-05T00:00:00+00:00",
                 "last": "2023-10-05T00:00:00+00:00"}},
        {"symbol": "LYRA", "reference": "ETH", "beta": 1.1, "beta_source": "the median of the betas", "fit": None},
        {"symbol": "GNS", "reference": "ETH", "beta": 1.1, "beta_source": "the median of the betas", "fit": None}]}
    text = basis_sentence(result)
    assert text.startswith("basis: proxy; GMX, LYRA, GNS follow ETH's path")
    assert "GMX with beta 1.20 (R\u00b2 0.44 on 2,190 common bars 2022-10-05..2023-10-05)" in text
    assert "LYRA and GNS with beta 1.10 (too little common history to fit one: the median of the betas)" in text
    assert text.endswith("real candles for SNX (SNX on 70% of the window's bars)")
    assert basis_sentence({"real_symbols": ["BTC"], "proxies": []}) == "basis: real, real candles for BTC"


def test_the_window_summary_has_no_raw_values():
    trades, orders, refusals, equity = _activity_frames()
    activity = window_activity(trades=trades, orders=orders, refusals=refusals, equity=equity, breaker_times=[],
                               window_start=W0, window_end=W1)
    result = {"status": "ok", "return": -0.0123, "max_drawdown": 0.02, "worst_day": None, "activity": activity,
              "real_symbols": ["A", "B"], "proxies": [], "circuit_breaker_fired": False, "holdout_touch": None,
              "outage": {"start": "2020-03-06T00:00:00+00:00", "hours": 8.0, "bars_removed": 8},
              "usd": {"path": "a path", "quote_low": 0.88, "return": -0.1, "max_drawdown": 0.12},
              "data_fallback_share": 0.625}
    text = "; ".join(window_summary(result))
    assert "fundamentals: the price-only or assumed fallback of a primary input decided on 62% of the bars" in text
    for raw in ("True", "False", "None", "{", "}", "[", "nan"):
        assert raw not in text, raw
    assert "return -1.23%" in text and "2 refused for portfolio heat, 1 for correlation" in text
    assert "exchange outage 2020-03-06 00:00 UTC for 8 hours: 8 bars removed" in text
    assert "in USD" in text and "max drawdown 12.00%" in text
