"""Every registered strategy runs through the engine on synthetic data and returns aligned signal frames."""

from __future__ import annotations

import json

import pytest

from backtests.engine.config import EngineConfig
from backtests.engine.run import run_backtest
from strategies.registry import STRATEGIES
from strategies.stable_lp_yield import StableLPYieldOptimizer
from tests.strategies.synthetic import make_market_data

#: The engine's baseline has no stop by default; risk sizing needs one.
PARAMS = {"sma_crossover": {"stop_pct": 0.05}}


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_runs_through_the_engine(name):
    cls = STRATEGIES[name]
    data = make_market_data(cls, bars=600, seed=3)
    strategy = cls(**PARAMS.get(name, {}))
    result = run_backtest(strategy, data, EngineConfig())
    assert result.summary["strategy"] == name
    assert result.signals and set(result.signals) <= set(data.candles)
    for symbol, frame in result.signals.items():
        assert frame.index.equals(data.candles[symbol].index)
        assert frame["entry"].dtype == bool and frame["exit"].dtype == bool
        assert not frame["entry"].iloc[: cls.warmup_bars].any()
        entries = frame["entry"]
        assert (frame["stop"][entries] < data.candles[symbol]["close"][entries]).all()
    json.dumps(result.summary)


def test_trades_happen_on_random_walks_without_regime_filter():
    """Not a vacuous run: with the filter off the momentum strategy trades on synthetic data."""
    cls = STRATEGIES["defi_derivatives_momentum"]
    data = make_market_data(cls, bars=600, seed=3)
    result = run_backtest(cls(use_regime_filter=False), data, EngineConfig())
    assert len(result.trades) > 0


def test_stable_strategy_yield_accrual_on_engine_run():
    data = make_market_data(StableLPYieldOptimizer, bars=600, seed=3)
    strategy = StableLPYieldOptimizer(use_regime_filter=False)
    signals = strategy.generate_signals(data)
    accrual = strategy.yield_accrual(data, signals)
    assert accrual.index.equals(data.candles["USDC"].index)
    assert (accrual >= 0).all() and accrual.iloc[-1] > 0
    assert accrual.max() < 1e-4  # a few percent a year is a tiny hourly rate
