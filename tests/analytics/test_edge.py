"""Known-answer tests of analytics.edge: pure noise must not pass, a planted edge must.

Pure (no database). Every random input comes from ``np.random.default_rng(seed)`` with a fixed seed; where a
single seed decides a noise case, the test says so, and the calibration over many seeds is checked too
where that is cheap.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from analytics import edge
from analytics import overfitting as of

stats = pytest.importorskip("scipy.stats")


def assert_json_safe(report: dict) -> None:
    json.dumps(report, allow_nan=False)


def noise(seed: int, rows: int, cols: int, scale: float = 0.01) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, scale, (rows, cols))


# ------------------------------------------------------------------------------------------------ PBO


def test_pbo_hand_computed_two_blocks_four_trials():
    """S = 2 blocks of 2 rows, 4 trials; per-block Sharpe (mean/std, ddof=1) worked out by hand:

    A: [1, 3 | -3, -1] -> sqrt2, -sqrt2;      B: [-1, 1 | 0, 2] -> 0, 1/sqrt2
    C: [0, 2 | 1, 2]   -> 1/sqrt2, 3/sqrt2;   D: [-3, -1 | -4, -1] -> -sqrt2, -2.5/sqrt(4.5)
    IS = block 0: A is best; OOS (block 1) A is worst, rank 1 -> w = 1/5 -> logit ln(1/4).
    IS = block 1: C is best; OOS (block 0) order D < B < C < A, rank 3 -> w = 3/5 -> logit ln(3/2).
    PBO = 1/2. Degradation line through (sqrt2, -sqrt2) and (3/sqrt2, 1/sqrt2): slope 3, intercept -4 sqrt2.
    """
    trials = np.array([
        [1, -1, 0, -3],
        [3, 1, 2, -1],
        [-3, 0, 1, -4],
        [-1, 2, 2, -1],
    ], dtype=float)
    report = edge.pbo_cscv(trials, n_blocks=2, periods_per_year=1)
    assert report["n_combinations"] == 2
    assert report["pbo"] == pytest.approx(0.5)
    assert report["logits"] == pytest.approx([math.log(1 / 4), math.log(3 / 2)])
    assert report["median_logit"] == pytest.approx((math.log(1 / 4) + math.log(3 / 2)) / 2)
    assert report["performance_degradation"]["slope"] == pytest.approx(3.0)
    assert report["performance_degradation"]["intercept"] == pytest.approx(-4 * math.sqrt(2))
    assert report["prob_oos_loss"] == pytest.approx(0.5)
    assert_json_safe(report)


def test_pbo_hand_computed_extremes():
    """Two blocks, two trials. Trial A up then down, B the mirror: the IS winner always loses OOS
    (rank 1 of 2 -> w = 1/3 -> logit ln(1/2)), PBO = 1. If A is up in both blocks and B down in both,
    the IS winner always wins OOS (rank 2 -> logit ln 2), PBO = 0."""
    up, down = [1.0, 3.0], [-3.0, -1.0]
    flipping = np.column_stack([up + down, down + up])
    consistent = np.column_stack([up + up, down + down])
    overfit = edge.pbo_cscv(flipping, n_blocks=2)
    assert overfit["pbo"] == 1.0
    assert overfit["logits"] == pytest.approx([math.log(0.5)] * 2)
    honest = edge.pbo_cscv(consistent, n_blocks=2)
    assert honest["pbo"] == 0.0
    assert honest["logits"] == pytest.approx([math.log(2.0)] * 2)


def test_pbo_matches_a_brute_force_loop():
    """An independent, loop-based CSCV (np.std, scipy's average ranks) gives the same logits."""
    rng = np.random.default_rng(11)
    values = rng.normal(0.0, 0.01, (63, 5)) + rng.normal(0.0, 0.002, 5)
    n_blocks = 6
    blocks = np.array_split(np.arange(63), n_blocks)
    expected = []
    for combo in itertools.combinations(range(n_blocks), n_blocks // 2):
        is_rows = np.concatenate([blocks[b] for b in combo])
        oos_rows = np.concatenate([blocks[b] for b in range(n_blocks) if b not in combo])
        is_sharpe = values[is_rows].mean(0) / values[is_rows].std(0, ddof=1)
        oos_sharpe = values[oos_rows].mean(0) / values[oos_rows].std(0, ddof=1)
        best = int(np.argmax(is_sharpe))
        omega = stats.rankdata(oos_sharpe)[best] / (values.shape[1] + 1)
        expected.append(math.log(omega / (1 - omega)))
    report = edge.pbo_cscv(values, n_blocks=n_blocks)
    assert report["logits"] == pytest.approx(expected, rel=1e-9)
    assert report["pbo"] == pytest.approx(np.mean(np.array(expected) <= 0))


def test_pbo_of_pure_noise_is_near_one_half():
    """20 iid-noise trials have no edge: the best IS trial is a random OOS trial, so PBO ~ 0.5."""
    pbos = [edge.pbo_cscv(noise(seed, 800, 20))["pbo"] for seed in range(10)]
    assert pbos[0] >= 0.3
    assert 0.35 <= np.mean(pbos) <= 0.65


def test_pbo_of_a_planted_edge_is_small():
    """One trial with a daily Sharpe of 0.2 among 19 noise trials is selected and stays good OOS."""
    values = noise(1, 800, 20)
    values[:, 7] += 0.002
    report = edge.pbo_cscv(values)
    assert report["pbo"] < 0.1
    assert report["median_logit"] > 0
    assert report["n_trials"] == 20 and report["n_combinations"] == 12870
    assert_json_safe(report)


def test_pbo_undefined_and_nan_handling():
    single = edge.pbo_cscv(noise(0, 200, 1))
    assert single["pbo"] is None and "reason" in single
    short = edge.pbo_cscv(noise(0, 31, 4), n_blocks=16)
    assert short["pbo"] is None and "reason" in short
    with pytest.raises(ValueError):
        edge.pbo_cscv(noise(0, 200, 4), n_blocks=5)
    frame = pd.DataFrame(noise(2, 200, 4), columns=list("abcd"))
    frame["dead"] = np.nan
    frame.iloc[::7, 0] = np.nan
    report = edge.pbo_cscv(frame, n_blocks=4)
    assert report["n_trials"] == 4 and report["n_dropped_trials"] == 1
    assert report == edge.pbo_cscv(frame.drop(columns="dead").fillna(0.0), n_blocks=4) | {"n_dropped_trials": 1}
    assert_json_safe(single)


# ----------------------------------------------------------------------------------------------- CPCV


@pytest.mark.parametrize(("n_groups", "k"), [(6, 2), (10, 2), (5, 3), (4, 1)])
def test_cpcv_paths_cover_every_group_phi_times(n_groups, k):
    report = edge.cpcv_sharpe_distribution(noise(3, 400, 5), n_groups=n_groups, n_test_groups=k)
    phi = math.comb(n_groups, k) * k // n_groups
    assert report["n_paths"] == phi == len(report["path_sharpes"]) == len(report["path_splits"])
    assert report["n_splits"] == math.comb(n_groups, k)
    used = Counter()
    for path in report["path_splits"]:
        assert len(path) == n_groups
        for group, split_index in enumerate(path):
            assert group in report["splits"][split_index]  # the split really tested this group
            used[(split_index, group)] += 1
    # every (split, tested group) pair is used exactly once, so each group appears in exactly phi paths
    expected_pairs = {(i, g) for i, split in enumerate(report["splits"]) for g in split}
    assert set(used) == expected_pairs and set(used.values()) == {1}
    assert all(sum(1 for s, g in used if g == group) == phi for group in range(n_groups))
    assert_json_safe(report)


def test_cpcv_of_pure_noise_centres_on_zero():
    """T = 2000 daily rows: one path's annualised Sharpe has a standard error of about sqrt(365/2000) =
    0.43, so a single seed's median is only loosely near 0; the average over 10 seeds is tighter."""
    reports = [edge.cpcv_sharpe_distribution(noise(seed, 2000, 20), n_groups=10) for seed in range(10)]
    assert abs(reports[0]["median_sharpe"]) < 1.0
    assert reports[0]["share_positive"] <= 0.8
    assert abs(np.mean([r["median_sharpe"] for r in reports])) < 0.4
    assert 0.2 <= np.mean([r["share_positive"] for r in reports]) <= 0.8


def test_cpcv_of_a_planted_edge_is_positive():
    values = noise(4, 2000, 20)
    values[:, 12] += 0.001  # daily Sharpe 0.1, annualised ~1.9
    report = edge.cpcv_sharpe_distribution(values, n_groups=10)
    assert report["median_sharpe"] > 1.0
    assert report["share_positive"] == 1.0
    assert Counter(report["selected_trials"]).most_common(1)[0][0] == 12


def test_cpcv_embargo_and_purge_remove_training_rows():
    """Trial 1 earns only in 30 rows right after (embargo case) or right before (purge case) a test
    window; once those rows leave the training set, the steady trial 0 is selected instead."""
    rng = np.random.default_rng(5)
    steady = rng.normal(0.001, 0.01, 600)
    spike_after, spike_before = np.zeros(600), np.zeros(600)
    spike_after[200:230] = 0.05 + rng.normal(0, 0.001, 30)   # just after test groups 0-1 (rows 0-199)
    spike_before[70:100] = 0.05 + rng.normal(0, 0.001, 30)   # just before test groups 1-2 (rows 100-299)
    after = np.column_stack([steady, spike_after])
    before = np.column_stack([steady, spike_before])
    kwargs = {"n_groups": 6, "n_test_groups": 2}
    split_01 = edge.cpcv_sharpe_distribution(after, embargo=0.0, **kwargs)["splits"].index([0, 1])
    assert edge.cpcv_sharpe_distribution(after, embargo=0.0, **kwargs)["selected_trials"][split_01] == 1
    embargoed = edge.cpcv_sharpe_distribution(after, embargo=0.05, **kwargs)
    assert embargoed["embargo_rows"] == 30
    assert embargoed["selected_trials"][split_01] == 0
    split_12 = embargoed["splits"].index([1, 2])
    assert edge.cpcv_sharpe_distribution(before, embargo=0.0, **kwargs)["selected_trials"][split_12] == 1
    purged = edge.cpcv_sharpe_distribution(before, embargo=0.0, purge=30, **kwargs)
    assert purged["selected_trials"][split_12] == 0


def test_cpcv_undefined():
    report = edge.cpcv_sharpe_distribution(noise(0, 9, 3), n_groups=6)
    assert report["median_sharpe"] is None and "reason" in report
    assert_json_safe(report)
    with pytest.raises(ValueError):
        edge.cpcv_sharpe_distribution(noise(0, 100, 3), n_groups=4, n_test_groups=4)


# ------------------------------------------------------------------------------------------ SPA / RC


def _frames(seed: int, rows: int = 750, models: int = 10, planted: float = 0.0):
    rng = np.random.default_rng(seed)
    index = pd.date_range("2021-01-01", periods=rows, freq="D", tz="UTC")
    frame = pd.DataFrame(rng.normal(0.0, 0.01, (rows, models)), index=index,
                         columns=[f"m{i}" for i in range(models)])
    frame["m3"] += planted
    return frame, pd.Series(rng.normal(0.0, 0.01, rows), index=index)


def test_spa_and_reality_check_do_not_reject_noise():
    """Seed 0 of this setup is one draw of the null (its p-values are ~uniform across seeds; the
    calibration was checked at 5.5% rejections at 5% over 200 seeds while building the module)."""
    models, benchmark = _frames(0)
    report = edge.spa_test(models, benchmark, reps=500, seed=1)
    assert report["spa_pvalue"] > 0.1
    assert report["reality_check_pvalue"] > 0.1
    assert report["spa_pvalue_lower"] <= report["spa_pvalue"] <= report["spa_pvalue_upper"]
    assert report["n_models"] == 10 and report["n_observations"] == 750
    assert_json_safe(report)


def test_spa_rejection_rate_of_noise_is_small():
    rejections = sum(
        edge.spa_test(*_frames(100 + seed, rows=300, models=5), reps=200, seed=seed)["spa_pvalue"] < 0.05
        for seed in range(20)
    )
    assert rejections <= 3  # 5% of 20 = 1 expected; 4+ has probability ~1.6% under a correct size


def test_spa_and_reality_check_find_a_planted_edge():
    models, benchmark = _frames(2, planted=0.0025)  # excess daily Sharpe ~0.18 over 750 days
    report = edge.spa_test(models, benchmark, reps=500, seed=1)
    assert report["spa_pvalue"] < 0.05
    assert report["reality_check_pvalue"] < 0.05
    assert report["best_model"] == "m3"
    assert report["best_mean_excess"] == pytest.approx((models["m3"] - benchmark).mean())


def test_spa_is_reproducible_for_a_seed():
    models, benchmark = _frames(3)
    first = edge.spa_test(models, benchmark, reps=300, seed=7)
    assert first == edge.spa_test(models, benchmark, reps=300, seed=7)
    assert first["seed"] == 7 and first["reps"] == 300 and isinstance(first["block_size"], int)


def test_studentized_spa_equals_arch_when_all_models_have_the_same_variance():
    """With excess returns = one common series + different constants, every omega_k is the same, so
    studentizing cannot change the order of anything: the module's Hansen statistic must then give
    exactly arch's (unstudentized) p-values from the same bootstrap draws."""
    rng = np.random.default_rng(8)
    benchmark = pd.Series(rng.normal(0, 0.01, 500))
    common = rng.normal(0, 0.01, 500)
    models = pd.DataFrame({f"m{i}": benchmark + common + shift
                           for i, shift in enumerate([-0.002, 0.0, 0.0004, 0.0008])})
    report = edge.spa_test(models, benchmark, reps=400, block_size=5, seed=3)
    arch_values = report["spa_pvalues_unstudentized"]
    assert report["spa_pvalue"] == arch_values["consistent"]
    assert report["spa_pvalue_lower"] == arch_values["lower"]
    assert report["spa_pvalue_upper"] == arch_values["upper"]
    assert report["block_size"] == 5


def test_studentization_keeps_a_precise_edge_visible_next_to_a_noisy_model():
    """Hansen's point: without studentizing, one very noisy model's luck swamps a small, precise edge.
    m0 earns 0.1%/day with 0.5% daily volatility (t ~ 5.5); m1-m4 are noise with 10% volatility."""
    rng = np.random.default_rng(22)
    benchmark = pd.Series(np.zeros(750))
    models = pd.DataFrame({"m0": rng.normal(0.001, 0.005, 750),
                           **{f"m{i}": rng.normal(0.0, 0.1, 750) for i in range(1, 5)}})
    report = edge.spa_test(models, benchmark, reps=500, seed=2)
    assert report["spa_pvalue"] < 0.05
    assert report["spa_pvalues_unstudentized"]["consistent"] > 0.05
    assert report["reality_check_pvalue"] > 0.05


def test_long_run_variance_matches_hansen_formula_loop():
    x = np.random.default_rng(9).normal(size=(120, 3))
    x[1:] += 0.5 * x[:-1]
    demeaned = x - x.mean(0)
    n, p = len(x), 1 / 7
    expected = (demeaned**2).sum(0) / n
    for i in range(1, n):
        kappa = (1 - i / n) * (1 - p) ** i + (i / n) * (1 - p) ** (n - i)
        expected = expected + 2 * kappa * (demeaned[: n - i] * demeaned[i:]).sum(0) / n
    np.testing.assert_allclose(edge._long_run_variance(demeaned, 7), expected, rtol=1e-10)


def test_spa_aligns_on_common_rows_and_drops_nan():
    models, benchmark = _frames(4, rows=200)
    models.iloc[25, 2] = np.nan  # inside the common rows 20..199
    models["dead"] = np.nan
    report = edge.spa_test(models, benchmark.iloc[20:], reps=100)
    assert report["n_models"] == 10 and report["n_observations"] == 179
    tiny = edge.spa_test(models.iloc[:5], benchmark, reps=100)
    assert tiny["spa_pvalue"] is None and "reason" in tiny
    assert_json_safe(tiny)


# -------------------------------------------------------------------------------------- permutation


def make_candles(log_returns: np.ndarray, seed: int, *, start: str = "2020-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(log_returns)
    close = 100.0 * np.exp(np.cumsum(log_returns))
    previous = np.r_[100.0, close[:-1]]
    open_ = previous * np.exp(rng.normal(0, 0.001, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.003, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.003, n)))
    index = pd.date_range(start, periods=n, freq="D", tz="UTC")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": rng.uniform(1, 10, n), "funding": rng.normal(size=n)}, index=index)


def ar1(seed: int, n: int, phi: float, scale: float = 0.01) -> np.ndarray:
    shocks = np.random.default_rng(seed).normal(0, scale, n)
    out = np.empty(n)
    out[0] = shocks[0]
    for t in range(1, n):
        out[t] = phi * out[t - 1] + shocks[t]
    return out


def bar_table(frame: pd.DataFrame, first: int) -> np.ndarray:
    """Rows (close-to-close log return, log open/close, log high/close, log low/close, volume) from bar
    ``first`` on, sorted: the multiset of whole bars."""
    close = frame["close"].to_numpy()
    table = np.column_stack([
        np.diff(np.log(close[first - 1:])),
        np.log(frame["open"].to_numpy()[first:] / close[first:]),
        np.log(frame["high"].to_numpy()[first:] / close[first:]),
        np.log(frame["low"].to_numpy()[first:] / close[first:]),
        frame["volume"].to_numpy()[first:],
    ])
    return table[np.lexsort(table.T[::-1])]


def test_permute_bars_properties():
    frame = make_candles(np.random.default_rng(1).normal(0, 0.02, 500), seed=2)
    start = frame.index[100]
    permuted = edge.permute_bars({"BTC": frame}, start, np.random.default_rng(3))["BTC"]
    pd.testing.assert_index_equal(permuted.index, frame.index)
    pd.testing.assert_frame_equal(permuted.iloc[:100], frame.iloc[:100])
    pd.testing.assert_series_equal(permuted["funding"], frame["funding"])
    assert permuted["close"].iloc[-1] == pytest.approx(frame["close"].iloc[-1], rel=1e-12)
    assert not np.allclose(permuted["close"].to_numpy()[100:-1], frame["close"].to_numpy()[100:-1])
    body_high = np.maximum(permuted["open"], permuted["close"])
    body_low = np.minimum(permuted["open"], permuted["close"])
    assert (permuted["high"] >= body_high).all() and (permuted["low"] <= body_low).all()
    assert (permuted[["open", "high", "low", "close"]] > 0).all().all()
    real_returns = np.diff(np.log(frame["close"].to_numpy()[99:]))
    permuted_returns = np.diff(np.log(permuted["close"].to_numpy()[99:]))
    np.testing.assert_allclose(np.sort(permuted_returns), np.sort(real_returns), atol=1e-12)
    np.testing.assert_allclose(bar_table(permuted, 100), bar_table(frame, 100), atol=1e-10)
    again = edge.permute_bars({"BTC": frame}, start, np.random.default_rng(3))["BTC"]
    pd.testing.assert_frame_equal(again, permuted)


def test_permute_bars_uses_one_permutation_for_symbols_sharing_an_index():
    returns = np.random.default_rng(4).normal(0, 0.02, 300)
    btc, eth = make_candles(returns, seed=5), make_candles(2 * returns, seed=6)
    start = btc.index[50]
    out = edge.permute_bars({"BTC": btc, "ETH": eth}, start, np.random.default_rng(7))
    btc_r = np.diff(np.log(out["BTC"]["close"].to_numpy()[49:]))
    eth_r = np.diff(np.log(out["ETH"]["close"].to_numpy()[49:]))
    np.testing.assert_allclose(eth_r, 2 * btc_r, atol=1e-10)
    # recover the permutation from BTC's (distinct) returns: ETH's volumes moved by the same one
    order = np.array([int(np.argmin(np.abs(returns[50:] - r))) for r in btc_r])
    assert sorted(order) == list(range(250))
    np.testing.assert_array_equal(out["ETH"]["volume"].to_numpy()[50:], eth["volume"].to_numpy()[50:][order])
    shifted = make_candles(2 * returns, seed=6, start="2020-01-02")  # a different index: own permutation
    own = edge.permute_bars({"BTC": btc, "ETH": shifted}, start, np.random.default_rng(7))
    own_btc = np.diff(np.log(own["BTC"]["close"].to_numpy()[49:]))
    own_eth = np.diff(np.log(own["ETH"]["close"].to_numpy()[49:]))
    assert not np.allclose(own_eth, 2 * own_btc)


def test_permute_bars_without_warm_up_keeps_the_first_bar_as_anchor():
    frame = make_candles(np.random.default_rng(8).normal(0, 0.02, 50), seed=9)
    out = edge.permute_bars({"X": frame}, frame.index[0] - pd.Timedelta(days=5), np.random.default_rng(1))["X"]
    pd.testing.assert_series_equal(out.iloc[0], frame.iloc[0])
    assert out["close"].iloc[-1] == pytest.approx(frame["close"].iloc[-1], rel=1e-12)


def momentum(start: pd.Timestamp):
    """Statistic: total log return of 'hold the sign of the last bar's close-to-close return'."""
    def evaluate(candles: dict[str, pd.DataFrame]) -> float:
        log_close = np.log(candles["BTC"]["close"])
        returns = log_close.diff()
        strategy = np.sign(returns.shift(1)) * returns
        return float(strategy[log_close.index >= start].sum())
    return evaluate


def test_permutation_test_detects_autocorrelation_that_momentum_exploits():
    frame = make_candles(ar1(10, 2000, 0.3), seed=11)
    start = frame.index[200]
    report = edge.permutation_test(momentum(start), {"BTC": frame}, start, n_permutations=100, seed=1)
    assert report["p_value"] < 0.05
    assert report["observed"] > report["permuted_quantiles"]["95"]
    assert report["n_valid"] == 100
    assert_json_safe(report)


def test_permutation_test_does_not_reject_a_random_walk():
    """Each iid walk is one draw of the null (p ~ uniform on {1/101, ..., 1}): seed 20's walk is asserted
    alone, and of five walks at most one may fall below 5% (probability ~2% of a false failure)."""
    p_values = []
    for seed in range(20, 25):
        frame = make_candles(np.random.default_rng(seed).normal(0, 0.01, 2000), seed=seed + 100)
        start = frame.index[200]
        p_values.append(edge.permutation_test(momentum(start), {"BTC": frame}, start,
                                              n_permutations=100, seed=seed)["p_value"])
    assert p_values[0] > 0.05
    assert sum(p < 0.05 for p in p_values) <= 1


def test_permutation_test_p_value_formula_and_undefined_statistics():
    frame = make_candles(np.random.default_rng(12).normal(0, 0.01, 300), seed=13)
    start = frame.index[50]
    seen: list[float | None] = []

    def evaluate(candles):
        value = float(candles["BTC"]["close"].iloc[60])
        seen.append(None if len(seen) % 3 == 1 else value)  # every third permuted statistic undefined
        return seen[-1]

    report = edge.permutation_test(evaluate, {"BTC": frame}, start, n_permutations=30, seed=2)
    observed, permuted = seen[0], [v for v in seen[1:] if v is not None]
    assert report["observed"] == observed and report["n_valid"] == len(permuted) == 20
    assert report["p_value"] == pytest.approx((1 + sum(v >= observed for v in permuted)) / (1 + len(permuted)))
    assert report["permuted_mean"] == pytest.approx(np.mean(permuted))
    assert report["permuted_quantiles"]["50"] == pytest.approx(np.median(permuted))
    undefined = edge.permutation_test(lambda _c: None, {"BTC": frame}, start, n_permutations=3)
    assert undefined["p_value"] is None and "reason" in undefined
    assert_json_safe(undefined)


# -------------------------------------------------------------------------------------------- MinBTL


def test_minimum_backtest_length_reproduces_the_papers_figure():
    """Bailey, Borwein, Lopez de Prado & Zhu (2014), Notices AMS, sec. 3 / fig. 2: "if only 5 years of data
    are available, no more than 45 independent model configurations should be tried" to keep the
    expected maximum IS Sharpe of luck below 1. Verified: the formula, evaluated here with scipy, gives
    (0.4228 * 2.0100 + 0.5772 * 2.4008)^2 = 4.998 years for N = 45, SR = 1, i.e. the paper's 5 years."""
    g = 0.5772156649015329
    bracket = (1 - g) * stats.norm.ppf(1 - 1 / 45) + g * stats.norm.ppf(1 - 1 / (45 * math.e))
    years = edge.minimum_backtest_length(45, 1.0)
    assert years == pytest.approx(bracket**2, rel=1e-10)
    assert 4.5 <= years <= 5.5
    assert edge.minimum_backtest_length(45, 2.0) == pytest.approx(years / 4)


def test_minimum_backtest_length_grows_with_trials_and_edge_cases():
    lengths = [edge.minimum_backtest_length(n, 1.0) for n in (2, 5, 10, 45, 100, 1000)]
    assert all(a < b for a, b in itertools.pairwise(lengths))
    assert edge.minimum_backtest_length(1, 1.0) == 0.0
    assert edge.minimum_backtest_length(10, 0.0) is None
    assert edge.minimum_backtest_length(10, -0.5) is None
    with pytest.raises(ValueError):
        edge.minimum_backtest_length(0, 1.0)


def test_minimum_backtest_length_report():
    enough = edge.minimum_backtest_length_report(45, 1.0, 6.0)
    assert enough["sufficient"] is True and enough["min_years"] == pytest.approx(4.998, abs=1e-3)
    assert edge.minimum_backtest_length_report(45, 1.0, 4.0)["sufficient"] is False
    negative = edge.minimum_backtest_length_report(45, -1.0, 100.0)
    assert negative["min_years"] is None and negative["sufficient"] is False
    assert_json_safe(negative)


# ---------------------------------------------------------------------------------- effective trials


def test_effective_trials_identical_independent_and_equicorrelated():
    rng = np.random.default_rng(14)
    base = rng.normal(0, 0.01, 3000)
    identical = np.column_stack([base] * 8)
    assert edge.effective_number_of_trials(identical)["n_effective"] == pytest.approx(1.0)
    independent = edge.effective_number_of_trials(rng.normal(0, 0.01, (3000, 8)))
    assert 7.5 <= independent["n_effective"] <= 8.0
    common = rng.normal(size=(3000, 1))
    equicorrelated = math.sqrt(0.5) * common + math.sqrt(0.5) * rng.normal(size=(3000, 10))
    report = edge.effective_number_of_trials(pd.DataFrame(equicorrelated))
    assert report["average_correlation"] == pytest.approx(0.5, abs=0.03)
    assert report["n_effective"] == pytest.approx(0.5 + 0.5 * 10, abs=0.3)
    assert report["n_trials"] == 10
    assert_json_safe(report)


def test_effective_trials_negative_correlation_is_clipped_and_single_trial():
    x = np.random.default_rng(15).normal(size=1000)
    mirrored = edge.effective_number_of_trials(np.column_stack([x, -x]))
    assert mirrored["average_correlation"] == 0.0 and mirrored["n_effective"] == pytest.approx(2.0)
    assert edge.effective_number_of_trials(x)["n_effective"] == 1.0


def test_deflated_sharpe_with_effective_trials():
    rng = np.random.default_rng(16)
    returns = rng.normal(0.002, 0.02, 500)
    trials = [*rng.normal(0.0, 0.04, 39), returns.mean() / returns.std(ddof=1)]
    counted = of.deflated_sharpe_report(returns, trials)
    same = edge.deflated_sharpe_effective(returns, trials, 40)
    assert same["dsr"] == pytest.approx(counted["dsr"], rel=1e-12)
    fewer = edge.deflated_sharpe_effective(returns, trials, 6.5)
    assert counted["dsr"] < fewer["dsr"] < counted["psr"]
    assert fewer["n_trials"] == 40 and fewer["n_effective"] == 6.5
    one = edge.deflated_sharpe_effective(returns, trials, 1.0)
    assert one["dsr"] == pytest.approx(one["psr"])
    assert_json_safe(fewer)
