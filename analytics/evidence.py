"""The evidence that a strategy's edge exists and survived its own selection, for one walk-forward.

Pure (pandas/numpy; the statistics live in ``analytics.edge`` and ``analytics.overfitting``). Inputs:

* ``trial_returns``: daily returns on the research range of every configuration the final optimisation
  tried (T days x N trials), the raw material of the selection tests;
* ``benchmark``: daily returns of buying and holding the strategy's universe in equal weights over the same
  days (:func:`buy_and_hold_returns`);
* the chosen configuration's daily holdout returns and its annualised research Sharpe.

What each test answers (all seeded):

* **PBO (CSCV)**: how often the configuration that was best in sample ranks below the median out of sample.
* **CPCV**: the distribution of out-of-sample Sharpe of the *selection procedure* over the paths.
* **SPA / Reality Check**: does the best of the N configurations beat buy-and-hold once the search is
  accounted for (the null: none does)?
* **Minimum backtest length**: is the research range long enough for N (effective) trials to mean anything
  at the Sharpe found?
* **Deflated Sharpe** with the effective number of trials: the holdout Sharpe's probability of being real,
  given how many (correlated) configurations were tried.

The permutation test of the signal needs the engine and lives in ``analytics.services``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from analytics import edge
from core.jsonsafe import json_safe

DAYS_PER_YEAR = 365.25


def buy_and_hold_returns(candles: Mapping[str, pd.DataFrame], symbols: Sequence[str], start: pd.Timestamp,
                         end: pd.Timestamp) -> pd.Series:
    """Daily returns of an equal-weight, daily-rebalanced holding of ``symbols`` over ``[start, end)``
    (days a symbol has no close are left out of that day's average)."""
    closes = {}
    for symbol in symbols:
        frame = candles.get(symbol)
        if frame is None or frame.empty:
            continue
        part = frame["close"].loc[(frame.index >= start) & (frame.index < end)]
        closes[symbol] = part.resample("1D").last()
    if not closes:
        return pd.Series(dtype=float)
    daily = pd.DataFrame(closes).pct_change(fill_method=None).iloc[1:]
    return daily.mean(axis=1, skipna=True).fillna(0.0)


def selection_evidence(trial_returns: pd.DataFrame, benchmark: pd.Series, holdout_returns: np.ndarray,
                       trial_sharpes: Sequence[float], *, chosen_sharpe_annual: float | None, seed: int,
                       reps: int = 1000) -> dict:
    """PBO, CPCV, SPA/Reality Check, effective trials, deflated Sharpe and MinBTL of one search."""
    trials = trial_returns.dropna(axis=1, how="all")
    effective = edge.effective_number_of_trials(trials) if trials.shape[1] > 1 else {
        "n_trials": trials.shape[1], "average_correlation": None, "n_effective": float(trials.shape[1]),
        "method": "one trial: N_eff = N"}
    n_effective = float(effective.get("n_effective") or max(trials.shape[1], 1))
    years = len(trials) / DAYS_PER_YEAR
    out = {
        "n_trials": trials.shape[1], "research_days": len(trials), "effective_trials": effective,
        "pbo": edge.pbo_cscv(trials, n_blocks=_blocks(len(trials))),
        "cpcv": edge.cpcv_sharpe_distribution(trials),
        "deflated_sharpe_effective": edge.deflated_sharpe_effective(holdout_returns, list(trial_sharpes),
                                                                     n_effective),
        "min_backtest_length": _min_length(n_effective, chosen_sharpe_annual, years),
    }
    aligned = trials.join(benchmark.rename("__benchmark__"), how="inner")
    if len(aligned) >= 30 and trials.shape[1] >= 1:
        out["spa"] = edge.spa_test(aligned.drop(columns="__benchmark__").fillna(0.0), aligned["__benchmark__"],
                                   reps=reps, seed=seed)
        out["spa"]["benchmark"] = "equal-weight buy-and-hold of the strategy's universe"
    else:
        out["spa"] = {"spa_pvalue": None, "reality_check_pvalue": None,
                      "reason": f"only {len(aligned)} days with both trial and benchmark returns (30 needed)"}
    return json_safe(out)


def _blocks(n_rows: int) -> int:
    """16 blocks (the paper's choice) when there are enough days, fewer (even) on short ranges."""
    for blocks in (16, 12, 10, 8, 6, 4, 2):
        if n_rows >= 4 * blocks:
            return blocks
    return 2


def _min_length(n_effective: float, sharpe_annual: float | None, years: float) -> dict:
    if sharpe_annual is None:
        return {"min_years": None, "years_available": years, "sufficient": False,
                "reason": "no research Sharpe for the chosen configuration"}
    return edge.minimum_backtest_length_report(max(1, round(n_effective)), float(sharpe_annual), years)
