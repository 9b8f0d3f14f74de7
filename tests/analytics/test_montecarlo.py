"""Tests of analytics.montecarlo (speed is measured in benchmarks/montecarlo_bench.py, not here)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analytics import montecarlo as mc


@pytest.fixture
def returns() -> np.ndarray:
    return np.random.default_rng(3).normal(0.004, 0.02, 200)


@pytest.mark.parametrize("method", mc.METHODS)
def test_same_seed_same_result_and_other_seed_differs(returns, method):
    first = mc.simulate(returns, n_iterations=300, method=method, seed=5)
    again = mc.simulate(returns, n_iterations=300, method=method, seed=5)
    other = mc.simulate(returns, n_iterations=300, method=method, seed=6)
    assert first == again
    assert first["max_drawdown"]["ci_high"] != other["max_drawdown"]["ci_high"]


def test_shuffles_preserve_final_return_exactly(returns):
    paths = mc.simulate_paths(returns, n_iterations=400, method="shuffle", seed=1, chunk_size=64)
    observed = np.prod(1 + returns) - 1
    np.testing.assert_allclose(paths["final_return"], observed, rtol=1e-12)
    assert np.ptp(paths["max_drawdown"]) > 0  # but the paths differ
    np.testing.assert_allclose(paths["sharpe"], returns.mean() / returns.std(ddof=1))


def test_bootstrap_ci_contains_observed_for_well_behaved_sample(returns):
    result = mc.simulate(returns, n_iterations=1000, method="bootstrap", seed=2)
    for key in ("final_return", "sharpe", "max_drawdown"):
        dist = result[key]
        assert dist["ci_low"] <= dist["observed"] <= dist["ci_high"], key
    assert result["final_return"]["ci_low"] < result["final_return"]["ci_high"]


def test_drawdown_probability_zero_for_winners_and_one_for_a_big_loss():
    winners = mc.simulate([0.01, 0.02, 0.005, 0.03], n_iterations=200, method="bootstrap", seed=0)
    assert winners["probability_drawdown_exceeds"] == 0.0
    assert winners["worst_case"]["max_drawdown"] == 0.0
    crash = mc.simulate([0.01, -0.5, 0.02, 0.01], n_iterations=200, method="shuffle", seed=0)
    assert crash["probability_drawdown_exceeds"] == 1.0
    assert crash["worst_case"]["max_drawdown"] >= 0.5


def test_drawdown_measured_from_initial_equity_and_threshold_configurable():
    paths = mc.simulate_paths([-0.1, 0.05], n_iterations=50, method="shuffle", seed=0)
    # either order: the first loss falls 10% from the initial equity of 1.
    np.testing.assert_allclose(paths["max_drawdown"], 0.1)
    result = mc.simulate([-0.1, 0.05], n_iterations=50, seed=0, drawdown_threshold=0.05)
    assert result["probability_drawdown_exceeds"] == 1.0


def test_chunking_covers_every_iteration(returns):
    paths = mc.simulate_paths(returns, n_iterations=1001, method="bootstrap", seed=1, chunk_size=100)
    assert all(len(v) == 1001 and np.isfinite(v).all() for v in paths.values())


def test_report_is_json_safe_and_warns_for_few_trades():
    report = mc.monte_carlo_report([0.01, -0.02, 0.03], n_iterations=100, seed=1)
    json.dumps(report, allow_nan=False)
    assert set(mc.METHODS) <= set(report)
    assert report["shuffle"]["sharpe_convention"].startswith("per-trade")
    assert any("fewer than 30 trades" in w for w in report["warnings"])


def test_rejects_unknown_method_and_empty_input():
    with pytest.raises(ValueError):
        mc.simulate([0.01], method="jackknife")
    with pytest.raises(ValueError):
        mc.simulate([], n_iterations=10)


def test_the_fan_bands_bracket_the_median_and_equal_returns_give_one_path():
    from analytics.montecarlo import fan_quantiles

    fan = fan_quantiles([0.01, -0.02, 0.03, 0.005], n_iterations=500, seed=3)
    assert fan["step"] == [0, 1, 2, 3, 4] and fan["p50"][0] == 0.0
    for i in fan["step"]:
        assert fan["p5"][i] <= fan["p25"][i] <= fan["p50"][i] <= fan["p75"][i] <= fan["p95"][i]
    assert fan["observed"][-1] == pytest.approx(1.01 * 0.98 * 1.03 * 1.005 - 1, abs=1e-6)
    flat = fan_quantiles([0.01] * 3, n_iterations=50, seed=1)
    assert flat["p5"] == flat["p95"] == flat["observed"] == pytest.approx([0, 0.01, 0.0201, 0.030301])
    assert fan_quantiles([], n_iterations=10) == {}


def test_one_bootstrap_draw_serves_the_summary_the_histograms_and_the_fan():
    """The research run draws the bootstrap once: the report built from those paths equals the report that
    draws its own, and the fan is the percentiles of the same paths' final returns at the last trade."""
    returns = np.random.default_rng(5).normal(0.002, 0.02, 60)
    paths = mc.simulate_paths(returns, n_iterations=400, method="bootstrap", seed=9, fan=True)
    assert mc.monte_carlo_report(returns, n_iterations=400, seed=9, bootstrap_paths=paths) == \
        mc.monte_carlo_report(returns, n_iterations=400, seed=9)
    fan = paths["fan"]
    assert fan == mc.fan_quantiles(returns, n_iterations=400, seed=9)
    assert fan["p50"][-1] == pytest.approx(np.percentile(paths["final_return"], 50), abs=1e-6)
    assert fan["p5"][-1] == pytest.approx(np.percentile(paths["final_return"], 5), abs=1e-6)
