"""Probabilistic and deflated Sharpe ratios (Bailey and Lopez de Prado 2012, 2014).

Pure Python/numpy (no Django, no scipy: the normal distribution comes from ``statistics.NormalDist``).

Units matter: every Sharpe ratio here is **per observation** (not annualised), e.g. a daily Sharpe
``mean / std`` of daily returns, and ``n_observations`` counts those returns. To convert an annualised
Sharpe use ``per_period_sharpe(annual, periods_per_year)``. Kurtosis is the *raw* (Pearson) kurtosis:
3 for a normal distribution.

* PSR(SR*) = Phi( (SR - SR*) * sqrt(T - 1) / sqrt(1 - skew * SR + (kurt - 1) / 4 * SR^2) )
  (Bailey and Lopez de Prado 2012, "The Sharpe ratio efficient frontier", eq. 9 as used in the 2014 paper).
* E[max SR] over N independent trials whose Sharpe ratios have variance V (the null: true Sharpe 0):
  sqrt(V) * ((1 - gamma) * Phi^-1(1 - 1/N) + gamma * Phi^-1(1 - 1/(N e))), gamma = Euler-Mascheroni.
* DSR = PSR(SR* = E[max SR]) (Bailey and Lopez de Prado 2014, "The deflated Sharpe ratio", eq. 2).

>>> round(probabilistic_sharpe_ratio(0.1, 252), 3)
0.943
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

EULER_MASCHERONI = 0.5772156649015329
_NORMAL = NormalDist()


def per_period_sharpe(annual_sharpe: float, periods_per_year: int = 365) -> float:
    """De-annualise a Sharpe ratio: ``annual / sqrt(periods_per_year)``."""
    return annual_sharpe / math.sqrt(periods_per_year)


def return_moments(returns: Sequence[float] | np.ndarray) -> dict:
    """Per-observation Sharpe (std ddof=1), skewness and raw kurtosis (population moments), and T."""
    values = np.asarray(returns, dtype=float)
    values = values[np.isfinite(values)]
    n = values.size
    if n < 3:
        return {"sharpe": None, "skewness": None, "kurtosis": None, "n_observations": n}
    std = values.std(ddof=1)
    centred = values - values.mean()
    m2 = float((centred**2).mean())
    if not std > 0 or m2 == 0:
        return {"sharpe": None, "skewness": None, "kurtosis": None, "n_observations": n}
    return {
        "sharpe": float(values.mean() / std),
        "skewness": float((centred**3).mean() / m2**1.5),
        "kurtosis": float((centred**4).mean() / m2**2),
        "n_observations": n,
    }


def probabilistic_sharpe_ratio(
    sharpe: float,
    n_observations: int,
    *,
    skewness: float = 0.0,
    kurtosis: float = 3.0,
    benchmark_sharpe: float = 0.0,
) -> float | None:
    """Probability that the true Sharpe exceeds ``benchmark_sharpe`` given the observed one.

    ``None`` when undefined (fewer than 2 observations, or a non-positive variance term, which happens
    for extreme skewness/Sharpe combinations).
    """
    if n_observations < 2 or sharpe is None:
        return None
    variance_term = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if not variance_term > 0:
        return None
    z = (sharpe - benchmark_sharpe) * math.sqrt(n_observations - 1) / math.sqrt(variance_term)
    return _NORMAL.cdf(z)


def expected_maximum_sharpe(n_trials: float, trials_sharpe_variance: float) -> float:
    """Expected maximum Sharpe of ``n_trials`` unskilled trials (true Sharpe 0) with the given variance.

    One trial has no selection bias: the result is 0. ``n_trials`` may be a non-integer effective number
    of trials (``analytics.edge.effective_number_of_trials``); for 1 < N < ~1.28 the approximation turns
    negative and is clipped to 0 (no integer N >= 2 is affected).
    """
    if n_trials < 1:
        raise ValueError("n_trials must be at least 1")
    if trials_sharpe_variance < 0:
        raise ValueError("trials_sharpe_variance cannot be negative")
    if n_trials == 1 or trials_sharpe_variance == 0:
        return 0.0
    g = EULER_MASCHERONI
    quantiles = (1.0 - g) * _NORMAL.inv_cdf(1.0 - 1.0 / n_trials) + g * _NORMAL.inv_cdf(
        1.0 - 1.0 / (n_trials * math.e)
    )
    return math.sqrt(trials_sharpe_variance) * max(quantiles, 0.0)


def deflated_sharpe_ratio(
    sharpe: float,
    n_observations: int,
    *,
    n_trials: float,
    trials_sharpe_variance: float,
    skewness: float = 0.0,
    kurtosis: float = 3.0,
) -> float | None:
    """PSR against the Sharpe the best of ``n_trials`` unskilled trials would show by luck."""
    threshold = expected_maximum_sharpe(n_trials, trials_sharpe_variance)
    return probabilistic_sharpe_ratio(
        sharpe, n_observations, skewness=skewness, kurtosis=kurtosis, benchmark_sharpe=threshold
    )


def deflated_sharpe_report(
    returns: Sequence[float] | np.ndarray,
    trial_sharpes: Sequence[float],
    *,
    periods_per_year: int = 365,
) -> dict:
    """PSR(0) and DSR of a selected strategy's per-period returns, JSON-safe.

    ``trial_sharpes`` are the per-period (not annualised) Sharpe ratios of *every* configuration tried
    during the search, the selected one included; their count is N and their sample variance V.
    """
    moments = return_moments(returns)
    trials = np.asarray([s for s in trial_sharpes if s is not None and math.isfinite(s)], dtype=float)
    n_trials = max(int(trials.size), 1)
    variance = float(trials.var(ddof=1)) if trials.size > 1 else 0.0
    sharpe = moments["sharpe"]
    report = {
        **moments,
        "annualized_sharpe": sharpe * math.sqrt(periods_per_year) if sharpe is not None else None,
        "n_trials": n_trials,
        "trials_sharpe_variance": variance,
        "expected_max_sharpe": expected_maximum_sharpe(n_trials, variance),
        "psr": None,
        "dsr": None,
        "convention": "per-observation Sharpe (std ddof=1); raw kurtosis (normal = 3)",
    }
    if sharpe is not None:
        kwargs = {"skewness": moments["skewness"], "kurtosis": moments["kurtosis"]}
        report["psr"] = probabilistic_sharpe_ratio(sharpe, moments["n_observations"], **kwargs)
        report["dsr"] = deflated_sharpe_ratio(
            sharpe, moments["n_observations"], n_trials=n_trials, trials_sharpe_variance=variance, **kwargs
        )
    return report
