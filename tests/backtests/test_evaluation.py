"""backtests.evaluation: the cut windows are shared between evaluations without leaking one's notes or data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from backtests.engine import EngineConfig
from backtests.evaluation import evaluate_window
from strategies.registry import get_strategy
from tests.strategies.synthetic import make_market_data


@pytest.fixture(scope="module")
def market():
    return make_market_data(get_strategy("layer2_growth"), bars=3000, seed=4)


def _evaluate(market, params, **kwargs):
    cls = get_strategy("layer2_growth")
    index = market.candles["ARB"].index
    return evaluate_window(cls(**params), market, EngineConfig(), index[1000], index[2900], index[1] - index[0],
                           **kwargs)


def test_trials_on_one_window_equal_fresh_evaluations(market):
    """The second trial reuses the window and the indicators the first computed (MarketData.memo); every
    trial's figures and notes equal those of an evaluation on a fresh copy of the data."""
    grid = [{"ema_fast": 10, "ema_slow": 50}, {"ema_fast": 20, "ema_slow": 100}, {"ema_fast": 10, "ema_slow": 100,
                                                                                  "use_regime_filter": False}]
    shared = [_evaluate(market, params) for params in grid]
    fresh = [_evaluate(dataclasses.replace(market), params) for params in grid]  # replace(): an empty memo
    for a, b in zip(shared, fresh, strict=True):
        assert a.performance == b.performance and a.notes == b.notes
        pd.testing.assert_frame_equal(a.result.trades, b.result.trades)
    assert shared[0].performance != shared[1].performance  # the parameters did change the result
    assert market.notes == []  # the windows' notes never reach the source data


def test_total_return_without_the_other_statistics_is_the_same_number(market):
    full = _evaluate(market, {})
    lean = _evaluate(market, {}, statistics=False)
    assert lean.performance == {} and lean.total_return == full.performance["total_return"] == full.total_return
    assert np.isfinite(lean.total_return)


def test_permuted_prices_reuse_the_context_of_the_real_bars(market, monkeypatch):
    """Data whose candles differ only in their prices (the signal test's permutations) reuses the on-chain and
    regime values that the real data's window aligned (MarketData.memo_context) and gives exactly what a fresh
    copy gives; data on other bars may not share them."""
    from analytics.edge import permute_bars
    from strategies import _common

    index = market.candles["ARB"].index
    permuted = permute_bars(market.candles, index[1000], np.random.default_rng(3))
    _evaluate(market, {})
    aligned = []
    original = _common._onchain_series
    monkeypatch.setattr(_common, "_onchain_series", lambda *a: aligned.append(a[1]) or original(*a))
    sharing = dataclasses.replace(market, candles=permuted)
    sharing.share_context(market)
    reused = _evaluate(sharing, {})
    assert aligned == []  # nothing aligned again
    fresh = _evaluate(dataclasses.replace(market, candles=permuted), {})
    assert sorted(set(aligned)) == ["ARB", "OP"]  # the fresh copy aligns its own
    assert reused.performance == fresh.performance and reused.notes == fresh.notes
    pd.testing.assert_frame_equal(reused.result.trades, fresh.result.trades)
    assert len(fresh.result.trades) and reused.performance != _evaluate(market, {}).performance
    with pytest.raises(ValueError, match="bars differ"):
        market.cut(index[2000]).share_context(market)
