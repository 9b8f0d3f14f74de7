"""Portfolio view: correlation between strategies, the selection scorecard, and the paper-trading shortlist.

Pure pandas (no Django). The scorecard never pretends: a criterion whose value is missing fails (with
``value: None``), a contaminated holdout (results of more than one configuration seen on it) disqualifies
a strategy from "meets all criteria", and when fewer than ``min_n`` strategies pass, the shortlist says so
and lists the best remaining candidates flagged as not meeting the criteria.

The criteria are the seed's, as written: holdout Sharpe > 1.5; max drawdown < 20% in every period and in
the portfolio of the candidates (where the breaker and heat cap bite); at least half the walk-forward
test periods profitable; the win rate within 5 points of the strategy's declared (Phase 0) prediction;
correlation < 0.7 with the strategies already selected ("not applicable" for a lone strategy). And the
evidence must be there: at least 30 positions on the holdout, a permutation p-value < 0.05 for the signal
and a probability of backtest overfitting < 0.5. Each criterion carries its value, threshold, rule and
source.

Scorecard input, one dict per strategy (keys as produced by the analytics services)::

    {
        "oos_sharpe": 1.8,                  # annualised Sharpe on the holdout / out-of-sample data
        "max_drawdowns": [0.12, 0.08, ...], # max drawdown (positive fraction) of EVERY period evaluated
        "portfolio_max_drawdown": 0.14,     # of the candidates' portfolio on the holdout (None: not run)
        "profitable_test_share": 0.75,      # walkforward.stability(...)["share_profitable_test"]
        "win_rate": 0.46,                   # per position, on the holdout
        "predicted_win_rate": 0.45,         # the strategy's declared prediction
        "n_positions": 41,                  # positions closed on the holdout
        "permutation_p": 0.01,              # signal permutation test on the holdout
        "pbo": 0.2,                         # probability of backtest overfitting (CSCV) of the search
        "holdout_evaluations": 3,           # every evaluation that touched the holdout
        "contaminated": False,              # results of more than one configuration seen on it
        "fallback_share": 0.12,             # share of holdout bars on a price-only/assumed fallback (None:
                                            # the strategy declares no fundamental inputs)
    }

A strategy whose holdout ran mostly (> ``strategies.disclosure.MOSTLY_FALLBACK``) on the fallback of its
primary fundamental inputs is a verdict about a price-only stand-in, not about the strategy: it is marked
and, like a contaminated holdout, cannot meet all criteria.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from core.jsonsafe import json_safe
from strategies.disclosure import MOSTLY_FALLBACK

CORRELATION_LIMIT = 0.7


@dataclass(frozen=True)
class Criteria:
    """Selection thresholds. Stability: at least this share of walk-forward test periods profitable."""

    min_oos_sharpe: float = 1.5  # strictly greater than
    max_drawdown: float = 0.20  # every period, and the portfolio, strictly below
    min_profitable_test_share: float = 0.5  # at least
    win_rate_tolerance: float = 0.05  # |holdout win rate - predicted| at most
    max_correlation: float = CORRELATION_LIMIT  # strictly below, against already-selected strategies
    min_holdout_positions: int = 30  # at least
    max_permutation_p: float = 0.05  # strictly below
    max_pbo: float = 0.5  # strictly below


DEFAULT_CRITERIA = Criteria()


def strategy_correlation(
    daily_returns: Mapping[str, pd.Series], *, threshold: float = CORRELATION_LIMIT, min_overlap: int = 20
) -> tuple[pd.DataFrame, list[dict]]:
    """Pearson correlation of daily returns (pairwise over overlapping days) and the pairs above ``threshold``.

    Only positive correlation above the threshold is flagged (a strongly negative pair diversifies).
    Pairs with fewer than ``min_overlap`` common days get NaN in the matrix and are not flagged.
    """
    corr = daily_returns_frame(daily_returns).corr(min_periods=min_overlap)
    names = list(corr.columns)
    flagged = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            value = corr.loc[a, b]
            if pd.notna(value) and value > threshold:
                flagged.append({"a": a, "b": b, "correlation": float(value)})
    flagged.sort(key=lambda pair: -pair["correlation"])
    return corr, flagged


def correlation_to_dict(corr: pd.DataFrame) -> dict:
    """JSON-safe ``{name: {other: value | None}}``."""
    return json_safe({a: {b: corr.loc[a, b] for b in corr.columns} for a in corr.index})


def _finite(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _criterion(value, threshold, passed: bool | None, rule: str, source: str) -> dict:
    return {"value": value, "threshold": threshold, "rule": rule, "source": source,
            "passed": bool(passed) if value is not None else False}


def _base_criteria(result: Mapping, criteria: Criteria) -> dict:
    sharpe = _finite(result.get("oos_sharpe"))
    drawdowns = [_finite(v) for v in result.get("max_drawdowns") or []]
    known = [value for value in drawdowns if value is not None]
    worst_dd = max(known) if drawdowns and len(known) == len(drawdowns) else None
    portfolio_dd = _finite(result.get("portfolio_max_drawdown"))
    stability = _finite(result.get("profitable_test_share"))
    win, predicted = _finite(result.get("win_rate")), _finite(result.get("predicted_win_rate"))
    miss = abs(win - predicted) if win is not None and predicted is not None else None
    positions = result.get("n_positions")
    p_value, pbo = _finite(result.get("permutation_p")), _finite(result.get("pbo"))
    return {
        "oos_sharpe": _criterion(sharpe, criteria.min_oos_sharpe,
                                 sharpe is not None and sharpe > criteria.min_oos_sharpe, "> threshold",
                                 "holdout, daily returns, 365-day annualised"),
        "max_drawdown": _criterion(worst_dd, criteria.max_drawdown,
                                   worst_dd is not None and worst_dd < criteria.max_drawdown,
                                   "< threshold in every period", "every walk-forward test period and the holdout"),
        "portfolio_max_drawdown": _criterion(portfolio_dd, criteria.max_drawdown,
                                             portfolio_dd is not None and portfolio_dd < criteria.max_drawdown,
                                             "< threshold", "the candidates together in one portfolio on their "
                                             "holdouts, one risk manager"),
        "walk_forward_stability": _criterion(stability, criteria.min_profitable_test_share,
                                             stability is not None and stability >= criteria.min_profitable_test_share,
                                             ">= threshold (share of profitable test periods)",
                                             "walk-forward test periods with data"),
        "win_rate_vs_prediction": {
            **_criterion(miss, criteria.win_rate_tolerance, miss is not None and miss <= criteria.win_rate_tolerance + 1e-9,
                         "|win rate - predicted| <= threshold", "holdout positions vs the strategy's declared "
                         "Phase 0 prediction"),
            "win_rate": win, "predicted": predicted},
        "holdout_positions": _criterion(positions, criteria.min_holdout_positions,
                                        positions is not None and positions >= criteria.min_holdout_positions,
                                        ">= threshold", "positions closed on the holdout (partial exits joined)"),
        "permutation_p": _criterion(p_value, criteria.max_permutation_p,
                                    p_value is not None and p_value < criteria.max_permutation_p, "< threshold",
                                    "signal on bar-permuted holdout prices (Masters)"),
        "pbo": _criterion(pbo, criteria.max_pbo, pbo is not None and pbo < criteria.max_pbo, "< threshold",
                          "CSCV over the final search's trials on the research range"),
    }


def _rank_key(entry: dict) -> tuple:
    sharpe = entry["oos_sharpe"]
    return (-entry["passed_count"], -(sharpe if sharpe is not None else -math.inf), entry["name"])


def scorecard(
    results: Mapping[str, Mapping],
    criteria: Criteria = DEFAULT_CRITERIA,
    *,
    correlation: pd.DataFrame | None = None,
) -> dict:
    """Score every strategy against the criteria and rank them.

    Correlation is judged greedily: strategies are ranked by the other criteria (then OOS Sharpe) and
    visited in that order; a strategy's correlation value is its highest correlation with the
    strategies already accepted (those that passed everything before it). The first accepted strategy
    passes trivially (value 0.0 by convention: nothing to correlate with). Without a ``correlation``
    matrix the criterion fails with value ``None`` (not evaluated). Final rank: criteria passed, then OOS
    Sharpe (higher first), then name.
    """
    entries = []
    for name, result in results.items():
        checks = _base_criteria(result, criteria)
        evaluations = int(result.get("holdout_evaluations") or 0)
        fallback = result.get("fallback_share")
        entries.append({
            "name": name,
            "oos_sharpe": checks["oos_sharpe"]["value"],
            "criteria": checks,
            "holdout_evaluations": evaluations,
            "configurations": result.get("configurations"),
            "contaminated": bool(result.get("contaminated")),
            "fallback_share": fallback,
            "mostly_fallback": fallback is not None and fallback > MOSTLY_FALLBACK,
            "passed_count": sum(c["passed"] for c in checks.values()),
        })
    entries.sort(key=_rank_key)
    accepted: list[str] = []
    for entry in entries:
        entry["criteria"]["correlation"] = _correlation_check(entry["name"], accepted, correlation, criteria,
                                                              alone=len(entries) == 1)
        entry["passed_count"] = sum(c["passed"] for c in entry["criteria"].values())
        entry["total_criteria"] = len(entry["criteria"])
        entry["passes_all"] = (entry["passed_count"] == entry["total_criteria"] and not entry["contaminated"]
                               and not entry["mostly_fallback"])
        entry["failed"] = [k for k, c in entry["criteria"].items() if not c["passed"]]
        if entry["contaminated"]:
            entry["failed"].append("holdout contaminated")
        if entry["mostly_fallback"]:
            entry["failed"].append(f"holdout ran {entry['fallback_share']:.0%} of its bars on the price-only fallback")
        if entry["passes_all"]:
            accepted.append(entry["name"])
    entries.sort(key=_rank_key)
    for rank, entry in enumerate(entries, start=1):
        entry["rank"] = rank
    return json_safe({"criteria": asdict(criteria), "strategies": entries, "n_passing": len(accepted)})


def _correlation_check(name: str, accepted: list[str], correlation: pd.DataFrame | None,
                       criteria: Criteria, *, alone: bool = False) -> dict:
    rule = "< threshold with already-selected strategies"
    source = "daily holdout returns, pairwise over common days"
    if alone:
        return {"value": None, "threshold": criteria.max_correlation, "rule": rule, "source": source,
                "passed": True, "applicable": False, "note": "not applicable: the strategy was judged alone"}
    if correlation is None:
        return {"value": None, "threshold": criteria.max_correlation, "rule": rule, "source": source,
                "passed": False, "note": "not evaluated: no correlation matrix"}
    others = [other for other in accepted if other in correlation.columns and name in correlation.index]
    values = [correlation.loc[name, other] for other in others]
    values = [float(v) for v in values if pd.notna(v)]
    highest = max(values) if values else 0.0
    check = {"value": highest, "threshold": criteria.max_correlation, "rule": rule, "source": source,
             "passed": highest < criteria.max_correlation}
    if len(values) < len(accepted):
        check["note"] = "correlation unknown with some selected strategies (treated as uncorrelated)"
    if not accepted:
        check["note"] = "first selected: nothing to correlate with"
    return check


def select_for_paper_trading(card: Mapping, min_n: int = 3, max_n: int = 5) -> dict:
    """The top strategies for paper trading, with reasons; says so plainly when too few qualify."""
    if min_n < 1 or max_n < min_n:
        raise ValueError("need 1 <= min_n <= max_n")
    ranked = list(card["strategies"])
    passing = [e for e in ranked if e["passes_all"]]
    selected = [_pick(e, meets=True) for e in passing[:max_n]]
    candidates = []
    if len(passing) >= min_n:
        message = f"{len(selected)} strategies meet all criteria (of {len(passing)} passing)."
    else:
        others = [e for e in ranked if not e["passes_all"]][: min_n - len(passing)]
        candidates = [_pick(e, meets=False) for e in others]
        met = ("No strategy meets" if not passing else
               f"Only {len(passing)} strateg{'y meets' if len(passing) == 1 else 'ies meet'}")
        message = (f"{met} all criteria; {min_n} are required. The best other candidates are listed but do NOT "
                   "meet the criteria.")
    return json_safe({
        "enough": len(passing) >= min_n,
        "n_passing": len(passing),
        "min_n": min_n,
        "max_n": max_n,
        "message": message,
        "selected": selected,
        "candidates_not_meeting_criteria": candidates,
    })


def _pick(entry: Mapping, *, meets: bool) -> dict:
    if meets:
        reason = (f"passes all {entry['total_criteria']} criteria; OOS Sharpe {_fmt(entry['oos_sharpe'])}; "
                  f"rank {entry['rank']}")
    else:
        reason = (f"does not meet criteria: failed {', '.join(entry['failed'])}; passed "
                  f"{entry['passed_count']}/{entry['total_criteria']}; OOS Sharpe {_fmt(entry['oos_sharpe'])}")
    return {"name": entry["name"], "rank": entry["rank"], "meets_criteria": meets, "reason": reason,
            "contaminated": entry["contaminated"], "mostly_fallback": entry.get("mostly_fallback", False)}


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def daily_returns_frame(daily_returns: Mapping[str, pd.Series]) -> pd.DataFrame:
    """Align several daily return series on their union of days (missing days NaN)."""
    return pd.DataFrame(dict(daily_returns)).astype(float).replace([np.inf, -np.inf], np.nan)
