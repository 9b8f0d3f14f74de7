"""Fills, costs, stops, targets, scaling and gaps, checked by hand on a few bars."""

from __future__ import annotations

import pytest

from backtests.engine import EngineConfig, RiskLimits, run_signals

from .conftest import frictionless, make_candles, make_signals


def run_one(candles, signals, config):
    return run_signals({"X": candles}, {"X": signals}, config)


def test_signal_fills_at_next_open_with_fee_and_slippage():
    candles = make_candles([100.0, 101.0, 102.0, 103.0, 104.0], closes=[100.5, 101.5, 102.5, 103.5, 104.5])
    signals = make_signals(candles, entry=[0], exit=[2])
    config = EngineConfig(initial_capital=10_000.0, fee_rate=0.001, slippage_rate=0.005, sizing="fixed_fraction",
                          fixed_fraction=0.5, risk=RiskLimits.unlimited())
    result = run_one(candles, signals, config)

    buy_price = 101.0 * 1.005  # bar 1 open, slippage against a buyer
    value = 0.5 * 10_000.0 / 1.001  # half the equity, entry fee included
    quantity = value / buy_price
    sell_price = 103.0 * 0.995  # bar 3 open, slippage against a seller
    fees = 0.001 * quantity * buy_price + 0.001 * quantity * sell_price
    slippage = quantity * (buy_price - 101.0) + quantity * (103.0 - sell_price)
    pnl = quantity * (sell_price - buy_price) - fees

    assert len(result.trades) == 1
    trade = result.trades.iloc[0]
    assert trade.entry_time == candles.index[1] and trade.exit_time == candles.index[3]
    assert trade.entry_price == pytest.approx(buy_price)
    assert trade.exit_price == pytest.approx(sell_price)
    assert trade.quantity == pytest.approx(quantity)
    assert trade.fees == pytest.approx(fees)
    assert trade.slippage_cost == pytest.approx(slippage)
    assert trade.pnl == pytest.approx(pnl)
    assert trade.exit_reason == "signal"
    assert result.summary["final_equity"] == pytest.approx(10_000.0 + pnl)
    assert result.summary["fees_total"] == pytest.approx(fees)
    assert result.summary["slippage_total"] == pytest.approx(slippage)
    # while held, equity is cash plus the position marked at the close
    cash_after_buy = 10_000.0 - quantity * buy_price - 0.001 * quantity * buy_price
    assert result.equity["equity"].iloc[2] == pytest.approx(cash_after_buy + quantity * 102.5)
    assert list(result.orders["side"]) == ["buy", "sell"]


def test_latency_longer_than_a_bar_moves_the_fill_to_the_bar_containing_close_plus_latency():
    candles = make_candles([100.0, 101.0, 102.0, 103.0, 104.0, 105.0])
    signals = make_signals(candles, entry=[0], exit=[2])
    result = run_one(candles, signals, frictionless(sizing="fixed_fraction", latency_ms=3_600_000))
    trade = result.trades.iloc[0]
    assert trade.entry_time == candles.index[2] and trade.entry_price == 102.0
    assert trade.exit_time == candles.index[4] and trade.exit_price == 104.0
    assert result.summary["fill_lag_bars"] == 2


@pytest.mark.parametrize(
    ("bar2_open", "bar2_low", "expected_exit"),
    [(99.0, 94.0, 95.0),  # the range reaches the stop: filled at the stop
     (90.0, 89.0, 90.0)],  # the bar opens below the stop: filled at the open
)
def test_stop_fills_at_stop_price_or_at_gapped_open(bar2_open, bar2_low, expected_exit):
    candles = make_candles([100.0, 100.0, bar2_open, 99.0], lows=[100.0, 100.0, bar2_low, 99.0])
    signals = make_signals(candles, entry=[0], stop={0: 95.0})
    result = run_one(candles, signals, frictionless())
    trade = result.trades.iloc[0]
    assert trade.exit_reason == "stop_loss"
    assert trade.exit_time == candles.index[2]
    assert trade.exit_price == pytest.approx(expected_exit)
    # risk sizing: 1% of 10,000 at risk over a 5.0 distance to the stop
    assert trade.quantity == pytest.approx(100.0 / 5.0)


def test_stop_fill_pays_slippage_against_the_seller():
    candles = make_candles([100.0, 100.0, 99.0, 99.0], lows=[100.0, 100.0, 94.0, 99.0])
    signals = make_signals(candles, entry=[0], stop={0: 95.0})
    result = run_one(candles, signals, frictionless(slippage_rate=0.01))
    assert result.trades.iloc[0].exit_price == pytest.approx(95.0 * 0.99)


def test_take_profit_closes_the_given_fraction_then_the_rest_on_the_exit_signal():
    candles = make_candles([100.0, 100.0, 105.0, 108.0, 109.0, 110.0], highs=[100, 100, 111, 108, 109, 110])
    signals = make_signals(candles, entry=[0], exit=[3], stop={0: 90.0}, take_profit={0: 110.0},
                           take_profit_fraction={0: 0.5})
    result = run_one(candles, signals, frictionless())
    trades = result.trades
    assert list(trades["exit_reason"]) == ["take_profit", "signal"]
    assert list(trades["is_partial"]) == [True, False]
    total = 100.0 / 10.0  # risk sizing: 1% of 10,000 over 10.0 to the stop
    assert trades["quantity"].tolist() == pytest.approx([total / 2, total / 2])
    assert trades["exit_price"].tolist() == pytest.approx([110.0, 109.0])
    assert trades["exit_time"].tolist() == [candles.index[2], candles.index[4]]
    assert result.summary["final_equity"] == pytest.approx(10_000.0 + 5 * 10.0 + 5 * 9.0)


def test_take_profit_gapped_through_fills_at_the_open():
    candles = make_candles([100.0, 100.0, 115.0, 116.0])
    signals = make_signals(candles, entry=[0], stop={0: 90.0}, take_profit={0: 110.0})
    result = run_one(candles, signals, frictionless())
    assert result.trades.iloc[0].exit_price == pytest.approx(115.0)
    assert not result.trades.iloc[0].is_partial


def test_scaling_in_averages_the_entry_price():
    candles = make_candles([100.0, 100.0, 110.0, 110.0, 120.0])
    signals = make_signals(candles, entry=[0], scale_in=[1], exit=[3], stop={0: 90.0})
    result = run_one(candles, signals, frictionless())
    first = 100.0 / 10.0  # 1% of 10,000 over 10.0 to the stop
    equity_at_scale = 10_000.0 + first * 10.0  # marked at the bar-2 open
    second = 0.01 * equity_at_scale / 20.0  # 20.0 from 110 to the stop at 90
    average = (first * 100.0 + second * 110.0) / (first + second)
    trade = result.trades.iloc[0]
    assert len(result.trades) == 1
    assert trade.quantity == pytest.approx(first + second)
    assert trade.entry_price == pytest.approx(average)
    assert trade.pnl == pytest.approx((120.0 - average) * (first + second))
    assert list(result.orders["kind"]) == ["entry", "scale_in", "signal"]


def test_entry_expires_when_the_next_bar_is_missing():
    candles = make_candles([100.0, 101.0, 102.0, 103.0, 104.0], drop=[2])
    signals = make_signals(candles, entry=[1])  # bar 2 is missing: no fill at bar 3 either
    result = run_one(candles, signals, frictionless(sizing="fixed_fraction"))
    assert result.trades.empty and result.orders.empty
    assert result.summary["refusals"]["gap_expired"] == 1
    assert len(result.equity) == 5  # the grid keeps the missing hour


def test_exit_waits_for_the_next_existing_bar():
    candles = make_candles([100.0, 101.0, 102.0, 103.0, 104.0, 105.0], drop=[3])
    signals = make_signals(candles, entry=[0], exit=[2])  # bar 3 is missing: exit at bar 4's open
    result = run_one(candles, signals, frictionless(sizing="fixed_fraction"))
    trade = result.trades.iloc[0]
    assert trade.exit_time == candles.index[3]  # positional 3 after the drop == grid bar 4
    assert trade.exit_price == 104.0


def test_open_position_is_closed_at_the_end_of_data():
    candles = make_candles([100.0, 101.0, 102.0], closes=[100.0, 101.0, 103.0])
    signals = make_signals(candles, entry=[0])
    result = run_one(candles, signals, frictionless(sizing="fixed_fraction"))
    trade = result.trades.iloc[0]
    assert trade.exit_reason == "end_of_data" and trade.exit_price == 103.0
    kept = run_one(candles, signals, frictionless(sizing="fixed_fraction", close_at_end=False))
    assert kept.trades.empty
    assert kept.summary["final_equity"] == pytest.approx(result.summary["final_equity"])


def test_entry_signal_on_the_last_bar_is_recorded_as_unfillable():
    candles = make_candles([100.0, 101.0])
    result = run_one(candles, make_signals(candles, entry=[1]), frictionless(sizing="fixed_fraction"))
    assert result.summary["refusals"]["end_of_data"] == 1


def test_signals_must_be_aligned_with_candles():
    candles = make_candles([100.0, 101.0, 102.0])
    signals = make_signals(candles, entry=[0]).iloc[1:]
    with pytest.raises(ValueError, match="indexed exactly like its candles"):
        run_one(candles, signals, frictionless())


def test_short_positions_need_allow_short_and_profit_when_price_falls():
    candles = make_candles([100.0, 100.0, 95.0, 90.0, 90.0], highs=[100, 100, 101, 90, 90])
    signals = make_signals(candles, entry=[0], exit=[2], stop={0: 110.0})
    signals["direction"] = -1
    refused = run_one(candles, signals, frictionless())
    assert refused.trades.empty and refused.summary["refusals"]["short_not_allowed"] == 1

    result = run_one(candles, signals, frictionless(allow_short=True, fee_rate=0.001))
    trade = result.trades.iloc[0]
    quantity = 100.0 / 10.0  # 1% of 10,000 over 10.0 up to the stop
    assert trade.side == "short" and trade.quantity == pytest.approx(quantity)
    fees = 0.001 * quantity * (100.0 + 90.0)
    assert trade.pnl == pytest.approx((100.0 - 90.0) * quantity - fees)
    assert result.summary["final_equity"] == pytest.approx(10_000.0 + trade.pnl)
    assert list(result.orders["side"]) == ["sell", "buy"]


def test_short_stop_fills_above():
    candles = make_candles([100.0, 100.0, 104.0, 104.0], highs=[100, 100, 111, 104])
    signals = make_signals(candles, entry=[0], stop={0: 110.0})
    signals["direction"] = -1
    trade = run_one(candles, signals, frictionless(allow_short=True)).trades.iloc[0]
    assert trade.exit_reason == "stop_loss" and trade.exit_price == pytest.approx(110.0)
    assert trade.pnl == pytest.approx(-10.0 * 10.0)
