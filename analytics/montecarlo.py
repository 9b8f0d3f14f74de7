"""Monte Carlo robustness of a trade sequence: shuffles and bootstrap resampling of trade returns.

Pure numpy/pandas (no Django). Each simulated path compounds per-trade returns from an equity of 1:
``equity_k = prod(1 + r_1..r_k)``. From each path we keep three numbers: the final return, the
maximum drawdown (positive fraction, measured trade by trade, starting from the initial equity) and a
**per-trade Sharpe** = mean(r) / std(r, ddof=1) of the path's trade returns, *not annualised* (trades
are not evenly spaced in time, so there is no honest annualisation factor).

* ``shuffle``: the same trades in a random order. Compounding is order independent, so every path has
  the same final return and the same per-trade Sharpe; only the path (drawdowns) changes.
* ``bootstrap``: trades drawn with replacement (same count), so final return and Sharpe vary too.

Reproducible: one ``numpy.random.Generator`` seeded with ``seed`` draws every chunk in order; the same
seed, trade count and chunk size give identical results.
Vectorised in chunks of simulations. By default a chunk holds about 65,536 numbers (at most 500
simulations): on a 2-core machine 10,000 shuffles of 1,000 trades took 0.25 s with chunks of ~65 paths
against 0.45-0.58 s with chunks of 500, because the smaller working set stays in the CPU cache.

>>> result = simulate([0.02, -0.01, 0.03, -0.02, 0.01], n_iterations=200, seed=1)
>>> result["n_iterations"], result["method"]
(200, 'shuffle')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.jsonsafe import json_safe

METHODS = ("shuffle", "bootstrap")
SHARPE_CONVENTION = "per-trade: mean / std (ddof=1) of the path's trade returns, not annualised"
PERCENTILES = (1, 5, 25, 50, 75, 95, 99)
CHUNK_ELEMENTS = 65_536
MAX_CHUNK = 500


def _path_statistics(samples: np.ndarray, *, with_sharpe: bool = True,
                     equity_out: list | None = None) -> tuple[np.ndarray, ...]:
    """Final return, max drawdown and per-trade Sharpe of each *column* of ``samples`` (columns = paths).

    Paths run down the columns because numpy accumulates along axis 0 about twice as fast as along
    the last axis of a C-ordered array. With ``equity_out`` the paths' equity (trade by trade) is appended to it.
    """
    equity = np.cumprod(np.add(samples, 1.0), axis=0)
    if equity_out is not None:
        equity_out.append(equity.copy())
    peaks = np.maximum.accumulate(equity, axis=0)
    np.maximum(peaks, 1.0, out=peaks)  # the initial equity (1.0) is a peak too
    max_dd = 1.0 - np.divide(equity, peaks, out=peaks).min(axis=0)
    final = equity[-1] - 1.0
    if not with_sharpe or samples.shape[0] < 2:
        return final, max_dd, np.full(samples.shape[1], np.nan)
    std = samples.std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = np.where(std > 0, samples.mean(axis=0) / std, np.nan)
    return final, max_dd, sharpe


def default_chunk_size(n_trades: int) -> int:
    """Simulations per chunk: about ``CHUNK_ELEMENTS`` numbers, between 16 and 500 simulations."""
    return int(min(MAX_CHUNK, max(16, CHUNK_ELEMENTS // max(n_trades, 1))))


def simulate_paths(
    returns: Sequence[float] | np.ndarray,
    *,
    n_iterations: int = 1000,
    method: str = "shuffle",
    seed: int | None = 42,
    chunk_size: int | None = None,
    fan: bool = False,
) -> dict[str, Any]:
    """Raw simulated statistics: arrays ``final_return``, ``max_drawdown``, ``sharpe`` (one per path).

    A shuffle does not change the multiset of returns, so its per-trade Sharpe is the observed one on
    every path; it is filled in rather than recomputed. With ``fan`` (bootstrap), ``"fan"`` also holds the
    percentiles, trade by trade, of the same paths' compounded return (:func:`fan_quantiles`), so one draw
    serves both.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    values = np.asarray(returns, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("no trade returns to simulate")
    n = values.size
    chunk_size = default_chunk_size(n) if chunk_size is None else chunk_size
    if n_iterations < 1 or chunk_size < 1:
        raise ValueError("n_iterations and chunk_size must be positive")
    rng = np.random.default_rng(seed)
    finals, drawdowns, sharpes = (np.empty(n_iterations) for _ in range(3))
    column = values[:, None]
    equity: list | None = [] if fan and method == "bootstrap" else None
    for lo in range(0, n_iterations, chunk_size):
        size = min(chunk_size, n_iterations - lo)
        if method == "shuffle":
            samples = rng.permuted(np.broadcast_to(column, (n, size)), axis=0)
        else:
            samples = values[rng.integers(0, n, size=(n, size))]
        chunk = _path_statistics(samples, with_sharpe=method == "bootstrap", equity_out=equity)
        finals[lo : lo + size], drawdowns[lo : lo + size], sharpes[lo : lo + size] = chunk
    if method == "shuffle":
        sharpes[:] = _path_statistics(column)[2][0]
    paths: dict[str, Any] = {"final_return": finals, "max_drawdown": drawdowns, "sharpe": sharpes}
    if equity is not None:
        paths["fan"] = _fan(np.concatenate(equity, axis=1) - 1.0, values)
    return paths


def _fan(compounded: np.ndarray, values: np.ndarray) -> dict:
    """Percentile bands of ``compounded`` (trades x paths) with step 0 (0 %) in front, and the observed path."""
    bands = np.percentile(compounded, FAN_PERCENTILES, axis=1)
    observed = np.concatenate([[0.0], np.cumprod(1.0 + values) - 1.0])
    return {"step": list(range(values.size + 1)),
            **{f"p{p}": np.concatenate([[0.0], band]).round(6).tolist()
               for p, band in zip(FAN_PERCENTILES, bands, strict=True)},
            "observed": observed.round(6).tolist()}


def _distribution(values: np.ndarray, observed: float, confidence: float) -> dict:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"observed": observed, "mean": None, "median": None, "ci_low": None, "ci_high": None,
                "percentiles": {}}
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return {
        "observed": observed,
        "mean": float(finite.mean()),
        "median": float(np.median(finite)),
        "ci_low": float(low),
        "ci_high": float(high),
        "percentiles": {f"p{p}": float(v) for p, v in zip(PERCENTILES, np.percentile(finite, PERCENTILES),
                                                            strict=True)},
    }


def simulate(
    returns: Sequence[float] | np.ndarray,
    *,
    n_iterations: int = 1000,
    method: str = "shuffle",
    seed: int | None = 42,
    confidence: float = 0.95,
    drawdown_threshold: float = 0.20,
    chunk_size: int | None = None,
    paths: dict | None = None,
) -> dict:
    """Summary of one Monte Carlo method as a JSON-safe dict (of ``paths`` when given: ``simulate_paths``' result
    for these returns and arguments).

    ``final_return``/``max_drawdown``/``sharpe`` each give the observed value (the actual trade order),
    mean, median, the central ``confidence`` interval (percentiles) and a few percentiles.
    ``worst_case`` is the lowest final return, the deepest drawdown and the lowest Sharpe over all paths.
    ``probability_drawdown_exceeds`` is the share of paths whose max drawdown reaches ``drawdown_threshold``.
    """
    values = np.asarray(returns, dtype=float)
    values = values[np.isfinite(values)]
    if paths is None:
        paths = simulate_paths(values, n_iterations=n_iterations, method=method, seed=seed, chunk_size=chunk_size)
    observed_final, observed_dd, observed_sharpe = (float(a[0]) for a in _path_statistics(values[:, None]))
    result = {
        "method": method,
        "n_iterations": n_iterations,
        "n_trades": int(values.size),
        "seed": seed,
        "confidence": confidence,
        "sharpe_convention": SHARPE_CONVENTION,
        "final_return": _distribution(paths["final_return"], observed_final, confidence),
        "max_drawdown": _distribution(paths["max_drawdown"], observed_dd, confidence),
        "sharpe": _distribution(paths["sharpe"], observed_sharpe, confidence),
        "worst_case": {
            "final_return": float(paths["final_return"].min()),
            "max_drawdown": float(paths["max_drawdown"].max()),
            "sharpe": float(np.nanmin(paths["sharpe"])) if np.isfinite(paths["sharpe"]).any() else None,
        },
        "drawdown_threshold": drawdown_threshold,
        "probability_drawdown_exceeds": float((paths["max_drawdown"] >= drawdown_threshold).mean()),
    }
    return json_safe(result)


def monte_carlo_report(
    returns: Sequence[float] | np.ndarray,
    *,
    n_iterations: int = 1000,
    seed: int | None = 42,
    confidence: float = 0.95,
    drawdown_threshold: float = 0.20,
    bootstrap_paths: dict | None = None,
) -> dict:
    """Both methods (shuffle and bootstrap) for one trade sequence, each seeded from ``seed``; the bootstrap
    from ``bootstrap_paths`` when given (``simulate_paths(returns, method="bootstrap", ...)`` with the same
    arguments: the research run draws once for the summary, the histograms and the fan)."""
    values = np.asarray(returns, dtype=float)
    report: dict[str, Any] = {
        method: simulate(values, n_iterations=n_iterations, method=method, seed=seed, confidence=confidence,
                         drawdown_threshold=drawdown_threshold,
                         paths=bootstrap_paths if method == "bootstrap" else None)
        for method in METHODS
    }
    warnings: list[str] = []
    if values.size < 30:
        warnings.append("fewer than 30 trades: Monte Carlo intervals are unreliable")
    report["warnings"] = warnings
    return report


FAN_PERCENTILES = (5, 25, 50, 75, 95)


def fan_quantiles(returns: Sequence[float] | np.ndarray, *, n_iterations: int = 1000, seed: int | None = 42) -> dict:
    """Percentiles, trade by trade, of the compounded return of bootstrap-resampled trade sequences.

    ``{"step": [0..n], "p5": [...], ..., "p95": [...], "observed": [...]}``: step 0 is the start (0 %); each
    path draws ``n`` trades with replacement: the bootstrap paths of :func:`simulate_paths` (the same draws for
    the same seed). ``observed`` compounds the trades in their actual order.
    """
    values = np.asarray(returns, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {}
    return simulate_paths(values, n_iterations=n_iterations, method="bootstrap", seed=seed, fan=True)["fan"]
