"""The strategy registry: every runnable strategy class by its ``name``, and JSON-safe descriptions.

The API and the admin list strategies from :data:`STRATEGIES`; a backtest request names one, and
:func:`get_strategy` returns its class (``ValueError`` listing the valid names otherwise).

>>> describe_strategy(get_strategy("curve_wars"))["universe"]
['CRV', 'CVX', 'FXS']
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

from core.jsonsafe import json_safe
from strategies.base import INTERFACE_VERSION, BaseStrategy, Param
from strategies.curve_wars import CurveWarsSpecialist
from strategies.defi_derivatives_momentum import DefiDerivativesMomentum
from strategies.layer2_growth import Layer2EcosystemGrowth
from strategies.lending_value import LendingProtocolValue
from strategies.stable_lp_yield import StableLPYieldOptimizer

RESEARCH_STRATEGIES: tuple[type[BaseStrategy], ...] = (
    DefiDerivativesMomentum,
    StableLPYieldOptimizer,
    CurveWarsSpecialist,
    Layer2EcosystemGrowth,
    LendingProtocolValue,
)


def _baselines() -> tuple[type[BaseStrategy], ...]:
    """The engine's example strategy as a baseline, when the engine ships it."""
    try:
        from strategies.examples import SmaCrossover
    except ImportError:  # pragma: no cover - depends on the engine package's state
        return ()
    return (SmaCrossover,)


def _build_registry(classes: tuple[type[BaseStrategy], ...]) -> dict[str, type[BaseStrategy]]:
    registry: dict[str, type[BaseStrategy]] = {}
    for cls in classes:
        if not cls.name:
            raise ValueError(f"{cls.__name__} has no name")
        if cls.interface_version != INTERFACE_VERSION:
            raise ValueError(f"{cls.__name__} is written for strategy interface version {cls.interface_version}; "
                             f"this platform runs version {INTERFACE_VERSION}")
        if cls.predicted_win_rate is not None and not 0.0 <= cls.predicted_win_rate <= 1.0:
            raise ValueError(f"{cls.__name__}.predicted_win_rate must be a fraction in [0, 1], got "
                             f"{cls.predicted_win_rate!r}")
        if cls.name in registry:
            raise ValueError(f"duplicate strategy name {cls.name!r}: {registry[cls.name].__name__}, {cls.__name__}")
        registry[cls.name] = cls
    return registry


STRATEGIES: dict[str, type[BaseStrategy]] = _build_registry((*RESEARCH_STRATEGIES, *_baselines()))


def get_strategy(name: str) -> type[BaseStrategy]:
    """The strategy class registered as ``name``; ``ValueError`` listing the valid names otherwise."""
    try:
        return STRATEGIES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(sorted(STRATEGIES))}") from None


def build_strategy(strategy: str | type[BaseStrategy], parameters: dict | None) -> BaseStrategy:
    """The one parameter check: the strategy with ``parameters`` completed by defaults and validated by its
    class; ``ValueError`` naming the parameter and its range otherwise."""
    cls = get_strategy(strategy) if isinstance(strategy, str) else strategy
    if parameters is not None and not isinstance(parameters, dict):
        raise ValueError(f"parameters must be an object of name: value, got {type(parameters).__name__}")
    try:
        return cls(**(parameters or {}))
    except TypeError as exc:
        raise ValueError(str(exc)) from exc


def validated_parameters(strategy: str | type[BaseStrategy], parameters: dict | None) -> dict[str, Any]:
    """``parameters`` completed with defaults and validated (see :func:`build_strategy`)."""
    return build_strategy(strategy, parameters).params


def describe_param(param: Param) -> dict[str, Any]:
    """A parameter as JSON: default, low, high, step, kind, choices (None where not applicable)."""
    return {
        "default": json_safe(param.default),
        "low": json_safe(param.low),
        "high": json_safe(param.high),
        "step": json_safe(param.step),
        "kind": param.kind,
        "choices": list(param.choices) if param.choices is not None else None,
    }


def _summary(cls: type[BaseStrategy]) -> str:
    """First paragraph of the module docstring (the thesis line), else of the class docstring."""
    module = sys.modules.get(cls.__module__)
    for doc in (inspect.getdoc(module) if module else None, inspect.getdoc(cls)):
        if doc:
            return " ".join(doc.strip().split("\n\n")[0].split())
    return ""


def describe_strategy(cls: type[BaseStrategy]) -> dict[str, Any]:
    """A JSON-safe description of a strategy class for the API and the admin."""
    grid_size = 1
    for param in cls.parameters.values():
        grid_size *= len(param.grid())
    return {
        "name": cls.name,
        "label": cls.label,
        "universe": list(cls.universe),
        "timeframe": cls.timeframe,
        "warmup_bars": cls.warmup_bars,
        "needs_onchain": cls.needs_onchain,
        "needs_social": cls.needs_social,
        "regime_symbols": list(cls.regime_symbols),
        "predicted_win_rate": cls.predicted_win_rate,
        "parameters": {name: describe_param(param) for name, param in cls.parameters.items()},
        "grid_size": grid_size,
        "summary": _summary(cls),
    }


def describe_all() -> list[dict[str, Any]]:
    """Descriptions of every registered strategy, in registry order."""
    return [describe_strategy(cls) for cls in STRATEGIES.values()]
