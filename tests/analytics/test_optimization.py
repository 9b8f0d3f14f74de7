"""Tests of analytics.optimization: grid and random search, neighbourhood for heat maps."""

from __future__ import annotations

import json

import pytest

from analytics import optimization as opt

SPACE = {"fast": [5, 10, 15, 20], "slow": [30, 50, 70], "stop": [0.01, 0.02]}


def peaked(params: dict) -> dict:
    """A smooth objective with its maximum at fast=10, slow=50, stop=0.02."""
    value = 3.0 - ((params["fast"] - 10) / 5) ** 2 - ((params["slow"] - 50) / 20) ** 2 - (params["stop"] == 0.01)
    return {"sharpe": value, "total_return": value / 10}


def test_grid_search_tries_every_point_and_finds_the_maximum():
    calls = []
    result = opt.grid_search(SPACE, lambda p: calls.append(p) or peaked(p))
    assert result["n_trials"] == len(calls) == 4 * 3 * 2 == result["space_size"]
    assert result["best_params"] == {"fast": 10, "slow": 50, "stop": 0.02}
    assert result["best_value"] == pytest.approx(3.0)
    json.dumps(result, allow_nan=False)


def test_other_objective_and_undefined_values_never_win():
    def evaluate(params):
        return {"sharpe": None if params["fast"] == 5 else float("nan") if params["fast"] == 10 else 0.1,
                "total_return": params["fast"]}
    result = opt.grid_search(SPACE, evaluate)
    assert result["best_params"]["fast"] in (15, 20)
    assert opt.grid_search(SPACE, evaluate, objective="total_return")["best_params"]["fast"] == 20
    assert opt.grid_search({"a": [1]}, lambda p: {"sharpe": None})["best_params"] is None


def test_random_search_is_seeded_distinct_and_bounded():
    a = opt.random_search(SPACE, peaked, n_iter=10, seed=3)
    b = opt.random_search(SPACE, peaked, n_iter=10, seed=3)
    c = opt.random_search(SPACE, peaked, n_iter=10, seed=4)
    params = [tuple(t["params"].values()) for t in a["trials"]]
    assert a == b and a["n_trials"] == 10 and len(set(params)) == 10
    assert params != [tuple(t["params"].values()) for t in c["trials"]]
    assert opt.random_search(SPACE, peaked, n_iter=1000)["n_trials"] == 24
    assert a["best_value"] == max(t["value"] for t in a["trials"])


def test_neighbourhood_gives_heat_map_around_optimum():
    result = opt.grid_search(SPACE, peaked)
    heat = opt.neighbourhood(result["trials"], result["best_params"], SPACE, x="fast", y="slow", radius=1)
    assert heat["x_values"] == [5, 10, 15] and heat["y_values"] == [30, 50, 70]
    assert heat["fixed"] == {"stop": 0.02}
    assert heat["z"][1][1] == pytest.approx(3.0)  # the optimum in the centre
    assert heat["z"][0][2] == pytest.approx(peaked({"fast": 15, "slow": 30, "stop": 0.02})["sharpe"])
    assert heat["neighbour_min"] < heat["neighbour_mean"] < heat["best_value"]
    full = opt.neighbourhood(result["trials"], result["best_params"], SPACE, x="fast", y="slow")
    assert len(full["z"]) == 3 and len(full["z"][0]) == 4


def test_neighbourhood_marks_untried_points_none():
    result = opt.random_search(SPACE, peaked, n_iter=6, seed=1)
    heat = opt.neighbourhood(result["trials"], result["best_params"], SPACE, x="fast", y="slow")
    flat = [v for row in heat["z"] for v in row]
    assert None in flat and sum(v is not None for v in flat) <= 6
    with pytest.raises(ValueError):
        opt.neighbourhood(result["trials"], result["best_params"], SPACE, x="fast", y="fast")
