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
