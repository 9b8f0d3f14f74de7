"""The edge and selection evidence as the walk-forward computes it, on markets with a known answer.

A price path with lasting trends has an edge a trend follower can take; a random walk
has none. The permutation test of the signal (through the real engine) and the selection tests must tell them
apart; buy-and-hold of the universe is checked by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics import evidence
from analytics.services import ResearchData, signal_permutation_test
from backtests.services import engine_config
from strategies.base import MarketData
from strategies.examples import SmaCrossover

START = pd.Timestamp("2024-01-01", tz="UTC")
PARAMS = {"fast": 5, "slow": 20, "stop_pct": 0.1}


def _market(trend: float, seed: int, n: int = 3000) -> MarketData:
    """Hourly candles: noise plus a drift of ``trend`` per bar that turns from up to down every 100 bars
    (0: a random walk). Trends that last are what a moving-average crossover can follow; permuting the bars
    destroys them."""
    rng = np.random.default_rng(seed)
    drift = trend * np.sign(np.sin(2 * np.pi * (np.arange(n) + 0.5) / 200))
    returns = drift + rng.normal(0.0, 0.01, n)
    close = 100.0 * np.exp(np.cumsum(returns))
    opens = np.concatenate([[100.0], close[:-1]])
    index = pd.date_range(START, periods=n, freq="1h")
    frame = pd.DataFrame({"open": opens, "high": np.maximum(opens, close) * 1.001,
                          "low": np.minimum(opens, close) * 0.999, "close": close, "volume": 1.0}, index=index)
    return MarketData(candles={"BTC": frame})


def _data(market: MarketData) -> ResearchData:
    config = engine_config({"fee_rate": 0.0, "slippage_rate": 0.0, "latency_ms": 0}, "1h")
    return ResearchData(strategy_class=SmaCrossover, market=market, timeframe="1h", config=config, symbols=["BTC"])


def test_the_permutation_test_finds_a_planted_edge_and_not_one_in_a_random_walk():
    window = (START + pd.Timedelta(hours=200), START + pd.Timedelta(hours=3000))
    trending = signal_permutation_test(_data(_market(0.003, seed=3)), PARAMS, *window, n_permutations=60, seed=1)
    assert trending["observed"] > trending["permuted_quantiles"]["95"]
    assert trending["p_value"] < 0.05 and trending["n_valid"] == 60
    for seed in (3, 4):
        noise = signal_permutation_test(_data(_market(0.0, seed=seed)), PARAMS, *window, n_permutations=60, seed=1)
        assert noise["p_value"] > 0.05, seed
    again = signal_permutation_test(_data(_market(0.003, seed=3)), PARAMS, *window, n_permutations=60, seed=1)
    assert again["p_value"] == trending["p_value"]  # seeded


def _trials(planted: bool, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2022-01-01", periods=720, freq="1D", tz="UTC")
    trials = pd.DataFrame(rng.normal(0.0, 0.01, (720, 12)), index=index,
                          columns=[f"trial {i}" for i in range(12)])
    if planted:
        trials["trial 0"] += 0.004  # an edge of about 6 annualised Sharpe
    return trials


def test_selection_tests_pass_a_planted_edge_and_fail_noise():
    benchmark = pd.Series(np.random.default_rng(9).normal(0.0, 0.01, 720), index=_trials(False).index)
    holdout = np.random.default_rng(5).normal(0.0, 0.01, 200)
    noise = evidence.selection_evidence(_trials(False), benchmark, holdout, [0.01] * 12,
                                        chosen_sharpe_annual=0.5, seed=1, reps=300)
    edge = evidence.selection_evidence(_trials(True), benchmark, holdout + 0.004, [0.01] * 12,
                                       chosen_sharpe_annual=6.0, seed=1, reps=300)
    assert noise["pbo"]["pbo"] >= 0.3 and edge["pbo"]["pbo"] < 0.1
    assert noise["spa"]["spa_pvalue"] > 0.1 and edge["spa"]["spa_pvalue"] < 0.05
    assert noise["spa"]["reality_check_pvalue"] > 0.1 and edge["spa"]["reality_check_pvalue"] < 0.05
    assert edge["cpcv"]["median_sharpe"] > 2 and abs(noise["cpcv"]["median_sharpe"]) < 1.5
    assert edge["min_backtest_length"]["sufficient"] and not noise["min_backtest_length"]["sufficient"]
    assert noise["effective_trials"]["n_effective"] == pytest.approx(12, rel=0.2)  # independent trials
    assert edge["deflated_sharpe_effective"]["dsr"] > 0.95 > noise["deflated_sharpe_effective"]["dsr"]


def test_buy_and_hold_is_the_equal_weight_daily_return_of_the_universe():
    index = pd.date_range("2024-01-01", periods=72, freq="1h", tz="UTC")
    up = pd.DataFrame({"close": np.repeat([100.0, 110.0, 121.0], 24)}, index=index)
    flat = pd.DataFrame({"close": np.repeat([50.0, 50.0, 40.0], 24)}, index=index)
    returns = evidence.buy_and_hold_returns({"UP": up, "FLAT": flat, "NONE": flat.iloc[:0]}, ["UP", "FLAT", "NONE"],
                                            index[0], index[-1] + pd.Timedelta(hours=1))
    assert returns.round(10).tolist() == [(0.10 + 0.0) / 2, (0.10 - 0.20) / 2]
