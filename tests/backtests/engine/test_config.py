"""Configuration and strategy-parameter validation."""

from __future__ import annotations

import math

import pytest

from backtests.engine import BaseStrategy, EngineConfig, Param, RiskLimits
from strategies.examples import SmaCrossover


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"initial_capital": -1.0}, "initial_capital"),
     ({"initial_capital": math.nan}, "initial_capital"),
     ({"fee_rate": 1.0}, "fee_rate"),
     ({"slippage_rate": -0.1}, "slippage_rate"),
     ({"latency_ms": -5}, "latency_ms"),
     ({"sizing": "kelly"}, "sizing"),
     ({"fixed_fraction": 0.0}, "fixed_fraction"),
     ({"bar_length": "-1h"}, "bar_length")],
)
def test_engine_config_rejects_invalid_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EngineConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"min_position_pct": 0.1, "max_position_pct": 0.05}, "must not exceed"),
     ({"max_drawdown_pct": 1.5}, "max_drawdown_pct"),
     ({"risk_per_trade_pct": 0.0}, "risk_per_trade_pct"),
     ({"drawdown_cooldown_bars": -1}, "drawdown_cooldown_bars"),
     ({"correlation_window": 2}, "correlation_window")],
)
def test_risk_limits_reject_invalid_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RiskLimits(**kwargs)


def test_risk_limits_from_the_model_default_dict():
    from backtests.models import default_risk_limits

    limits = RiskLimits.from_dict({**default_risk_limits(), "drawdown_cooldown_bars": 24})
    assert limits.max_drawdown_pct == default_risk_limits()["max_drawdown_pct"]
    assert limits.drawdown_cooldown_bars == 24
    assert RiskLimits.from_dict(default_risk_limits()) == RiskLimits()
    with pytest.raises(ValueError, match=r"unknown risk limit key.*max_leverage"):
        RiskLimits.from_dict({"max_leverage": 3})


def test_config_serialises_to_json_safe_dict():
    import json

    data = EngineConfig(risk=RiskLimits.unlimited()).to_dict()
    assert json.loads(json.dumps(data))["risk"]["max_position_pct"] is None


def test_strategy_parameters_are_validated_by_name_and_range():
    assert SmaCrossover().params == {"fast": 20, "slow": 50, "stop_pct": 0.0}
    with pytest.raises(ValueError, match=r"'fast'=500 .*int in \[2, 100\]"):
        SmaCrossover(fast=500)
    with pytest.raises(ValueError, match=r"unknown parameter.*speed"):
        SmaCrossover(speed=3)
    with pytest.raises(ValueError, match="must be below slow"):
        SmaCrossover(fast=60, slow=50)


def test_param_grid_and_kinds():
    assert Param(10, 5, 15, step=5).grid() == [5, 10, 15]
    assert Param(0.1, 0.1, 0.3, step=0.1, kind="float").grid() == pytest.approx([0.1, 0.2, 0.3])
    assert Param(True, kind="bool").grid() == [False, True]
    assert Param("ema", kind="choice", choices=("ema", "sma")).grid() == ["ema", "sma"]
    with pytest.raises(ValueError, match="low <= high"):
        Param(1, 5, 2)
    with pytest.raises(ValueError, match="invalid"):
        Param(99, 1, 10)  # default outside its own range

    class Tiny(BaseStrategy):
        name = "tiny"
        parameters = {"a": Param(1, 1, 2), "b": Param("x", kind="choice", choices=("x", "y"))}

        def generate_signals(self, data):
            return {}

    assert len(Tiny.parameter_grid()) == 4
    with pytest.raises(ValueError, match="'b'='z'"):
        Tiny(b="z")
