"""Tests of analytics.portfolio: correlation flags, scorecard criteria and the paper-trading shortlist."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analytics import portfolio as pf


@pytest.fixture
def returns() -> dict[str, pd.Series]:
    rng = np.random.default_rng(0)
    idx = pd.date_range("2024-01-01", periods=200, tz="UTC")
    base = rng.normal(0, 0.01, 200)
    return {
        "a": pd.Series(base, index=idx),
        "a_clone": pd.Series(base + rng.normal(0, 0.002, 200), index=idx),
        "b": pd.Series(rng.normal(0, 0.01, 200), index=idx),
        "anti_a": pd.Series(-base, index=idx),
        "short": pd.Series(rng.normal(0, 0.01, 5), index=idx[:5]),
    }


def test_correlation_flags_only_positive_pairs_above_threshold(returns):
    corr, flagged = pf.strategy_correlation(returns)
    assert corr.loc["a", "anti_a"] == pytest.approx(-1.0)
    assert [(p["a"], p["b"]) for p in flagged] == [("a", "a_clone")]
    assert flagged[0]["correlation"] > 0.9
    assert pd.isna(corr.loc["a", "short"])  # 5 common days < min_overlap
    json.dumps(pf.correlation_to_dict(corr), allow_nan=False)


def good(**overrides) -> dict:
    result = {"oos_sharpe": 2.0, "max_drawdowns": [0.1, 0.15], "portfolio_max_drawdown": 0.12,
              "profitable_test_share": 0.75, "win_rate": 0.5, "predicted_win_rate": 0.5, "n_positions": 40,
              "permutation_p": 0.01, "pbo": 0.2, "holdout_evaluations": 1, "contaminated": False}
    return {**result, **overrides}


def corr_matrix(names, high_pairs=()) -> pd.DataFrame:
    values = np.full((len(names), len(names)), 0.1)
    np.fill_diagonal(values, 1.0)
    corr = pd.DataFrame(values, index=names, columns=names)
    for a, b in high_pairs:
        corr.loc[a, b] = corr.loc[b, a] = 0.9
    return corr


def test_each_criterion_reports_value_threshold_and_pass():
    results = {"ok": good(), "dd": good(max_drawdowns=[0.1, 0.25]), "sharpe": good(oos_sharpe=1.5),
               "unstable": good(profitable_test_share=0.4), "loser": good(win_rate=0.3),
               "missing": good(oos_sharpe=None)}
    card = pf.scorecard(results, correlation=corr_matrix(list(results)))
    json.dumps(card, allow_nan=False)
    by_name = {e["name"]: e for e in card["strategies"]}
    assert by_name["ok"]["passes_all"] and by_name["ok"]["rank"] == 1
    assert by_name["dd"]["criteria"]["max_drawdown"] == {
        "value": 0.25, "threshold": 0.2, "rule": "< threshold in every period", "passed": False,
        "source": "every walk-forward test period and the holdout"}
    assert by_name["sharpe"]["failed"] == ["oos_sharpe"]  # 1.5 is not > 1.5
    assert by_name["unstable"]["failed"] == ["walk_forward_stability"]
    assert by_name["loser"]["failed"] == ["win_rate_vs_prediction"]
    assert by_name["loser"]["criteria"]["win_rate_vs_prediction"]["value"] == pytest.approx(0.2)
    assert by_name["missing"]["criteria"]["oos_sharpe"]["passed"] is False
    assert card["n_passing"] == 1


def test_correlation_judged_against_already_selected_strategies():
    results = {"best": good(oos_sharpe=3.0), "clone": good(oos_sharpe=2.5), "other": good(oos_sharpe=2.0)}
    card = pf.scorecard(results, correlation=corr_matrix(list(results), [("best", "clone")]))
    by_name = {e["name"]: e for e in card["strategies"]}
    assert by_name["best"]["passes_all"] and by_name["other"]["passes_all"]
    assert by_name["clone"]["criteria"]["correlation"]["value"] == pytest.approx(0.9)
    assert by_name["clone"]["failed"] == ["correlation"]
    assert [e["name"] for e in card["strategies"]] == ["best", "other", "clone"]


def test_without_correlation_matrix_nothing_passes_silently():
    card = pf.scorecard({"x": good(), "y": good()})
    assert [e["criteria"]["correlation"]["passed"] for e in card["strategies"]] == [False, False]
    assert card["n_passing"] == 0


def test_correlation_is_not_applicable_to_a_strategy_judged_alone():
    card = pf.scorecard({"alone": good()})
    check = card["strategies"][0]["criteria"]["correlation"]
    assert check["applicable"] is False and check["passed"] is True and "not applicable" in check["note"]
    assert card["n_passing"] == 1


@pytest.mark.parametrize(("override", "failed"), [
    ({"win_rate": 0.44}, "win_rate_vs_prediction"), ({"win_rate": 0.56}, "win_rate_vs_prediction"),
    ({"predicted_win_rate": None}, "win_rate_vs_prediction"),
    ({"n_positions": 29}, "holdout_positions"), ({"n_positions": None}, "holdout_positions"),
    ({"permutation_p": 0.05}, "permutation_p"), ({"permutation_p": None}, "permutation_p"),
    ({"pbo": 0.5}, "pbo"), ({"pbo": None}, "pbo"),
    ({"portfolio_max_drawdown": 0.2}, "portfolio_max_drawdown"),
    ({"portfolio_max_drawdown": None}, "portfolio_max_drawdown"),
])
def test_a_strategy_passes_only_with_enough_evidence(override, failed):
    card = pf.scorecard({"alone": good(**override)})
    entry = card["strategies"][0]
    assert entry["failed"] == [failed] and not entry["passes_all"]
    assert entry["criteria"][failed]["source"]


def test_a_win_rate_within_five_points_of_the_prediction_passes():
    for win_rate in (0.45, 0.55, 0.5):
        entry = pf.scorecard({"alone": good(win_rate=win_rate)})["strategies"][0]
        assert entry["criteria"]["win_rate_vs_prediction"]["passed"], win_rate


def test_contaminated_holdout_is_flagged_and_not_selected():
    results = {"clean": good(), "peeked": good(oos_sharpe=5.0, holdout_evaluations=3, contaminated=True),
               "replayed": good(oos_sharpe=4.0, holdout_evaluations=3)}
    card = pf.scorecard(results, correlation=corr_matrix(list(results)))
    peeked = next(e for e in card["strategies"] if e["name"] == "peeked")
    assert peeked["contaminated"] is True and peeked["passes_all"] is False
    assert "holdout contaminated" in peeked["failed"]
    replayed = next(e for e in card["strategies"] if e["name"] == "replayed")
    assert replayed["passes_all"]  # counted replays of one configuration do not contaminate


def test_selection_takes_top_five_when_enough_pass():
    results = {f"s{i}": good(oos_sharpe=2.0 + i / 10) for i in range(7)}
    shortlist = pf.select_for_paper_trading(pf.scorecard(results, correlation=corr_matrix(list(results))))
    assert shortlist["enough"] is True
    assert [s["name"] for s in shortlist["selected"]] == ["s6", "s5", "s4", "s3", "s2"]
    assert shortlist["candidates_not_meeting_criteria"] == []
    assert all(s["meets_criteria"] and "passes all" in s["reason"] for s in shortlist["selected"])


def test_selection_says_so_when_fewer_than_three_pass():
    results = {"pass": good(), "near": good(win_rate=0.35, oos_sharpe=1.9), "far": good(oos_sharpe=0.2,
               win_rate=0.1), "worst": good(oos_sharpe=-1, win_rate=0.1, max_drawdowns=[0.5])}
    shortlist = pf.select_for_paper_trading(pf.scorecard(results, correlation=corr_matrix(list(results))))
    assert shortlist["enough"] is False
    assert "Only 1 strategy meets all criteria" in shortlist["message"] and "do NOT meet" in shortlist["message"]
    assert [s["name"] for s in shortlist["selected"]] == ["pass"]
    flagged = shortlist["candidates_not_meeting_criteria"]
    assert [s["name"] for s in flagged] == ["near", "far"]
    assert all(not s["meets_criteria"] and s["reason"].startswith("does not meet") for s in flagged)
    assert "win_rate" in flagged[0]["reason"]


def test_a_holdout_mostly_on_the_price_only_fallback_cannot_meet_the_criteria():
    base = good()
    card = pf.scorecard({"real": {**base, "fallback_share": 0.1}, "stand_in": {**base, "fallback_share": 0.51},
                      "price_only_by_design": {**base, "fallback_share": None}},
                     correlation=pd.DataFrame(0.0, index=["real", "stand_in", "price_only_by_design"],
                                              columns=["real", "stand_in", "price_only_by_design"]))
    by_name = {e["name"]: e for e in card["strategies"]}
    assert by_name["real"]["passes_all"] and by_name["price_only_by_design"]["passes_all"]
    stand_in = by_name["stand_in"]
    assert stand_in["mostly_fallback"] and not stand_in["passes_all"]
    assert "holdout ran 51% of its bars on the price-only fallback" in stand_in["failed"]
    selection = pf.select_for_paper_trading(card, min_n=1)
    assert [pick["name"] for pick in selection["selected"]] == ["price_only_by_design", "real"]
