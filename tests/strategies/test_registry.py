"""The strategy registry: the research strategies plus the engine baseline (and any registered from the
configured folder), JSON-safe descriptions."""

from __future__ import annotations

import json

import pytest

from strategies.base import BaseStrategy
from strategies.registry import (
    BUILTIN_NAMES,
    RESEARCH_STRATEGIES,
    STRATEGIES,
    USER_STRATEGIES,
    describe_all,
    describe_strategy,
    get_strategy,
)

RESEARCH = {cls.name for cls in RESEARCH_STRATEGIES}


def test_registry_lists_the_research_strategies_the_baseline_and_the_folder_ones():
    assert len(RESEARCH) == len(RESEARCH_STRATEGIES) >= 5
    assert RESEARCH | {"sma_crossover"} == BUILTIN_NAMES
    assert set(STRATEGIES) == BUILTIN_NAMES | set(USER_STRATEGIES)
    for name, cls in STRATEGIES.items():
        assert issubclass(cls, BaseStrategy) and cls.name == name


def test_get_strategy_returns_the_class_or_lists_the_names():
    assert get_strategy("curve_wars").__name__ == "CurveWarsSpecialist"
    with pytest.raises(ValueError, match="curve_wars") as error:
        get_strategy("nope")
    assert "lending_value" in str(error.value)


@pytest.mark.parametrize("name", sorted(RESEARCH))
def test_descriptions_are_json_safe_and_complete(name):
    cls = get_strategy(name)
    description = json.loads(json.dumps(describe_strategy(cls)))
    assert description["name"] == name
    assert description["universe"] == list(cls.universe)
    assert description["needs_onchain"] is True and description["needs_social"] is False
    assert description["warmup_bars"] == cls.warmup_bars > 0
    assert description["summary"] and len(description["summary"]) < 400
    params = description["parameters"]
    assert params["use_regime_filter"] == {"default": True, "low": None, "high": None, "step": None,
                                           "kind": "bool", "choices": None}
    for spec in params.values():
        assert set(spec) == {"default", "low", "high", "step", "kind", "choices"}
        if spec["kind"] in ("int", "float"):
            assert spec["low"] <= spec["default"] <= spec["high"]


@pytest.mark.parametrize("name", sorted(RESEARCH))
def test_search_grids_stay_small_and_every_combination_is_valid(name):
    cls = get_strategy(name)
    grid = cls.parameter_grid()
    assert 1 < len(grid) <= 1000
    assert describe_strategy(cls)["grid_size"] == len(grid)
    for params in grid[:: max(1, len(grid) // 25)]:
        cls(**params)


@pytest.mark.parametrize("name", sorted(RESEARCH))
def test_required_indicators_are_declared_as_name_and_params(name):
    for indicator, params in get_strategy(name)().required_indicators():
        assert isinstance(indicator, str) and isinstance(params, dict)


def test_describe_all_covers_the_registry():
    assert [d["name"] for d in describe_all()] == list(STRATEGIES)
    json.dumps(describe_all())


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_declared_indicators_are_ones_the_indicator_cache_accepts(name):
    """``required_indicators()`` is the cache's export list: every declaration must be computable there."""
    from marketdata.indicators import resolve_params

    for indicator, params in STRATEGIES[name]().required_indicators():
        resolve_params(indicator, params)  # ValueError on an unknown indicator or parameter name


def test_the_contract_is_abstract_and_versioned():
    from strategies.base import INTERFACE_VERSION, BaseStrategy
    from strategies.registry import _build_registry

    class NoSignals(BaseStrategy):
        name = "no_signals"

    with pytest.raises(TypeError, match="generate_signals"):
        NoSignals()

    class FromTheFuture(BaseStrategy):
        name = "from_the_future"
        interface_version = INTERFACE_VERSION + 1

        def generate_signals(self, data):
            return {}

    with pytest.raises(ValueError, match="interface version"):
        _build_registry((FromTheFuture,))


def test_every_research_strategy_declares_its_predicted_win_rate_and_nonsense_is_refused():
    from strategies.base import BaseStrategy
    from strategies.registry import RESEARCH_STRATEGIES, _build_registry

    assert all(0.0 < cls.predicted_win_rate < 1.0 for cls in RESEARCH_STRATEGIES)

    class Percent(BaseStrategy):
        name = "percent"
        predicted_win_rate = 45  # a percentage where a fraction is meant

        def generate_signals(self, data):
            return {}

    with pytest.raises(ValueError, match=r"predicted_win_rate must be a fraction in \[0, 1\], got 45"):
        _build_registry((Percent,))
