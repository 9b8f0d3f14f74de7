"""Finer candles order a stop and a target reached in the same bar; elsewhere the coarse rule stands."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtests.engine import run_signals
from strategies.base import BaseStrategy

from .conftest import frictionless, make_candles, make_signals


def minutes(bar_start: str, path: list[tuple[float, float, float, float]], freq: str = "15min") -> pd.DataFrame:
    index = pd.date_range(bar_start, periods=len(path), freq=freq, tz="UTC")
    return pd.DataFrame(path, index=index, columns=["open", "high", "low", "close"])


def both_hit_case():
    """Bar 2 (an hour) reaches both the stop (95) and the target (105) of a long entered at bar 1's open."""
    candles = make_candles([100.0, 100.0, 100.0, 100.0], highs=[100, 100, 106, 100], lows=[100, 100, 94, 100])
    signals = make_signals(candles, entry=[0], stop={0: 95.0}, take_profit={0: 105.0})
    return candles, signals


def run(candles, signals, detail=None):
    return run_signals({"X": candles}, {"X": signals}, frictionless(), detail=detail)


def test_without_finer_candles_the_stop_is_assumed_first():
    candles, signals = both_hit_case()
    result = run(candles, signals)
    assert result.trades["exit_reason"].tolist() == ["stop_loss"]
    assert result.summary["execution"]["intrabar"]["bars_reaching_stop_and_target"] == 1
    assert result.summary["execution"]["intrabar"]["coarse_rule"] == 1


def test_finer_candles_that_reach_the_target_first_fill_the_target():
    candles, signals = both_hit_case()
    bar = candles.index[2]
    detail = minutes(str(bar), [(100, 106, 100, 104), (104, 104, 99, 99), (99, 99, 94, 96), (96, 100, 96, 100)])
    result = run(candles, signals, {"X": detail})
    assert result.trades["exit_reason"].tolist() == ["take_profit"]
    assert result.trades["exit_price"].iloc[0] == pytest.approx(105.0)
    intrabar = result.summary["execution"]["intrabar"]
    assert intrabar["resolved_target_first"] == 1 and intrabar["detail_timeframe"] == "15m"


def test_finer_candles_that_agree_with_the_coarse_rule_give_the_coarse_run():
    candles, signals = both_hit_case()
    bar = candles.index[2]
    detail = minutes(str(bar), [(100, 100, 94, 96), (96, 106, 96, 104), (104, 104, 100, 100), (100, 100, 100, 100)])
    fine, coarse = run(candles, signals, {"X": detail}), run(candles, signals)
    pd.testing.assert_frame_equal(fine.trades, coarse.trades)
    pd.testing.assert_frame_equal(fine.equity, coarse.equity)
    assert fine.summary["execution"]["intrabar"]["resolved_stop_first"] == 1


def test_a_partial_target_first_leaves_the_rest_to_the_stop_later_in_the_bar():
    candles, signals = both_hit_case()
    signals.iloc[0, signals.columns.get_loc("take_profit_fraction")] = 0.5
    bar = candles.index[2]
    detail = minutes(str(bar), [(100, 106, 100, 104), (104, 104, 94, 96), (96, 96, 96, 96), (96, 100, 96, 100)])
    result = run(candles, signals, {"X": detail})
    assert result.trades["exit_reason"].tolist() == ["take_profit", "stop_loss"]
    assert result.trades["exit_price"].tolist() == pytest.approx([105.0, 95.0])


def test_incomplete_finer_candles_leave_the_coarse_rule():
    candles, signals = both_hit_case()
    bar = candles.index[2]
    detail = minutes(str(bar), [(100, 106, 100, 104), (104, 104, 99, 99), (99, 99, 94, 96)])  # 3 of 4 quarters
    result = run(candles, signals, {"X": detail})
    assert result.trades["exit_reason"].tolist() == ["stop_loss"]
    assert result.summary["execution"]["intrabar"]["bars_with_detail"] == 0


def test_on_random_walks_finer_candles_change_only_bars_that_reached_both_levels():
    """Hourly candles built from 1-minute ones: every trade not exiting on an ambiguous bar is identical."""
    rng = np.random.default_rng(3)
    minutes_index = pd.date_range("2024-01-01", periods=60 * 24 * 20, freq="1min", tz="UTC")
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, len(minutes_index))))
    opens = np.r_[100.0, close[:-1]]
    fine = pd.DataFrame({"open": opens, "high": np.maximum(opens, close) * (1 + rng.uniform(0, 0.001, len(close))),
                         "low": np.minimum(opens, close) * (1 - rng.uniform(0, 0.001, len(close))), "close": close},
                        index=minutes_index)
    hourly = fine.resample("1h").agg({"open": "first", "high": "max", "low": "min", "close": "last"})
    hourly["volume"] = 1.0
    signals = BaseStrategy.empty_signals(hourly.index)
    entries = np.zeros(len(hourly), dtype=bool)
    entries[::12] = True
    signals["entry"] = entries
    signals["stop"] = hourly["close"] * 0.99
    signals["take_profit"] = hourly["close"] * 1.01
    coarse = run(hourly, signals)
    detailed = run(hourly, signals, {"X": fine})
    intrabar = detailed.summary["execution"]["intrabar"]
    assert intrabar["bars_with_detail"] == len(hourly)
    assert intrabar["bars_reaching_stop_and_target"] > 0
    assert intrabar["resolved_target_first"] + intrabar["resolved_stop_first"] + intrabar["coarse_rule"] == \
        intrabar["bars_reaching_stop_and_target"]
    assert intrabar["resolved_target_first"] > 0
    # Up to the first bar the finer candles resolved for the target, the runs are identical trade for trade;
    # there the coarse run stopped out and the detailed one took profit, on the same bar.
    a, b = detailed.trades, coarse.trades
    first = next(i for i in range(min(len(a), len(b))) if not a.iloc[i].equals(b.iloc[i]))
    pd.testing.assert_frame_equal(a.iloc[:first], b.iloc[:first])
    assert (a.iloc[first]["exit_reason"], b.iloc[first]["exit_reason"]) == ("take_profit", "stop_loss")
    assert a.iloc[first]["exit_time"] == b.iloc[first]["exit_time"]
    assert a.iloc[first]["entry_time"] == b.iloc[first]["entry_time"]
