"""Trade-dependent costs: maker/taker fees, volume-share slippage and its cap, carry per hour."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from backtests.engine import CostModel, EngineConfig, RiskLimits, run_signals
from backtests.engine.liquidity import last_bar_quote_volume, quote_volume

from .conftest import frictionless, make_candles, make_signals


def run_one(candles: pd.DataFrame, signals: pd.DataFrame, config: EngineConfig):
    return run_signals({"X": candles}, {"X": signals}, config)


def with_volume(candles: pd.DataFrame, volumes) -> pd.DataFrame:
    out = candles.copy()
    out["volume"] = np.asarray(volumes, dtype=float)
    return out


# --------------------------------------------------------------------------- maker / taker
def test_a_maker_rate_makes_take_profits_limit_orders_and_leaves_other_fills_takers():
    candles = make_candles([100.0, 100.0, 100.0, 100.0], highs=[100, 100, 112, 100])
    signals = make_signals(candles, entry=[0], stop={0: 90.0}, take_profit={0: 110.0})
    costs = CostModel(maker_fee_rate=0.0002, short_carry_rate_per_hour=0.0)
    config = frictionless(fee_rate=0.001, slippage_rate=0.005, costs=costs)
    result = run_one(candles, signals, config)
    entry, exit_ = result.orders.iloc[0], result.orders.iloc[1]
    assert entry.kind == "entry" and entry.price == pytest.approx(100.0 * 1.005)
    assert entry.fee == pytest.approx(0.001 * entry.quantity * entry.price)
    assert exit_.kind == "take_profit" and exit_.price == pytest.approx(110.0)  # at the limit, no slippage
    assert exit_.fee == pytest.approx(0.0002 * exit_.quantity * 110.0) and exit_.slippage_cost == 0.0

    flat = run_one(candles, signals, frictionless(fee_rate=0.001, slippage_rate=0.005))
    tp = flat.orders.iloc[1]
    assert tp.price == pytest.approx(110.0 * 0.995) and tp.fee == pytest.approx(0.001 * tp.quantity * tp.price)
    assert result.summary["execution"]["fees"].startswith("maker/taker")


# --------------------------------------------------------------------------- quote volume
def test_quote_volume_is_the_given_column_or_base_volume_times_typical_price():
    candles = make_candles([10.0, 20.0], highs=[12, 24], lows=[8, 16], closes=[11, 22])
    candles["volume"] = [100.0, 50.0]
    derived, count = quote_volume(candles)
    assert derived.tolist() == pytest.approx([100.0 * (12 + 8 + 11) / 3, 50.0 * (24 + 16 + 22) / 3]) and count == 2
    candles["quote_volume"] = [5_000.0, np.nan]
    mixed, count = quote_volume(candles)
    assert mixed.tolist() == pytest.approx([5_000.0, 50.0 * 62 / 3]) and count == 1


def test_a_fill_is_measured_against_the_last_completed_bar():
    dense = np.array([[1.0, np.nan], [2.0, 5.0], [np.nan, 6.0], [4.0, np.nan]])
    expected = np.array([[np.nan, np.nan], [1.0, np.nan], [2.0, 5.0], [2.0, 6.0]])
    np.testing.assert_array_equal(last_bar_quote_volume(dense), expected)


# --------------------------------------------------------------------------- volume-share slippage
def volume_config(**costs) -> EngineConfig:
    model = CostModel(slippage_model="volume_share", short_carry_rate_per_hour=0.0, **costs)
    return frictionless(slippage_rate=0.001, sizing="fixed_fraction", fixed_fraction=0.5, costs=model)


def test_volume_share_slippage_follows_the_square_root_law():
    """slippage = slippage_rate + Y * sigma * sqrt(value / last bar's quote volume), sigma from earlier bars."""
    closes = [100.0, 101.0, 99.5, 100.5, 100.0, 100.0, 100.0, 100.0]
    candles = with_volume(make_candles(closes), [2_000.0] * 8)
    signals = make_signals(candles, entry=[3], exit=[5])
    result = run_one(candles, signals, volume_config(volume_impact=0.7, max_volume_share=1.0))
    entry = result.orders.iloc[0]  # filled at bar 4's open
    sigma = np.std(np.diff(np.log(closes[:4])), ddof=1)  # the returns of bars 1..3, known at bar 4's open
    quote = 2_000.0 * closes[3]  # the last completed bar's quote volume (flat candles: typical price = close)
    share = entry.quantity * entry.price / quote
    assert entry.price == pytest.approx(closes[4] * (1 + 0.001 + 0.7 * sigma * math.sqrt(share)), rel=1e-12)
    exit_ = result.orders.iloc[1]  # bar 6's open
    sigma_exit = np.std(np.diff(np.log(closes[:6])), ddof=1)
    exit_share = exit_.quantity * closes[6] / (2_000.0 * closes[5])
    assert exit_.price == pytest.approx(closes[6] * (1 - 0.001 - 0.7 * sigma_exit * math.sqrt(exit_share)),
                                        rel=1e-12)
    thin = run_one(with_volume(candles, [20.0] * 8), signals, volume_config(volume_impact=0.7, max_volume_share=1.0))
    assert thin.orders.iloc[0].price > entry.price  # the same order costs more in a thinner market
    calm = run_one(with_volume(make_candles([100.0] * 8), [2_000.0] * 8), signals, volume_config(volume_impact=0.7))
    assert calm.orders.iloc[0].price == pytest.approx(100.0 * 1.001)  # no volatility, no impact


def test_an_entry_is_cut_to_the_volume_cap_and_refused_below_the_minimum_size():
    candles = with_volume(make_candles([100.0] * 4), [100.0] * 4)  # 10k of quote volume a bar
    signals = make_signals(candles, entry=[0], exit=[2])
    result = run_one(candles, signals, volume_config(volume_impact=0.0, max_volume_share=0.1))
    entry = result.orders.iloc[0]
    assert entry.quantity * entry.price == pytest.approx(0.1 * 10_000.0, rel=1e-12)  # the cap: 10% of 10k

    limits = RiskLimits(min_position_pct=0.2, max_position_pct=1.0, max_portfolio_heat_pct=10.0,
                        correlation_limit=math.inf)
    config = EngineConfig(initial_capital=10_000.0, fee_rate=0.0, slippage_rate=0.0, risk=limits,
                          sizing="fixed_fraction", fixed_fraction=0.5,
                          costs=CostModel(slippage_model="volume_share", max_volume_share=0.1))
    refused = run_one(candles, signals, config)  # the cap (1k) is below the minimum position (2k)
    assert refused.trades.empty and refused.summary["refusals"]["volume_cap"] == 1


def test_an_exit_larger_than_the_cap_fills_the_cap_and_the_rest_at_the_next_opens():
    volumes = [1_000.0, 1_000.0, 1_000.0, 30.0, 30.0, 30.0, 30.0, 30.0]  # liquidity dries up after the entry
    candles = with_volume(make_candles([100.0] * 8), volumes)
    signals = make_signals(candles, entry=[0], exit=[3])
    result = run_one(candles, signals, volume_config(volume_impact=0.0, max_volume_share=0.5))
    position = result.orders.iloc[0].quantity
    exits = result.orders.iloc[1:]
    assert list(exits["kind"]) == ["signal"] * len(exits) and len(exits) > 1
    assert exits["quantity"].sum() == pytest.approx(position)
    assert (exits["quantity"].iloc[:-1] * 100.0).tolist() == pytest.approx([0.5 * 3_000.0] * (len(exits) - 1))
    assert list(exits["time"]) == list(candles.index[4:4 + len(exits)])  # one capped fill a bar
    assert result.trades["is_partial"].tolist() == [True] * (len(exits) - 1) + [False]
    assert result.summary["execution"]["exits_cut_by_volume_cap"] == len(exits) - 1


def test_an_entry_without_measurable_volume_is_refused():
    candles = with_volume(make_candles([100.0] * 4), [0.0] * 4)
    result = run_one(candles, make_signals(candles, entry=[0], exit=[2]), volume_config())
    assert result.trades.empty and result.summary["refusals"]["no_volume"] == 1


def test_the_fixed_model_ignores_volume():
    candles = make_candles([100.0] * 4)
    signals = make_signals(candles, entry=[0], exit=[2])
    cheap = run_one(with_volume(candles, [1e9] * 4), signals, frictionless(slippage_rate=0.005))
    dear = run_one(with_volume(candles, [1.0] * 4), signals, frictionless(slippage_rate=0.005))
    pd.testing.assert_frame_equal(cheap.orders, dear.orders)


# --------------------------------------------------------------------------- carry
def test_a_short_pays_carry_per_hour_on_its_value_at_each_close_shown_per_trade():
    closes = [100.0, 100.0, 98.0, 96.0, 94.0, 94.0]
    candles = make_candles(closes, highs=[100] * 6)
    signals = make_signals(candles, entry=[0], exit=[4], stop={0: 110.0})
    signals["direction"] = -1
    rate = 0.0001
    config = frictionless(allow_short=True, costs=CostModel(short_carry_rate_per_hour=rate))
    result = run_one(candles, signals, config)
    trade = result.trades.iloc[0]
    held_closes = closes[1:5]  # filled at bar 1's open, held through the closes of bars 1..4, out at bar 5's open
    assert trade.carry == pytest.approx(rate * trade.quantity * sum(held_closes), rel=1e-12)
    assert trade.pnl == pytest.approx((100.0 - 94.0) * trade.quantity - trade.carry, rel=1e-12)
    assert result.summary["final_equity"] == pytest.approx(10_000.0 + trade.pnl)
    assert result.summary["carry_total"] == pytest.approx(trade.carry)

    free = run_one(candles, signals, frictionless(allow_short=True))
    assert free.trades.iloc[0].carry == 0.0


def test_carry_scales_with_the_bar_length_and_splits_over_partial_exits():
    candles = make_candles([100.0] * 6, highs=[100, 100, 100, 105, 100, 100], freq="4h")
    signals = make_signals(candles, entry=[0], exit=[4], stop={0: 90.0}, take_profit={0: 104.0},
                           take_profit_fraction={0: 0.5})
    rate = 0.00005
    result = run_one(candles, signals, frictionless(costs=CostModel(long_carry_rate_per_hour=rate,
                                                                      short_carry_rate_per_hour=0.0)))
    first, rest = result.trades.iloc[0], result.trades.iloc[1]
    quantity = first.quantity + rest.quantity
    paid_before_target = rate * 4 * quantity * 100.0 * 2  # held through the closes of bars 1 and 2
    assert first.carry == pytest.approx(paid_before_target / 2)
    assert rest.carry == pytest.approx(paid_before_target / 2 + rate * 4 * rest.quantity * 100.0 * 2)


def test_the_default_model_charges_shorts_the_baseline_funding_and_longs_nothing():
    model = CostModel()
    assert model.short_carry_rate_per_hour == pytest.approx(0.0001 / 8) and model.long_carry_rate_per_hour == 0.0


@pytest.mark.parametrize("bad, message", [
    ({"slippage_model": "magic"}, "slippage_model must be one of"),
    ({"max_volume_share": 0.0}, "max_volume_share must be in"),
    ({"volume_impact": -1.0}, "volume_impact must be"),
    ({"volatility_window": 1}, "volatility_window must be"),
    ({"maker_fee_rate": "0.1"}, "maker_fee_rate must be"),
    ({"short_carry_rate_per_hour": 0.5}, "short_carry_rate_per_hour must be"),
    ({"spread": 1.0}, "unknown cost model key"),
])
def test_bad_cost_models_are_refused_with_a_message(bad, message):
    with pytest.raises(ValueError, match=message):
        CostModel.from_dict(bad)
