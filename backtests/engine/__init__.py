"""Pure backtest engine (numpy/pandas/numba; never imports Django).

Public API: ``run_backtest``, ``run_signals``, ``BacktestResult``, ``EngineConfig``, ``RiskLimits``, ``CostModel``,
``BaseStrategy``, ``Param``, ``MarketData``, ``EXECUTION_RULES``.
"""

from strategies.base import BaseStrategy, MarketData, Param

from .config import CostModel, EngineConfig, RiskLimits
from .run import EXECUTION_RULES, BacktestResult, run_backtest, run_signals

__all__ = [
    "EXECUTION_RULES",
    "BacktestResult",
    "BaseStrategy",
    "CostModel",
    "EngineConfig",
    "MarketData",
    "Param",
    "RiskLimits",
    "run_backtest",
    "run_signals",
]
