"""Look-ahead: a run on data cut at time T makes exactly the decisions of the full run up to T."""

from __future__ import annotations

import pandas as pd
import pytest

from backtests.engine import BaseStrategy, EngineConfig, MarketData, run_backtest
from strategies.examples import SmaCrossover


def decisions_up_to(result, cut: pd.Timestamp) -> pd.DataFrame:
    """Fills at or before ``cut``, without the forced end-of-data closes of the cut run."""
    orders = result.orders
    return orders[(orders["time"] <= cut) & (orders["kind"] != "end_of_data")].reset_index(drop=True)


def run_full_and_cut(strategy: BaseStrategy, candles: pd.DataFrame, cut: pd.Timestamp):
    config = EngineConfig()  # default costs and risk limits: sizing depends on the equity path too
    full = run_backtest(strategy, MarketData(candles={"BTC": candles}), config)
    short = run_backtest(strategy, MarketData(candles={"BTC": candles}).cut(cut), config)
    return full, short


def assert_same_decisions(full, short, cut: pd.Timestamp) -> None:
    """Same signals (the decisions taken at each close) and the same fills and equity up to ``cut``."""
    for column in ("entry", "exit", "stop"):
        pd.testing.assert_series_equal(short.signals["BTC"][column], full.signals["BTC"][column].loc[:cut])
    pd.testing.assert_frame_equal(decisions_up_to(short, cut), decisions_up_to(full, cut))
    before = full.equity.index < cut
    pd.testing.assert_frame_equal(short.equity.loc[short.equity.index < cut], full.equity.loc[before])


@pytest.mark.parametrize("cut", ["2022-03-17 13:00", "2022-11-09 05:00"])
def test_cut_run_makes_the_same_decisions_as_the_full_run(btc_candles, cut):
    cut = pd.Timestamp(cut, tz="UTC")
    full, short = run_full_and_cut(SmaCrossover(fast=20, slow=50, stop_pct=0.03), btc_candles, cut)
    assert len(decisions_up_to(full, cut)) > 10
    assert_same_decisions(full, short, cut)


class PeekingSmaCrossover(SmaCrossover):
    """Deliberately wrong: decides on the *next* bar's crossover (shift(-1))."""

    name = "peeking_sma_crossover"

    def generate_signals(self, data: MarketData) -> dict[str, pd.DataFrame]:
        signals = super().generate_signals(data)
        for frame in signals.values():
            for column in ("entry", "exit"):
                frame[column] = frame[column].shift(-1, fill_value=False)
        return signals


def test_the_check_catches_a_strategy_that_peeks(btc_candles):
    honest = run_backtest(SmaCrossover(), MarketData(candles={"BTC": btc_candles}), EngineConfig())
    crossings = honest.signals["BTC"].index[honest.signals["BTC"]["entry"].to_numpy()]
    cut = crossings[len(crossings) // 2] - pd.Timedelta(hours=1)  # the bar before a crossover
    full, short = run_full_and_cut(PeekingSmaCrossover(stop_pct=0.03), btc_candles, cut)
    with pytest.raises(AssertionError):
        assert_same_decisions(full, short, cut)
