"""Parameter search: exhaustive grid and seeded random search over a discrete space, maximising one metric.

Pure Python/numpy (no Django). The caller supplies ``evaluate(params) -> dict of metrics`` (e.g. runs a
backtest on the training window and returns ``backtests.metrics.performance_summary``). Every trial is
kept: the number of configurations tried is what the deflated Sharpe ratio needs.

A trial whose objective is missing, ``None`` or non-finite is kept but can never be the best.
Ties keep the first trial in evaluation order, so results are deterministic.

>>> result = grid_search({"fast": [5, 10], "slow": [20, 50]}, lambda p: {"sharpe": p["slow"] - p["fast"]})
>>> result["best_params"], result["n_trials"]
({'fast': 5, 'slow': 50}, 4)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from core.jsonsafe import json_safe
from core.parallel import serial_map

ParameterSpace = Mapping[str, Sequence[Any]]
Evaluate = Callable[[dict], Mapping[str, Any]]
#: How the trials are evaluated: ``map_(evaluate, points)`` -> their metrics in the order of ``points`` (the
#: default is a loop; ``core.parallel.parallel_map`` spreads them over the cores with the same results).
Mapper = Callable[[Callable[[dict], Any], Sequence[dict]], Sequence[Mapping[str, Any]]]


def grid_points(space: ParameterSpace) -> list[dict]:
    """Every combination of the space, in the order of ``itertools.product`` over the keys as given."""
    if not space:
        return [{}]
    names = list(space)
    if any(len(space[name]) == 0 for name in names):
        raise ValueError("every parameter needs at least one value")
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(space[n] for n in names))]


def objective_value(metrics: Mapping[str, Any], objective: str) -> float | None:
    """The objective as a finite float, or ``None``."""
    value = metrics.get(objective) if metrics else None
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _run(points: Sequence[dict], evaluate: Evaluate, objective: str, method: str, seed: int | None,
         space_size: int, map_: Mapper = serial_map) -> dict:
    trials: list[dict[str, Any]] = []
    for params, result in zip(points, map_(evaluate, [dict(p) for p in points]), strict=True):
        metrics = dict(result)
        trials.append({"params": params, "metrics": metrics, "value": objective_value(metrics, objective)})
    best: dict[str, Any] | None = None
    for trial in trials:
        if trial["value"] is not None and (best is None or trial["value"] > best["value"]):
            best = trial
    return json_safe({
        "method": method,
        "objective": objective,
        "seed": seed,
        "space_size": space_size,
        "n_trials": len(trials),
        "best_params": best["params"] if best else None,
        "best_value": best["value"] if best else None,
        "best_metrics": best["metrics"] if best else None,
        "trials": trials,
    })


def grid_search(space: ParameterSpace, evaluate: Evaluate, objective: str = "sharpe", *,
                map_: Mapper = serial_map) -> dict:
    """Evaluate every combination and return the best (maximum ``objective``) with all trials."""
    points = grid_points(space)
    return _run(points, evaluate, objective, "grid", None, len(points), map_)


def random_search(
    space: ParameterSpace, evaluate: Evaluate, n_iter: int = 50, *, objective: str = "sharpe", seed: int = 42,
    map_: Mapper = serial_map,
) -> dict:
    """Evaluate ``n_iter`` distinct combinations drawn without replacement (all of them if fewer exist)."""
    if n_iter < 1:
        raise ValueError("n_iter must be positive")
    points = grid_points(space)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(points), size=min(n_iter, len(points)), replace=False)
    return _run([points[i] for i in chosen], evaluate, objective, "random", seed, len(points), map_)


def neighbourhood(
    trials: Sequence[Mapping],
    best: Mapping[str, Any],
    space: ParameterSpace,
    *,
    x: str,
    y: str,
    radius: int | None = None,
) -> dict:
    """The objective over the (x, y) grid around the optimum, other parameters fixed at their best values.

    ``radius`` limits each axis to that many grid steps either side of the best value (``None``: the
    whole axis). ``z[i][j]`` is the objective at ``y_values[i]``, ``x_values[j]``; ``None`` where that
    point was not tried (random search) or its objective was undefined. ``neighbour_mean``/``min``
    summarise the tried points other than the optimum: a plateau (close to the best) is more
    trustworthy than a lone spike.
    """
    if x == y or x not in space or y not in space:
        raise ValueError("x and y must be two different parameters of the space")
    x_values, y_values = axis_around(space[x], best[x], radius), axis_around(space[y], best[y], radius)
    fixed = {k: v for k, v in best.items() if k not in (x, y)}
    lookup = {}
    for trial in trials:
        params = trial["params"]
        if all(params.get(k) == v for k, v in fixed.items()):
            lookup[(params.get(x), params.get(y))] = trial.get("value")
    z = [[lookup.get((xv, yv)) for xv in x_values] for yv in y_values]
    best_value = lookup.get((best[x], best[y]))
    neighbours = [v for (xv, yv), v in lookup.items()
                  if v is not None and (xv, yv) != (best[x], best[y]) and xv in x_values and yv in y_values]
    return json_safe({
        "x_param": x,
        "y_param": y,
        "x_values": list(x_values),
        "y_values": list(y_values),
        "z": z,
        "fixed": fixed,
        "best_value": best_value,
        "neighbour_mean": float(np.mean(neighbours)) if neighbours else None,
        "neighbour_min": min(neighbours) if neighbours else None,
        "neighbour_ratio": (float(np.mean(neighbours)) / best_value)
        if neighbours and best_value and best_value > 0 else None,
    })


def axis_around(values: Sequence[Any], centre: Any, radius: int | None) -> list[Any]:
    """The grid values within ``radius`` steps of ``centre`` (all of them when ``radius`` is None)."""
    values = list(values)
    if radius is None:
        return values
    position = values.index(centre)
    return values[max(0, position - radius) : position + radius + 1]
