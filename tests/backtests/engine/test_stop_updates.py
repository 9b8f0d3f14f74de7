"""Stop discipline: a repeated signal's stop moves an open position's stop only as the strategy declares."""

from __future__ import annotations

import pandas as pd
import pytest

from backtests.engine import EngineConfig, MarketData, run_backtest, run_signals
from strategies.base import BaseStrategy
from strategies.registry import check_strategy_class

from .conftest import frictionless, make_candles, make_signals

# A long entered at bar 1's open (100) with its stop at 95; at bar 1 a repeated entry signal brings a lower
# stop (90), at bar 2 a higher one (97). Bar 3 trades down to 93.
CLOSES = [100.0, 100.0, 100.0, 100.0, 100.0]
LOWS = [100, 100, 100, 93, 100]


def signals_with_moves(candles: pd.DataFrame, *, short: bool = False) -> pd.DataFrame:
    if short:
        frame = make_signals(candles, entry=[0, 1], stop={0: 105.0, 1: 110.0, 2: 103.0})
        frame["direction"] = -1
        return frame
    return make_signals(candles, entry=[0, 1], stop={0: 95.0, 1: 90.0, 2: 97.0})


def run(rule: str, *, short: bool = False):
    candles = make_candles(CLOSES, highs=[100, 100, 100, 107, 100] if short else None,
                           lows=None if short else LOWS)
    config = frictionless(stop_updates=rule, allow_short=short)
    return run_signals({"X": candles}, {"X": signals_with_moves(candles, short=short)}, config)


def test_tighten_refuses_the_lower_stop_and_takes_the_higher_one():
    result = run("tighten")
    trade = result.trades.iloc[0]
    assert trade.exit_reason == "stop_loss" and trade.exit_price == pytest.approx(97.0)
    assert result.summary["execution"]["stop_moves_refused"] == 1
    assert result.summary["execution"]["stop_updates"] == "tighten"


def test_tighten_for_a_short_moves_the_stop_down_only():
    result = run("tighten", short=True)
    trade = result.trades.iloc[0]
    assert trade.exit_reason == "stop_loss" and trade.exit_price == pytest.approx(103.0)
    assert result.summary["execution"]["stop_moves_refused"] == 1


def test_never_keeps_the_entry_stop():
    result = run("never")
    trade = result.trades.iloc[0]
    assert trade.exit_reason == "stop_loss" and trade.exit_price == pytest.approx(95.0)
    assert result.summary["execution"]["stop_moves_refused"] == 2


def test_any_follows_every_move_as_declared():
    result = run("any")
    assert result.trades.iloc[0].exit_price == pytest.approx(97.0)  # 95 -> 90 -> 97: the last move wins
    loosened = run_signals(
        {"X": make_candles(CLOSES, lows=LOWS)},
        {"X": make_signals(make_candles(CLOSES, lows=LOWS), entry=[0, 1], stop={0: 95.0, 1: 90.0})},
        frictionless(stop_updates="any"))
    assert loosened.trades.iloc[0].exit_reason != "stop_loss"  # 93 never reaches the loosened 90
    assert loosened.summary["execution"]["stop_moves_refused"] == 0


class RepeatsEntries(BaseStrategy):
    name = "repeats_entries"
    universe = ("BTC",)

    def generate_signals(self, data: MarketData) -> dict[str, pd.DataFrame]:
        candles = data.candles["BTC"]
        return {"BTC": signals_with_moves(candles)}


def test_run_backtest_takes_the_rule_the_strategy_declares():
    candles = make_candles(CLOSES, lows=LOWS)
    data = MarketData(candles={"BTC": candles})
    config = EngineConfig(initial_capital=10_000.0, fee_rate=0.0, slippage_rate=0.0, stop_updates="any")

    class Loosens(RepeatsEntries):
        stop_updates = "any"

    class Keeps(RepeatsEntries):
        stop_updates = "never"

    assert run_backtest(Keeps(), data, config).summary["execution"]["stop_updates"] == "never"
    assert run_backtest(Loosens(), data, config).summary["execution"]["stop_updates"] == "any"
    assert run_backtest(RepeatsEntries(), data, config).summary["execution"]["stop_updates"] == "tighten"


def test_the_registry_refuses_an_unknown_rule():
    class Bad(RepeatsEntries):
        stop_updates = "sometimes"

    with pytest.raises(ValueError, match="stop_updates 'sometimes' is unknown"):
        check_strategy_class(Bad)


def test_a_bad_rule_in_the_engine_config_is_refused():
    with pytest.raises(ValueError, match="stop_updates must be one of"):
        EngineConfig(stop_updates="loose")
