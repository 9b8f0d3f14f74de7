"""The strategy registry: every runnable strategy class by its ``name``, and JSON-safe descriptions.

The API and the admin list strategies from :data:`STRATEGIES`; a backtest request names one, and
:func:`get_strategy` returns its class (``ValueError`` listing the valid names otherwise). Strategies written
outside the package (the ``STRATEGIES_DIR`` folder, see :mod:`strategies.discovery`) are added to the same
dict by :func:`register_strategies` when the app starts, so every consumer sees them like the built-in ones.

>>> describe_strategy(get_strategy("curve_wars"))["universe"]
['CRV', 'CVX', 'FXS']
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

from core.jsonsafe import json_safe
from marketdata.symbols import SYMBOLS
from marketdata.timeframes import TIMEFRAMES
from strategies.base import INTERFACE_VERSION, STOP_UPDATE_RULES, BaseStrategy, Param
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


def check_strategy_class(cls: type[BaseStrategy]) -> None:
    """The registry's checks of one class (``ValueError`` naming the class otherwise): a name, the platform's
    interface version, a predicted win rate that is a fraction, known universe and regime symbols, a known
    timeframe."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.interface_version != INTERFACE_VERSION:
        raise ValueError(f"{cls.__name__} is written for strategy interface version {cls.interface_version}; "
                         f"this platform runs version {INTERFACE_VERSION}")
    if cls.predicted_win_rate is not None and not 0.0 <= cls.predicted_win_rate <= 1.0:
        raise ValueError(f"{cls.__name__}.predicted_win_rate must be a fraction in [0, 1], got "
                         f"{cls.predicted_win_rate!r}")
    for attribute in ("universe", "regime_symbols"):
        unknown = [symbol for symbol in getattr(cls, attribute) if symbol not in SYMBOLS]
        if unknown:
            raise ValueError(f"{cls.__name__}.{attribute} names unknown symbol(s) {unknown}; the platform trades "
                             f"{', '.join(SYMBOLS)}")
    if cls.stop_updates not in STOP_UPDATE_RULES:
        raise ValueError(f"{cls.__name__}.stop_updates {cls.stop_updates!r} is unknown; expected one of "
                         f"{', '.join(STOP_UPDATE_RULES)}")
    if cls.timeframe not in TIMEFRAMES:
        raise ValueError(f"{cls.__name__}.timeframe {cls.timeframe!r} is unknown; expected one of "
                         f"{', '.join(TIMEFRAMES)}")


def _build_registry(classes: tuple[type[BaseStrategy], ...]) -> dict[str, type[BaseStrategy]]:
    registry: dict[str, type[BaseStrategy]] = {}
    for cls in classes:
        check_strategy_class(cls)
        if cls.name in registry:
            raise ValueError(f"duplicate strategy name {cls.name!r}: {registry[cls.name].__name__}, {cls.__name__}")
        registry[cls.name] = cls
    return registry


STRATEGIES: dict[str, type[BaseStrategy]] = _build_registry((*RESEARCH_STRATEGIES, *_baselines()))

#: The names shipped with the platform (the research strategies and the baseline); a strategy of the
#: configured folder (see :mod:`strategies.discovery`) may not take one of them.
BUILTIN_NAMES: frozenset[str] = frozenset(STRATEGIES)

#: Strategies registered from outside the package: name -> the file that defines it.
USER_STRATEGIES: dict[str, str] = {}


def register_strategies(classes: list[type[BaseStrategy]] | tuple[type[BaseStrategy], ...],
                        source: str | dict[str, str]) -> list[str]:
    """Add ``classes`` (strategies written outside the package) to :data:`STRATEGIES`, after the registry's
    checks; ``source`` is the file defining them (or a name -> file mapping). All or none are added: a
    ``ValueError`` names the first class that is refused. A name taken by a built-in strategy or by a strategy
    of another file is refused; registering a file again replaces its strategies (a reload)."""
    sources = source if isinstance(source, dict) else {cls.name: source for cls in classes}
    seen: dict[str, type[BaseStrategy]] = {}
    for cls in classes:
        check_strategy_class(cls)
        where = sources.get(cls.name, "?")
        if cls.name in seen:
            raise ValueError(f"duplicate strategy name {cls.name!r}: {seen[cls.name].__name__}, {cls.__name__}")
        if cls.name in BUILTIN_NAMES:
            raise ValueError(f"{where}: {cls.__name__}.name {cls.name!r} is the name of the built-in strategy "
                             f"{STRATEGIES[cls.name].__name__}; choose another name")
        if cls.name in USER_STRATEGIES and USER_STRATEGIES[cls.name] != where:
            raise ValueError(f"{where}: {cls.__name__}.name {cls.name!r} is already registered from "
                             f"{USER_STRATEGIES[cls.name]}; choose another name")
        seen[cls.name] = cls
    for name, cls in seen.items():
        STRATEGIES[name] = cls
        USER_STRATEGIES[name] = sources.get(name, "?")
    return list(seen)


def unregister_strategies(names: list[str] | tuple[str, ...]) -> None:
    """Remove strategies registered by :func:`register_strategies` (built-ins stay)."""
    for name in names:
        if name in USER_STRATEGIES:
            del USER_STRATEGIES[name]
            STRATEGIES.pop(name, None)


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
