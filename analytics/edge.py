"""Is there an edge, or did the search find luck? Selection-aware statistics for a strategy search.

Pure numpy/pandas/scipy plus ``arch`` (no Django). Every report is a JSON-safe dict (``core.jsonsafe``):
undefined values are ``None`` (never NaN/inf), and a ``method`` string says what was computed, with the
parameters. Unless stated otherwise a Sharpe ratio here is ``mean / std(ddof=1)`` of the per-period returns
multiplied by ``sqrt(periods_per_year)`` (annualised); a sample with zero variance gets Sharpe 0.

Input of the selection statistics: a T x N "trial matrix" (a ``DataFrame`` or 2-D array), rows = time
(e.g. daily returns), columns = the N configurations tried by one optimisation. Columns that are entirely
NaN are dropped (a trial that never produced a return); remaining NaN returns are treated as 0 (flat: no
position, no return), so every trial is measured on the same rows.

* ``pbo_cscv`` -- probability of backtest overfitting by combinatorially symmetric cross-validation
  (Bailey, Borwein, Lopez de Prado and Zhu, "The probability of backtest overfitting", Journal of
  Computational Finance 20(4), 2017; SSRN 2326253, 2015).
* ``cpcv_sharpe_distribution`` -- combinatorial purged cross-validation of the *selection procedure*
  (Lopez de Prado, "Advances in Financial Machine Learning", Wiley 2018, ch. 12): the distribution of
  out-of-sample Sharpe ratios over the phi backtest paths.
* ``spa_test`` -- Hansen's test of superior predictive ability (Hansen, "A test for superior predictive
  ability", JBES 23(4), 2005) and White's Reality Check (White, "A reality check for data snooping",
  Econometrica 68(5), 2000) with the stationary bootstrap (Politis and Romano 1994) of ``arch``.
* ``permute_bars`` / ``permutation_test`` -- Monte Carlo permutation test of a trading rule on
  bar-permuted prices (Masters, "Permutation and Randomization Tests for Trading System Development",
  2020; also Aronson, "Evidence-Based Technical Analysis", 2006, ch. 5).
* ``minimum_backtest_length`` -- MinBTL (Bailey, Borwein, Lopez de Prado and Zhu, "Pseudo-mathematics and
  financial charlatanism: the effects of backtest overfitting on out-of-sample performance", Notices of
  the AMS 61(5), 2014, eq. for MinBTL).
* ``effective_number_of_trials`` -- N_eff = rho + (1 - rho) * N from the average pairwise correlation rho
  of the trials' returns, and ``deflated_sharpe_effective``: the deflated Sharpe ratio of
  ``analytics.overfitting`` (Bailey and Lopez de Prado, "The deflated Sharpe ratio", JPM 40(5), 2014)
  with N replaced by N_eff. This module adds the function instead of changing
  ``overfitting.deflated_sharpe_report``, whose behaviour and keys stay as they were.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analytics import overfitting
from core.jsonsafe import json_safe
from core.parallel import serial_map

PRICE_COLUMNS = ("open", "high", "low", "close")
_ZERO_VARIANCE = 1e-12  # relative: variance <= this * mean square counts as zero (Sharpe 0)


# --------------------------------------------------------------------------------------------- helpers


def _trial_matrix(trial_returns: pd.DataFrame | np.ndarray) -> tuple[np.ndarray, list[Any], int]:
    """(T x N float matrix with NaN -> 0, column labels, number of all-NaN columns dropped)."""
    if isinstance(trial_returns, pd.DataFrame):
        frame = trial_returns.apply(pd.to_numeric, errors="coerce").astype(float)
    else:
        values = np.asarray(trial_returns, dtype=float)
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2:
            raise ValueError("trial_returns must be 2-D (rows = time, columns = trials)")
        frame = pd.DataFrame(values)
    frame = frame.replace([np.inf, -np.inf], np.nan)
    keep = frame.notna().any(axis=0)
    dropped = int((~keep).sum())
    frame = frame.loc[:, keep]
    return frame.fillna(0.0).to_numpy(dtype=float), list(frame.columns), dropped


def _sharpe_from_sums(total: np.ndarray, squares: np.ndarray, count: np.ndarray | float) -> np.ndarray:
    """Per-period Sharpe mean/std(ddof=1) from sums and sums of squares (broadcasting); 0 if no variance."""
    count = np.asarray(count, dtype=float)
    mean = total / count
    mean_square = squares / count
    variance = (squares - count * mean**2) / (count - 1.0)
    flat = variance <= _ZERO_VARIANCE * mean_square
    std = np.sqrt(np.where(flat, 1.0, variance))
    return np.where(flat, 0.0, mean / std)


def _column_sharpe(values: np.ndarray) -> np.ndarray:
    """Per-period Sharpe of each column of a 2-D array (at least 2 rows)."""
    return _sharpe_from_sums(values.sum(axis=0), (values**2).sum(axis=0), values.shape[0])


def _annual_sharpe(values: np.ndarray, periods_per_year: int) -> float | None:
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        return None
    variance = float(values.var(ddof=1))
    if not variance > _ZERO_VARIANCE * float(np.mean(values**2)):
        return None
    return float(values.mean() / math.sqrt(variance) * math.sqrt(periods_per_year))


def _label(value: Any) -> Any:
    safe = json_safe(value)
    return safe if safe is None or isinstance(safe, str | int | float | bool | list) else str(safe)


# ------------------------------------------------------------------------------------------------- PBO


def pbo_cscv(
    trial_returns: pd.DataFrame | np.ndarray,
    *,
    n_blocks: int = 16,
    periods_per_year: int = 365,
) -> dict:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation (CSCV).

    Method (Bailey, Borwein, Lopez de Prado and Zhu 2017, section 2): the T x N trial matrix is split
    into S = ``n_blocks`` (even) contiguous row blocks (``numpy.array_split``: sizes differ by at most one
    row; the paper assumes T divisible by S). For each of the C(S, S/2) ways to pick S/2 blocks as the
    in-sample (IS) set, the remaining blocks being out-of-sample (OOS):

    1. n* = the trial with the highest IS Sharpe (first one on ties);
    2. its relative OOS rank w = r / (N + 1), r in 1..N the rank of n*'s OOS Sharpe among all trials
       (1 = worst; ties get the average rank);
    3. the logit lambda = ln(w / (1 - w)).

    PBO = share of combinations with lambda <= 0, i.e. the selected trial did no better than the median
    trial out of sample. ``performance_degradation`` is the least-squares line OOS Sharpe = intercept +
    slope * IS Sharpe of the selected trial over the combinations (annualised Sharpe ratios), and
    ``prob_oos_loss`` the share of combinations whose selected trial has a negative OOS Sharpe.

    Vectorised: per block and trial the sums and sums of squares are computed once; each combination's
    IS/OOS Sharpe ratios follow from a (combinations x blocks) 0/1 matrix product.

    All-NaN columns are dropped and other NaN returns count as 0. Undefined (``pbo: None`` with a
    ``reason``) for fewer than 2 trials or fewer than 2 rows per block.
    """
    if n_blocks < 2 or n_blocks % 2:
        raise ValueError("n_blocks must be an even integer >= 2")
    values, _labels, dropped = _trial_matrix(trial_returns)
    n_rows, n_trials = values.shape
    method = (
        f"CSCV probability of backtest overfitting (Bailey, Borwein, Lopez de Prado & Zhu 2017): "
        f"{n_blocks} contiguous blocks, C({n_blocks},{n_blocks // 2}) IS/OOS splits, selection by best IS "
        f"Sharpe, PBO = share of logit(OOS rank/(N+1)) <= 0; Sharpe annualised with {periods_per_year} "
        f"periods/year; NaN returns = 0, all-NaN trials dropped"
    )
    report: dict[str, Any] = {
        "pbo": None,
        "n_combinations": math.comb(n_blocks, n_blocks // 2),
        "n_trials": n_trials,
        "n_blocks": n_blocks,
        "n_observations": n_rows,
        "n_dropped_trials": dropped,
        "periods_per_year": periods_per_year,
        "logits": [],
        "median_logit": None,
        "performance_degradation": None,
        "prob_oos_loss": None,
        "method": method,
    }
    if n_trials < 2:
        return {**report, "reason": "fewer than 2 trials: nothing was selected"}
    if n_rows < 2 * n_blocks:
        return {**report, "reason": f"{n_rows} rows: fewer than 2 rows per block for {n_blocks} blocks"}

    blocks = np.array_split(np.arange(n_rows), n_blocks)
    block_starts = np.array([int(block[0]) for block in blocks])
    block_sums = np.add.reduceat(values, block_starts, axis=0)
    block_squares = np.add.reduceat(values**2, block_starts, axis=0)
    block_counts = np.array([len(block) for block in blocks], dtype=float)

    combos = np.array(list(itertools.combinations(range(n_blocks), n_blocks // 2)))
    in_sample = np.zeros((len(combos), n_blocks))
    in_sample[np.arange(len(combos))[:, None], combos] = 1.0
    is_sum, is_sq, is_n = in_sample @ block_sums, in_sample @ block_squares, in_sample @ block_counts
    oos_sum = block_sums.sum(axis=0) - is_sum
    oos_sq = block_squares.sum(axis=0) - is_sq
    oos_n = block_counts.sum() - is_n
    is_sharpe = _sharpe_from_sums(is_sum, is_sq, is_n[:, None])
    oos_sharpe = _sharpe_from_sums(oos_sum, oos_sq, oos_n[:, None])

    rows = np.arange(len(combos))
    chosen = np.argmax(is_sharpe, axis=1)
    chosen_oos = oos_sharpe[rows, chosen][:, None]
    rank = (oos_sharpe < chosen_oos).sum(axis=1) + ((oos_sharpe == chosen_oos).sum(axis=1) + 1) / 2.0
    omega = rank / (n_trials + 1.0)
    logits = np.log(omega / (1.0 - omega))

    scale = math.sqrt(periods_per_year)
    chosen_is_annual = is_sharpe[rows, chosen] * scale
    chosen_oos_annual = chosen_oos[:, 0] * scale
    degradation: dict[str, Any] | None = None
    if np.ptp(chosen_is_annual) > 0:
        slope, intercept = np.polyfit(chosen_is_annual, chosen_oos_annual, 1)
        degradation = {"slope": float(slope), "intercept": float(intercept)}
    return json_safe({
        **report,
        "pbo": float(np.mean(logits <= 0.0)),
        "n_combinations": len(combos),
        "logits": logits,
        "median_logit": float(np.median(logits)),
        "performance_degradation": degradation,
        "prob_oos_loss": float(np.mean(chosen_oos_annual < 0.0)),
    })


# ------------------------------------------------------------------------------------------------ CPCV


def cpcv_sharpe_distribution(
    trial_returns: pd.DataFrame | np.ndarray,
    *,
    n_groups: int = 6,
    n_test_groups: int = 2,
    embargo: float = 0.01,
    purge: int = 0,
    periods_per_year: int = 365,
) -> dict:
    """Out-of-sample Sharpe distribution of "pick the best trial" by combinatorial purged CV (CPCV).

    Method (Lopez de Prado 2018, "Advances in Financial Machine Learning", sections 7.4 and 12.4), applied
    to the selection procedure rather than to one model: the T rows are split into N = ``n_groups``
    contiguous groups (``numpy.array_split``). For each of the C(N, k) splits with k = ``n_test_groups``
    test groups, the training set is every other row except

    * purge: the ``purge`` rows just before each test group (labels that would overlap the test period),
    * embargo: the h = ceil(``embargo`` * T) rows just after each test group,

    and the trial with the best training Sharpe is selected; its returns on the test groups are its
    out-of-sample forecast. Each group is tested in phi = C(N-1, k-1) = C(N, k) * k / N splits, so the
    test results assemble into phi complete backtest paths: path j takes, for every group g, the j-th
    split (in ``itertools.combinations`` order) whose test set contains g (the book's fig. 12.1 scheme).
    ``path_splits[j][g]`` is that split's index in ``splits``. Every path is one return series of length
    T; its annualised Sharpe is reported (``None`` if it has no variance).

    Returns ``n_paths``, ``path_sharpes``, ``median_sharpe``, ``mean_sharpe``, ``share_positive``
    (share of defined path Sharpe ratios > 0), ``n_splits``, ``splits``, ``selected_trials`` (the trial
    label chosen per split), ``path_splits``, the parameters and ``method``. All-NaN columns are dropped,
    other NaN returns count as 0. Undefined (``None`` statistics and a ``reason``) with no trials, fewer
    than 2 rows per group, or a split left with fewer than 2 training rows.
    """
    if n_groups < 2 or not 1 <= n_test_groups < n_groups:
        raise ValueError("need n_groups >= 2 and 1 <= n_test_groups < n_groups")
    if not 0.0 <= embargo < 1.0 or purge < 0:
        raise ValueError("embargo must be in [0, 1) and purge >= 0")
    values, labels, dropped = _trial_matrix(trial_returns)
    n_rows, n_trials = values.shape
    embargo_rows = math.ceil(embargo * n_rows)
    n_paths = math.comb(n_groups, n_test_groups) * n_test_groups // n_groups
    splits = list(itertools.combinations(range(n_groups), n_test_groups))
    method = (
        f"CPCV of best-Sharpe selection (Lopez de Prado 2018, ch. 12): {n_groups} groups, "
        f"{n_test_groups} test groups, C({n_groups},{n_test_groups}) = {len(splits)} splits, {n_paths} paths; "
        f"purge {purge} rows before and embargo {embargo_rows} rows (ceil({embargo} * T)) after each test "
        f"group; path Sharpe annualised with {periods_per_year} periods/year; NaN returns = 0"
    )
    report: dict[str, Any] = {
        "n_paths": n_paths,
        "path_sharpes": [],
        "median_sharpe": None,
        "mean_sharpe": None,
        "share_positive": None,
        "n_splits": len(splits),
        "n_groups": n_groups,
        "n_test_groups": n_test_groups,
        "embargo": embargo,
        "embargo_rows": embargo_rows,
        "purge": purge,
        "periods_per_year": periods_per_year,
        "n_trials": n_trials,
        "n_observations": n_rows,
        "n_dropped_trials": dropped,
        "splits": [list(split) for split in splits],
        "selected_trials": [],
        "path_splits": [],
        "method": method,
    }
    if n_trials < 1:
        return {**report, "reason": "no trial with any return"}
    if n_rows < 2 * n_groups:
        return {**report, "reason": f"{n_rows} rows: fewer than 2 rows per group for {n_groups} groups"}

    groups = np.array_split(np.arange(n_rows), n_groups)
    chosen: list[int] = []
    for split in splits:
        train = np.ones(n_rows, dtype=bool)
        for g in split:
            first, last = int(groups[g][0]), int(groups[g][-1])
            train[max(first - purge, 0): last + 1 + embargo_rows] = False
        if train.sum() < 2:
            return {**report, "reason": f"split {list(split)} leaves fewer than 2 training rows"}
        chosen.append(int(np.argmax(_column_sharpe(values[train]))))

    path_splits = [[0] * n_groups for _ in range(n_paths)]
    for g in range(n_groups):
        containing = [i for i, split in enumerate(splits) if g in split]
        for path, split_index in enumerate(containing):
            path_splits[path][g] = split_index
    sharpes = [
        _annual_sharpe(np.concatenate([values[groups[g], chosen[path[g]]] for g in range(n_groups)]),
                       periods_per_year)
        for path in path_splits
    ]
    defined = np.array([s for s in sharpes if s is not None], dtype=float)
    return json_safe({
        **report,
        "path_sharpes": sharpes,
        "median_sharpe": float(np.median(defined)) if defined.size else None,
        "mean_sharpe": float(np.mean(defined)) if defined.size else None,
        "share_positive": float(np.mean(defined > 0)) if defined.size else None,
        "selected_trials": [_label(labels[i]) for i in chosen],
        "path_splits": path_splits,
    })


# ------------------------------------------------------------------------------------------- SPA / RC


def _long_run_variance(demeaned: np.ndarray, block_size: int) -> np.ndarray:
    """Hansen's (2005, eq. 5 / Politis-Romano) stationary-bootstrap kernel variance of each column.

    omega^2 = g_0 + 2 sum_{i=1}^{n-1} kappa(n, i) g_i, kappa = (1 - i/n)(1 - p)^i + (i/n)(1 - p)^(n - i),
    p = 1 / block_size, g_i the i-th sample autocovariance (divisor n); autocovariances via FFT. The
    same estimator as ``arch.bootstrap.SPA`` (non-nested).
    """
    n = demeaned.shape[0]
    spectrum = np.fft.rfft(demeaned, n=2 * n, axis=0)
    autocov = np.fft.irfft(spectrum * np.conj(spectrum), n=2 * n, axis=0)[:n] / n
    lags = np.arange(1, n)
    p = 1.0 / block_size
    kappa = (1.0 - lags / n) * (1.0 - p) ** lags + (lags / n) * (1.0 - p) ** (n - lags)
    return autocov[0] + 2.0 * (kappa[:, None] * autocov[1:]).sum(axis=0)


def load_bootstrap_library() -> None:
    """Import ``arch.bootstrap`` now (with statsmodels and matplotlib, which it imports: about 1.6 s), in a
    process that will run :func:`spa_test` later: a research strategy process does it while the data loads."""
    import arch.bootstrap  # noqa: F401


def spa_test(
    model_returns: pd.DataFrame,
    benchmark_returns: pd.Series,
    *,
    reps: int = 1000,
    block_size: int | None = None,
    seed: int = 0,
) -> dict:
    """Hansen's SPA test and White's Reality Check: does any model beat the benchmark after data snooping?

    Losses are negative returns, so the loss differentials d_k = benchmark loss - model k loss are the
    models' excess returns. Rows are aligned on the common index; all-NaN model columns are dropped,
    then rows with any NaN. H0: no model has a positive expected excess return.

    * ``spa_pvalue`` / ``_lower`` / ``_upper``: Hansen (2005) SPA with the studentized statistic
      T = max(max_k sqrt(n) mean(d_k) / omega_k, 0), omega_k^2 the stationary-bootstrap kernel variance,
      and the consistent / lower / upper re-centrings of the bootstrap means (consistent: models whose
      t-statistic is below -sqrt(2 log log n) are not re-centred). The bootstrap index draws come from
      ``arch.bootstrap.StationaryBootstrap``, exactly as ``arch.bootstrap.SPA`` draws them for the same
      seed; the studentization is done here because ``arch`` 8.0's ``SPA.compute`` accepts
      ``studentize=True`` but compares unscaled mean differentials. Its unstudentized p-values are
      reported as ``spa_pvalues_unstudentized`` (from ``arch.bootstrap.SPA``).
    * ``reality_check_pvalue``: White (2000) Reality Check = ``arch.bootstrap.RealityCheck`` without
      studentization, "upper" p-value (every model re-centred at its sample mean): statistic
      max_k mean(d_k) against the bootstrap distribution of max_k (mean*(d_k) - mean(d_k)).

    ``block_size`` None: the Politis & White (2004) automatic stationary-bootstrap block length (with the
    Patton, Politis & White 2009 correction, ``arch.bootstrap.optimal_block_length``), averaged over the
    models' excess returns and rounded up, at least 1. Reproducible: each bootstrap gets
    ``numpy.random.default_rng(seed)``, so all three use the same index draws.
    """
    from arch.bootstrap import SPA, RealityCheck, StationaryBootstrap, optimal_block_length

    models = model_returns.apply(pd.to_numeric, errors="coerce").astype(float)
    if isinstance(models, pd.Series):
        models = models.to_frame()
    models = models.replace([np.inf, -np.inf], np.nan).dropna(axis=1, how="all")
    benchmark = pd.to_numeric(benchmark_returns, errors="coerce").astype(float).rename("__benchmark__")
    joined = models.join(benchmark.replace([np.inf, -np.inf], np.nan), how="inner").dropna(axis=0, how="any")
    n_obs, n_models = joined.shape[0], models.shape[1]
    report: dict[str, Any] = {
        "spa_pvalue": None,
        "spa_pvalue_lower": None,
        "spa_pvalue_upper": None,
        "reality_check_pvalue": None,
        "spa_pvalues_unstudentized": None,
        "n_models": n_models,
        "n_observations": n_obs,
        "block_size": block_size,
        "reps": reps,
        "seed": seed,
        "best_model": None,
        "best_mean_excess": None,
    }

    def method(size: Any) -> str:
        return (
            f"Hansen (2005) studentized SPA (consistent/lower/upper) and White (2000) Reality Check on "
            f"excess returns over the benchmark (losses = -returns), stationary bootstrap (arch), "
            f"{reps} reps, block size {size}"
            f"{' (Politis-White automatic)' if block_size is None else ''}, seed {seed}"
        )

    if n_models < 1 or n_obs < 10:
        return {**report, "method": method(block_size), "reason": "need at least 1 model and 10 common rows"}
    excess = joined[models.columns].to_numpy() - joined[["__benchmark__"]].to_numpy()
    mean_excess = excess.mean(axis=0)
    best = int(np.argmax(mean_excess))
    report["best_model"] = _label(models.columns[best])
    report["best_mean_excess"] = float(mean_excess[best])
    if block_size is None:
        automatic = optimal_block_length(excess)["stationary"].to_numpy(dtype=float)
        automatic = automatic[np.isfinite(automatic)]
        size = max(1, math.ceil(float(automatic.mean()))) if automatic.size else max(1, int(math.sqrt(n_obs)))
        size = min(size, n_obs)
    else:
        size = int(block_size)
    report["block_size"] = size

    model_losses = -joined[models.columns].to_numpy()
    benchmark_losses = -joined["__benchmark__"].to_numpy()
    arch_spa = SPA(benchmark_losses, model_losses, block_size=size, reps=reps,
                   seed=np.random.default_rng(seed))
    arch_spa.compute()
    reality = RealityCheck(benchmark_losses, model_losses, block_size=size, reps=reps, studentize=False,
                           seed=np.random.default_rng(seed))
    reality.compute()

    n = float(n_obs)
    omega = np.sqrt(np.maximum(_long_run_variance(excess - mean_excess, size), 0.0))
    usable = omega > 0
    result = {
        **report,
        "reality_check_pvalue": float(reality.pvalues["upper"]),
        "spa_pvalues_unstudentized": {k: float(v) for k, v in arch_spa.pvalues.items()},
        "method": method(size),
    }
    if not usable.any():
        return json_safe({**result, "reason": "every excess-return series has zero variance"})
    d, d_mean, w = excess[:, usable], mean_excess[usable], omega[usable]
    boot_means = np.empty((reps, d.shape[1]))
    bootstrap = StationaryBootstrap(size, d, seed=np.random.default_rng(seed))
    for i, (positional, _kw) in enumerate(bootstrap.bootstrap(reps)):
        boot_means[i] = positional[0].mean(axis=0)
    t_observed = max(float(np.max(math.sqrt(n) * d_mean / w)), 0.0)
    threshold = -np.sqrt(w**2 / n * 2.0 * math.log(math.log(n)))
    recentre = {
        "lower": np.maximum(d_mean, 0.0),
        "consistent": np.where(d_mean >= threshold, d_mean, 0.0),
        "upper": d_mean,
    }
    pvalues = {}
    for name, centre in recentre.items():
        t_boot = np.maximum((math.sqrt(n) * (boot_means - centre) / w).max(axis=1), 0.0)
        pvalues[name] = float(np.mean(t_boot > t_observed))
    return json_safe({
        **result,
        "spa_pvalue": pvalues["consistent"],
        "spa_pvalue_lower": pvalues["lower"],
        "spa_pvalue_upper": pvalues["upper"],
    })


# ------------------------------------------------------------------------------------ permutation test


def _permutable_slice(frame: pd.DataFrame, start: pd.Timestamp) -> int:
    """Row position of the first permuted bar: the first bar at/after ``start``, but never row 0 (the
    first bar has no previous close; it then stays as the anchor)."""
    if not frame.index.is_monotonic_increasing:
        raise ValueError("candle index must be sorted ascending")
    return max(int(frame.index.searchsorted(start, side="left")), 1)


def permute_bars(
    candles: Mapping[str, pd.DataFrame],
    start: pd.Timestamp,
    rng: np.random.Generator,
) -> dict[str, pd.DataFrame]:
    """Bar-permuted copies of OHLCV candles (Masters 2020, ch. "Permuting price bars").

    Bars before ``start`` are unchanged (warm-up). From ``start`` on, each bar i is described by its
    close-to-close log return r_i = ln(close_i / close_{i-1}) and its shape relative to its own close,
    ln(open_i / close_i), ln(high_i / close_i), ln(low_i / close_i); these four numbers and the bar's
    volume move *together* to a random position (one permutation of the bars; the overnight gap
    open_i / close_{i-1} = exp(r_i + ln(open_i / close_i)) travels with the bar too). Prices are rebuilt
    by compounding the permuted r from the last close before ``start``, so the permuted path starts where
    the real one was and, because a permutation keeps the sum of log returns, ends at the same final
    close (up to floating-point rounding). Masters permutes the intrabar moves and the gaps separately;
    keeping each bar whole is a simpler choice that keeps each bar's own range/gap/volume intact.

    * If a frame has no bar before ``start``, its first bar is kept as the anchor and the rest permuted.
    * When every symbol's permuted section has exactly the same index, ONE permutation is applied to all
      (keeps the cross-sectional correlation of simultaneous bars); otherwise each symbol draws its own
      permutation, in sorted symbol order, from ``rng``.
    * Columns other than open/high/low/close/volume stay in place, unchanged; the index is unchanged.
    * high/low are re-clipped to max/min(open, close) (a no-op for consistent input).

    Requires a ``close`` column (open/high/low/volume optional) with positive finite prices in the
    permuted section and an ascending index. Price and volume columns come back as float. A naive
    ``start`` is read as UTC when the frames' index is tz-aware.
    """
    if not candles:
        return {}
    start = pd.Timestamp(start)
    if start.tzinfo is None and any(getattr(f.index, "tz", None) is not None for f in candles.values()):
        start = start.tz_localize("UTC")
    starts = {symbol: _permutable_slice(frame, start) for symbol, frame in candles.items()}
    sections = {symbol: candles[symbol].index[starts[symbol]:] for symbol in candles}
    symbols = sorted(candles)
    shared = all(sections[s].equals(sections[symbols[0]]) for s in symbols[1:])
    shared_order = rng.permutation(len(sections[symbols[0]])) if shared else None

    result: dict[str, pd.DataFrame] = {}
    for symbol in symbols:
        frame, first = candles[symbol], starts[symbol]
        n = len(frame) - first
        order = None if n < 2 else shared_order if shared_order is not None else rng.permutation(n)
        result[symbol] = _permuted_frame(symbol, frame, first, order)
    return result


def _permuted_frame(symbol: str, frame: pd.DataFrame, first: int, order: np.ndarray | None) -> pd.DataFrame:
    """``frame`` with its bars from row ``first`` on moved by ``order`` (:func:`permute_bars`; ``None``: as they
    are); price and volume columns as float. Each column is built as an array and the frame once: setting
    slices of a copied frame cost 5 ms of the 7 ms of a 5-symbol permutation."""
    columns: dict[str, Any] = {column: frame[column].to_numpy(dtype=float, copy=True)
                               if column in (*PRICE_COLUMNS, "volume") else frame[column].array.copy()
                               for column in frame.columns}
    if order is not None:
        close = frame["close"].to_numpy(dtype=float)
        section = close[first - 1:]
        if not (np.all(np.isfinite(section)) and np.all(section > 0)):
            raise ValueError(f"{symbol}: close prices from start on must be positive and finite")
        log_return = np.diff(np.log(section))[order]
        new_close = section[0] * np.exp(np.cumsum(log_return))
        new_close[-1] = section[-1]  # equal in exact arithmetic (same sum of log returns); drop the rounding
        columns["close"][first:] = new_close
        rebuilt: dict[str, np.ndarray] = {}
        for column in ("open", "high", "low"):
            if column not in frame.columns:
                continue
            prices = frame[column].to_numpy(dtype=float)[first:]
            if not (np.all(np.isfinite(prices)) and np.all(prices > 0)):
                raise ValueError(f"{symbol}: {column} prices from start on must be positive and finite")
            rebuilt[column] = new_close * np.exp(np.log(prices / close[first:])[order])
        body_high = np.maximum(rebuilt.get("open", new_close), new_close)
        body_low = np.minimum(rebuilt.get("open", new_close), new_close)
        if "high" in rebuilt:
            rebuilt["high"] = np.maximum(rebuilt["high"], body_high)
        if "low" in rebuilt:
            rebuilt["low"] = np.minimum(rebuilt["low"], body_low)
        for column, prices in rebuilt.items():
            columns[column][first:] = prices
        if "volume" in frame.columns:
            columns["volume"][first:] = frame["volume"].to_numpy(dtype=float)[first:][order]
    out = pd.DataFrame(columns, index=frame.index, copy=False)
    out.attrs = dict(frame.attrs)
    return out


def _finite_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def permutation_test(
    evaluate: Callable[[dict[str, pd.DataFrame]], float | None],
    candles: Mapping[str, pd.DataFrame],
    start: pd.Timestamp,
    *,
    n_permutations: int = 100,
    seed: int = 0,
    map_: Callable[[Callable[[Any], Any], list], list] | None = None,
) -> dict:
    """Monte Carlo permutation test of a trading rule (Masters 2020; Aronson 2006, ch. 5).

    ``evaluate`` maps candles to a statistic, larger = better (e.g. the total return or Sharpe of the
    strategy's backtest from ``start`` on). observed = evaluate(real candles); then ``n_permutations``
    times evaluate(``permute_bars``(candles)), which keeps the bars' return distribution and the final
    price but destroys any time structure a rule could exploit. One-sided p-value

        p = (1 + #{permuted >= observed}) / (1 + n_valid)

    (the "+1" counts the real series as one of the permutations, so p >= 1/(n+1)). Permuted statistics
    that are ``None`` or non-finite are dropped: they do not count as >= observed, and not in
    ``n_valid`` either (``n_invalid`` says how many). ``p_value`` is ``None`` with a ``reason`` when the
    observed statistic is undefined or no permuted one is. Reproducible: permutation ``i`` is drawn from its own
    stream, child ``i`` of ``numpy.random.SeedSequence(seed)``, so ``map_`` (``map_(fn, items)``, e.g.
    ``core.parallel.parallel_map``) may compute them in any process with the same results as the loop.
    ``evaluate`` receives fresh copies and may modify them.
    """
    method = (
        f"Monte Carlo permutation test (Masters 2020): {n_permutations} bar permutations from {start} on "
        f"(close-to-close log returns with each bar's OHLC shape and volume permuted together, same "
        f"permutation across symbols sharing an index), p = (1 + #perm >= observed) / (1 + n_valid), seed {seed}"
    )
    report: dict[str, Any] = {
        "observed": None,
        "p_value": None,
        "n_permutations": n_permutations,
        "n_valid": 0,
        "n_invalid": 0,
        "permuted_mean": None,
        "permuted_quantiles": {"5": None, "50": None, "95": None},
        "seed": seed,
        "method": method,
    }
    observed = _finite_or_none(evaluate({symbol: frame.copy() for symbol, frame in candles.items()}))
    if observed is None:
        return {**report, "reason": "the statistic of the real candles is undefined"}
    def permuted_statistic(stream: np.random.SeedSequence) -> float | None:
        return _finite_or_none(evaluate(permute_bars(candles, start, np.random.default_rng(stream))))

    streams = np.random.SeedSequence(seed).spawn(n_permutations)
    permuted = (map_ or serial_map)(permuted_statistic, streams)
    valid = np.array([value for value in permuted if value is not None], dtype=float)
    report.update(observed=observed, n_valid=int(valid.size), n_invalid=n_permutations - int(valid.size))
    if not valid.size:
        return {**report, "reason": "no permuted statistic is defined"}
    q5, q50, q95 = np.percentile(valid, [5, 50, 95])
    return json_safe({
        **report,
        "p_value": float((1 + np.sum(valid >= observed)) / (1 + valid.size)),
        "permuted_mean": float(valid.mean()),
        "permuted_quantiles": {"5": q5, "50": q50, "95": q95},
    })


# ----------------------------------------------------------------------------------------------- MinBTL


def minimum_backtest_length(n_trials: int, sharpe_annual: float) -> float | None:
    """MinBTL in years (Bailey, Borwein, Lopez de Prado and Zhu 2014, "Pseudo-mathematics ...", sec. 3).

        MinBTL ~ [((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e))) / SR]^2,   g = Euler-Mascheroni,

    the number of years of data below which the best of N independent unskilled configurations is
    expected to show an annualised in-sample Sharpe of at least ``sharpe_annual`` (the bracket is
    ``overfitting.expected_maximum_sharpe(N, 1)``: E[max] of N standard normals). N = 1: 0 years by
    convention (one trial has no selection bias). A non-positive or non-finite Sharpe: ``None`` (luck
    alone beats a Sharpe <= 0 at any length, so no minimum length exists). N < 1 raises ``ValueError``.
    """
    if n_trials < 1:
        raise ValueError("n_trials must be at least 1")
    if not math.isfinite(sharpe_annual) or sharpe_annual <= 0:
        return None
    if n_trials == 1:
        return 0.0
    return (overfitting.expected_maximum_sharpe(n_trials, 1.0) / sharpe_annual) ** 2


def minimum_backtest_length_report(n_trials: int, sharpe_annual: float, years_available: float) -> dict:
    """``minimum_backtest_length`` and whether ``years_available`` of data reach it (JSON-safe).

    ``sufficient`` is True when years_available >= MinBTL; False when MinBTL is undefined (non-positive
    Sharpe) or the available years are not a finite number.
    """
    min_years = minimum_backtest_length(n_trials, sharpe_annual)
    years = _finite_or_none(years_available)
    return json_safe({
        "min_years": min_years,
        "years_available": years,
        "sufficient": bool(min_years is not None and years is not None and years >= min_years),
        "n_trials": n_trials,
        "sharpe_annual": _finite_or_none(sharpe_annual),
        "method": (
            f"MinBTL (Bailey, Borwein, Lopez de Prado & Zhu 2014) = ((1-g) Phi^-1(1-1/N) + g Phi^-1(1-1/(N e)))^2"
            f" / SR^2 years with N = {n_trials} trials, annual SR = {sharpe_annual}"
        ),
    })


# ----------------------------------------------------------------------------------- effective trials


def effective_number_of_trials(trial_returns: pd.DataFrame | np.ndarray) -> dict:
    """N_eff = rho + (1 - rho) * N from the average pairwise correlation rho of the trials' returns.

    rho = mean of the off-diagonal Pearson correlations of the trial columns (pairwise complete rows;
    pairs with an undefined correlation, e.g. a constant column, are ignored), clipped to [0, 1], so N_eff
    runs from 1 (identical trials) to N (uncorrelated trials). This is the simple average-correlation
    adjustment discussed with the deflated Sharpe ratio (Bailey and Lopez de Prado 2014; Lopez de Prado
    2018, "Advances in Financial ML", sec. 14.7 and 11.6, which prefers clustering trials): a heuristic,
    not an estimate of N's sampling distribution. All-NaN columns are dropped before counting N.
    """
    if isinstance(trial_returns, pd.DataFrame):
        frame = trial_returns.apply(pd.to_numeric, errors="coerce").astype(float)
    else:
        values = np.asarray(trial_returns, dtype=float)
        frame = pd.DataFrame(values[:, None] if values.ndim == 1 else values)
    frame = frame.replace([np.inf, -np.inf], np.nan).dropna(axis=1, how="all")
    n_trials = frame.shape[1]
    method = ("effective number of trials N_eff = rho + (1 - rho) N, rho = mean off-diagonal Pearson "
              "correlation of the trials' returns clipped to [0, 1] (Bailey & Lopez de Prado 2014)")
    report: dict[str, Any] = {"n_trials": n_trials, "average_correlation": None, "n_effective": None,
                              "method": method}
    if n_trials == 0:
        return {**report, "reason": "no trial with any return"}
    if n_trials == 1:
        return {**report, "n_effective": 1.0}
    corr = frame.corr().to_numpy()
    off_diagonal = corr[~np.eye(n_trials, dtype=bool)]
    off_diagonal = off_diagonal[np.isfinite(off_diagonal)]
    if not off_diagonal.size:
        return {**report, "reason": "no defined pairwise correlation"}
    rho = float(np.clip(off_diagonal.mean(), 0.0, 1.0))
    return json_safe({**report, "average_correlation": rho, "n_effective": rho + (1.0 - rho) * n_trials})


def deflated_sharpe_effective(
    returns: Sequence[float] | np.ndarray,
    trial_sharpes: Sequence[float],
    n_effective: float,
    *,
    periods_per_year: int = 365,
) -> dict:
    """``overfitting.deflated_sharpe_report`` with the number of trials replaced by ``n_effective``.

    The trials' Sharpe variance V still comes from ``trial_sharpes`` (per-period Sharpe ratios of every
    configuration tried); only the N of E[max SR] = sqrt(V) ((1-g) Phi^-1(1-1/N) + g Phi^-1(1-1/(N e)))
    becomes the (possibly non-integer) effective number, e.g. ``effective_number_of_trials(...)
    ["n_effective"]``. Keys: those of ``deflated_sharpe_report`` (``n_trials`` = the counted trials,
    ``expected_max_sharpe`` and ``dsr`` recomputed with N_eff), plus ``n_effective`` and ``method``.
    """
    if not n_effective >= 1:
        raise ValueError("n_effective must be at least 1")
    report = overfitting.deflated_sharpe_report(returns, trial_sharpes, periods_per_year=periods_per_year)
    variance = report["trials_sharpe_variance"]
    report["expected_max_sharpe"] = overfitting.expected_maximum_sharpe(n_effective, variance)
    if report["sharpe"] is not None:
        report["dsr"] = overfitting.deflated_sharpe_ratio(
            report["sharpe"], report["n_observations"], n_trials=n_effective, trials_sharpe_variance=variance,
            skewness=report["skewness"], kurtosis=report["kurtosis"],
        )
    report["n_effective"] = float(n_effective)
    report["method"] = (f"deflated Sharpe ratio (Bailey & Lopez de Prado 2014) with N = N_eff = {n_effective} "
                        f"instead of the {report['n_trials']} counted trials")
    return json_safe(report)
