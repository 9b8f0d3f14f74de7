"""Tests of analytics.overfitting against the papers' worked example and formulas evaluated with scipy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from analytics import overfitting as of

stats = pytest.importorskip("scipy.stats")


def test_psr_matches_formula_evaluated_with_scipy():
    sr, t, skew, kurt, bench = 0.08, 500, -0.7, 6.0, 0.02
    z = (sr - bench) * math.sqrt(t - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    expected = stats.norm.cdf(z)
    got = of.probabilistic_sharpe_ratio(sr, t, skewness=skew, kurtosis=kurt, benchmark_sharpe=bench)
    assert got == pytest.approx(expected, rel=1e-12)


def test_negative_skew_and_fat_tails_lower_psr():
    normal = of.probabilistic_sharpe_ratio(0.1, 250)
    assert of.probabilistic_sharpe_ratio(0.1, 250, skewness=-2.0, kurtosis=9.0) < normal


def test_expected_max_sharpe_matches_formula_with_scipy():
    n, v = 37, 0.004
    g = 0.5772156649015329
    expected = math.sqrt(v) * ((1 - g) * stats.norm.ppf(1 - 1 / n) + g * stats.norm.ppf(1 - 1 / (n * math.e)))
    assert of.expected_maximum_sharpe(n, v) == pytest.approx(expected, rel=1e-12)
    assert of.expected_maximum_sharpe(1, v) == 0.0
    assert of.expected_maximum_sharpe(1000, v) > of.expected_maximum_sharpe(10, v)


def test_deflated_sharpe_reproduces_bailey_lopez_de_prado_2014_example():
    # The DSR paper's example: annualised SR 2.5 over T=1250 daily returns, N=100 trials whose
    # annualised Sharpe ratios have variance 0.5, skewness -3, kurtosis 10 -> E[max SR] ~ 0.1132, DSR ~ 0.9004.
    sr = of.per_period_sharpe(2.5, 250)
    variance = 0.5 / 250
    assert of.expected_maximum_sharpe(100, variance) == pytest.approx(0.1132, abs=5e-5)
    dsr = of.deflated_sharpe_ratio(sr, 1250, n_trials=100, trials_sharpe_variance=variance,
                                   skewness=-3.0, kurtosis=10.0)
    assert dsr == pytest.approx(0.9004, abs=5e-4)


def test_more_trials_deflate_more():
    kwargs = {"trials_sharpe_variance": 0.002}
    few = of.deflated_sharpe_ratio(0.1, 1000, n_trials=5, **kwargs)
    many = of.deflated_sharpe_ratio(0.1, 1000, n_trials=500, **kwargs)
    assert many < few < of.probabilistic_sharpe_ratio(0.1, 1000)


def test_return_moments_match_scipy():
    returns = np.random.default_rng(4).standard_t(5, 800) * 0.01 + 0.001
    moments = of.return_moments(returns)
    assert moments["skewness"] == pytest.approx(stats.skew(returns), rel=1e-10)
    assert moments["kurtosis"] == pytest.approx(stats.kurtosis(returns, fisher=False), rel=1e-10)
    assert moments["sharpe"] == pytest.approx(returns.mean() / returns.std(ddof=1))


def test_report_is_json_safe_and_consistent():
    rng = np.random.default_rng(9)
    returns = rng.normal(0.002, 0.02, 400)
    trials = [*list(rng.normal(0.0, 0.05, 49)), returns.mean() / returns.std(ddof=1)]
    report = of.deflated_sharpe_report(returns, trials)
    json.dumps(report, allow_nan=False)
    assert report["n_trials"] == 50
    assert report["dsr"] < report["psr"]
    assert report["trials_sharpe_variance"] == pytest.approx(np.var(trials, ddof=1))


def test_undefined_inputs_give_none():
    assert of.probabilistic_sharpe_ratio(0.1, 1) is None
    assert of.deflated_sharpe_report([0.01, 0.01, 0.01, 0.01], [0.1])["dsr"] is None
    with pytest.raises(ValueError):
        of.expected_maximum_sharpe(0, 0.1)


def test_expected_max_sharpe_accepts_a_non_integer_effective_number_of_trials():
    # An effective N (analytics.edge.effective_number_of_trials) is not an integer: the formula is
    # evaluated as is between integers, and clipped at 0 where it turns negative (1 < N < ~1.28).
    v = 0.004
    assert of.expected_maximum_sharpe(10, v) < of.expected_maximum_sharpe(10.5, v) < of.expected_maximum_sharpe(11, v)
    g = 0.5772156649015329
    n = 6.5
    expected = math.sqrt(v) * ((1 - g) * stats.norm.ppf(1 - 1 / n) + g * stats.norm.ppf(1 - 1 / (n * math.e)))
    assert of.expected_maximum_sharpe(n, v) == pytest.approx(expected, rel=1e-12)
    assert of.expected_maximum_sharpe(1.1, v) == 0.0
    assert of.expected_maximum_sharpe(1.3, v) > 0.0
