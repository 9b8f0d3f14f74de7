"""Render the research report: an HTML page (Django template, offline Plotly charts) and a Markdown summary."""

from __future__ import annotations

from typing import Any

import pandas as pd
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from analytics import charts
from analytics.stress import refusals_in_words, window_summary
from core.parallel import parallel_map
from strategies.disclosure import coverage_lines

CONVENTION = "annualised over 365 days from daily-resampled returns, risk-free rate 0"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def pct(value: Any, digits: int = 1) -> str:
    """A fraction as a percentage; "n/a" for anything undefined (None, or a template's missing value)."""
    return f"{value * 100:.{digits}f}%" if _is_number(value) else "n/a"


def count_of(n: Any, noun: str) -> str:
    """``3 positions``, ``1 position``."""
    n = n or 0
    return f"{n} {noun}{'' if n == 1 else 's'}"


def num(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if _is_number(value) else "n/a"


def points_series(points: dict | None, key: str) -> pd.Series | None:
    """A stored ``{"timestamps": [...], key: [...]}`` curve as a Series on a UTC index (None when empty)."""
    if not points or not points.get("timestamps"):
        return None
    return pd.Series(points[key], index=pd.to_datetime(points["timestamps"], utc=True))


def _strategy_charts(result: dict) -> dict:
    """The strategy's Plotly charts as HTML fragments (a missing series gives no entry, so nothing shows)."""
    key = result.get("name") or "strategy"
    equity = points_series(result.get("equity"), "equity")
    drawdown = points_series(result.get("equity"), "drawdown")
    periods = result.get("periods") or []
    summary = result.get("summary") or {}
    bootstrap = (result.get("montecarlo") or {}).get("bootstrap") or {}
    objective = (summary.get("stability") or {}).get("objective") or "sharpe"
    objective = objective.capitalize() if objective in ("sharpe", "sortino", "calmar") else objective.replace("_", " ")
    holdout_charts = result.get("holdout_charts") or {}
    benchmark = points_series(holdout_charts.get("benchmark"), "equity")
    figures = {
        "equity": charts.equity_benchmark_figure(equity, benchmark, title="Holdout equity against buy-and-hold of "
                                                 "the universe") if equity is not None else None,
        "drawdown": charts.drawdown_figure(drawdown),
        "monthly": charts.monthly_returns_figure(equity),
        "rolling_sharpe": charts.rolling_sharpe_figure(equity),
        "walkforward_timeline": charts.walkforward_timeline_figure(periods),
        "walkforward": charts.walkforward_sharpe_figure(periods),
        "montecarlo": charts.montecarlo_figure(result.get("montecarlo_paths"), bootstrap),
        "montecarlo_fan": charts.montecarlo_fan_figure(result.get("montecarlo_fan")),
        "stress": charts.stress_windows_figure(result.get("stress")),
        "capacity": charts.capacity_figure(result.get("capacity")),
        "neighbourhood": charts.neighbourhood_figure(summary.get("neighbourhood"), result.get("final_parameters"),
                                                     objective=f"train {objective}"),
    }
    out = {kind: mark_safe(charts.figure_html(fig, f"chart-{key}-{kind}".replace("_", "-")))
           for kind, fig in figures.items() if fig is not None}
    prices = [charts.figure_html(_price_figure(symbol, points, result.get("timeframe", "")),
                                 f"chart-{key}-price-{i}".replace("_", "-"))
              for i, (symbol, points) in enumerate((holdout_charts.get("symbols") or {}).items())]
    if any(prices):
        out["prices"] = mark_safe("".join(prices))
    return out


def _price_figure(symbol: str, points: dict, timeframe: str):
    """A holdout symbol's stored candles, indicators and trade legs as a candle chart."""
    index = pd.to_datetime(points["timestamps"], utc=True)
    candles = pd.DataFrame({column: points[column] for column in ("open", "high", "low", "close")}, index=index)
    overlays = {name: pd.Series(values, index=index) for name, values in (points.get("overlays") or {}).items()}
    trades = pd.DataFrame(points.get("trades") or [])
    if len(trades):
        trades["entry_time"] = pd.to_datetime(trades["entry_time"], utc=True)
        trades["exit_time"] = pd.to_datetime(trades["exit_time"], utc=True)
    shown = f" ({points['bars']} bars shown as {len(candles)} candles)" if points.get("bars", 0) > len(candles) else ""
    return charts.price_trades_figure(candles, trades if len(trades) else None, overlays,
                                      title=f"{symbol} {timeframe} on the holdout{shown}")


def portfolio_lines(report: dict) -> list[str]:
    """The candidates' portfolio run in words: members, return, drawdown, breaker events, refusals by reason."""
    portfolio = report.get("portfolio") or {}
    if not portfolio:
        return ["not run"]
    if portfolio.get("status") != "ok":
        return [f"not run: {portfolio.get('message', portfolio.get('status'))}"]
    perf = portfolio.get("performance") or {}
    refusals = portfolio.get("refusals") or {}
    breaker = portfolio.get("circuit_breaker_events") or {}
    n_members = len(portfolio.get("members") or {})
    first_bar = ((portfolio.get("equity") or {}).get("timestamps") or [portfolio["start"]])[0]
    lines = [f"{n_members} strateg{'y' if n_members == 1 else 'ies'} together on {portfolio['start'][:10]} .. "
             f"{portfolio['end'][:10]} (each from its own holdout start; first candle on the 1h grid "
             f"{first_bar[:10]}), one risk manager: return "
             f"{pct(perf.get('total_return'))}, Sharpe {num(perf.get('sharpe'))}, max drawdown "
             f"{pct(perf.get('max_drawdown'))}, {perf.get('n_trades')} positions, peak portfolio heat "
             f"{pct(portfolio.get('max_portfolio_heat'))}",
             f"Drawdown breaker fired {breaker.get('count', 0)} times"
             + (f" (first at {breaker['times'][0][:16]})" if breaker.get("times") else ""),
             f"Entries refused: {refusals_text(refusals)}"]
    for name, member in (portfolio.get("members") or {}).items():
        member_refusals = member.get("refusals") or {}
        lines.append(f"{name}: {member.get('n_trades')} positions, P&L {num(member.get('pnl'))}, win rate "
                     f"{pct(member.get('win_rate'))}; entries refused: {refusals_text(member_refusals)}")
    return lines


def _portfolio_chart(report: dict) -> str:
    portfolio = report.get("portfolio") or {}
    equity = points_series(portfolio.get("equity"), "equity")
    drawdown = points_series(portfolio.get("equity"), "drawdown")
    return charts.figure_html(charts.portfolio_figure(equity, drawdown), "chart-portfolio")


def coverage_tables(result: dict) -> list[tuple[str, dict]]:
    """The data coverage of the holdout and of the research range, where the run recorded them."""
    summary = result.get("summary") or {}
    tables = [("Holdout", (result.get("holdout") or {}).get("data_coverage")),
              ("Research range (walk-forward and optimisation data)", summary.get("research_coverage"))]
    return [(label, coverage) for label, coverage in tables if coverage]


#: The scorecard's columns: criterion key, heading, and how its value reads.
SCORECARD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("oos_sharpe", "holdout Sharpe > 1.5"), ("max_drawdown", "max DD < 20% every period"),
    ("portfolio_max_drawdown", "portfolio max DD < 20%"), ("walk_forward_stability", "WF periods profitable >= 50%"),
    ("win_rate_vs_prediction", "win rate within 5 pts of prediction"), ("holdout_positions", "holdout positions >= 30"),
    ("permutation_p", "permutation p < 0.05"), ("pbo", "PBO < 0.5"), ("correlation", "correlation < 0.7"),
)


def criterion_text(key: str, check: dict) -> str:
    value = check.get("value")
    if key == "correlation" and check.get("applicable") is False:
        return "n/a (judged alone)"
    if key == "correlation" and (check.get("note") or "").startswith("first selected"):
        return "n/a (none selected before)"
    if key == "win_rate_vs_prediction":
        return f"{pct(check.get('win_rate'))} vs {pct(check.get('predicted'), 0)}"
    if key in ("max_drawdown", "portfolio_max_drawdown"):
        return pct(value)
    if key == "walk_forward_stability":
        return pct(value, 0)
    if key == "holdout_positions":
        return "n/a" if value is None else str(value)
    if key == "permutation_p":
        return num(value, 3)
    return num(value)


def scorecard_rows(report: dict) -> list[dict]:
    """The scorecard as display rows: one cell per criterion (text and pass/fail), then the holdout's state."""
    rows = []
    for entry in (report.get("scorecard") or {}).get("strategies", []):
        cells = [{"text": criterion_text(key, entry["criteria"][key]), "passed": entry["criteria"][key]["passed"]}
                 for key, _ in SCORECARD_COLUMNS if key in entry["criteria"]]
        fallback = ("price-only by design" if entry.get("fallback_share") is None else
                    pct(entry["fallback_share"], 0) + (" (mostly price-only: not selectable)"
                                                       if entry.get("mostly_fallback") else ""))
        rows.append({"rank": entry["rank"], "name": entry["name"], "cells": cells,
                     "passed": f"{entry['passed_count']}/{entry['total_criteria']}", "passes_all": entry["passes_all"],
                     "evaluations": f"{entry['holdout_evaluations']} ({entry.get('configurations', 1)} configuration"
                                    f"{'s' if entry.get('configurations', 1) != 1 else ''})"
                                    + (": contaminated" if entry["contaminated"] else ""),
                     "contaminated": entry["contaminated"], "fallback": fallback,
                     "mostly_fallback": entry.get("mostly_fallback", False)})
    return rows


def criteria_legend(report: dict) -> list[dict]:
    """Each criterion's rule, threshold and source (what the scorecard's numbers are measured on)."""
    entries = (report.get("scorecard") or {}).get("strategies", [])
    if not entries:
        return []
    first = entries[0]["criteria"]
    return [{"heading": heading, "rule": first[key].get("rule"), "threshold": first[key].get("threshold"),
             "source": first[key].get("source")} for key, heading in SCORECARD_COLUMNS if key in first]


def holdout_line(result: dict) -> str:
    """The holdout actually used: its range, fraction, and how often it has been evaluated."""
    lock = result.get("holdout_lock") or {}
    summary = result.get("summary") or {}
    if not lock.get("holdout_start"):
        return "no holdout lock"
    share = summary.get("holdout_share_of_range")
    configurations = lock.get("configurations", 0)
    return (f"holdout {lock['holdout_start'][:10]} .. {lock['holdout_end'][:10]}, locked at "
            f"{pct(lock.get('fraction'), 0)} of the range of the walk-forward that set it ({lock.get('set_by')})"
            + (f", {pct(share, 0)} of this run's range" if share is not None else "")
            + f"; evaluated {lock.get('evaluations')} times, {configurations} configuration"
            + ("s" if configurations != 1 else "") + (" (CONTAMINATED)" if lock.get("contaminated") else ""))


def evidence_lines(result: dict) -> list[str]:
    """The edge and selection tests of one strategy in words, each with its method's key figures."""
    edge = (result.get("summary") or {}).get("edge") or {}
    if not edge:
        return []
    pbo, cpcv, spa = edge.get("pbo") or {}, edge.get("cpcv") or {}, edge.get("spa") or {}
    perm, btl = edge.get("permutation") or {}, edge.get("min_backtest_length") or {}
    dsr, eff = edge.get("deflated_sharpe_effective") or {}, edge.get("effective_trials") or {}
    return [
        f"Probability of backtest overfitting (CSCV, {pbo.get('n_blocks')} blocks, {pbo.get('n_trials')} trials): "
        f"{num(pbo.get('pbo'))}" + (f" ({pbo['reason']})" if pbo.get("reason") else ""),
        f"Combinatorial purged CV ({cpcv.get('n_paths')} paths): median out-of-sample Sharpe "
        f"{num(cpcv.get('median_sharpe'))}, {pct(cpcv.get('share_positive'), 0)} of paths positive",
        f"Hansen's SPA against buy-and-hold of the universe: p = {num(spa.get('spa_pvalue'), 3)}; White's Reality "
        f"Check p = {num(spa.get('reality_check_pvalue'), 3)}" + (f" ({spa['reason']})" if spa.get("reason") else ""),
        f"Permutation test of the signal on the holdout ({perm.get('n_valid')} bar permutations): p = "
        f"{num(perm.get('p_value'), 3)}; observed return {pct(perm.get('observed'))}, permuted median "
        f"{pct((perm.get('permuted_quantiles') or {}).get('50'))}" + (f" ({perm['reason']})" if perm.get("reason") else ""),
        f"Minimum backtest length for {btl.get('n_trials')} effective trials at the research Sharpe "
        f"{num(btl.get('sharpe_annual'))}: "
        + (f"{num(btl.get('min_years'), 1)} years" if btl.get("min_years") is not None
           else "no length suffices (the Sharpe is not positive)")
        + f"; available {num(btl.get('years_available'), 1)} ({'enough' if btl.get('sufficient') else 'not enough'})",
        f"Deflated Sharpe with the effective number of trials ({num(eff.get('n_effective'), 1)} of "
        f"{eff.get('n_trials')}, mean correlation {num(eff.get('average_correlation'))}): {num(dsr.get('dsr'), 3)}",
    ]


def capital_text(value: Any) -> str:
    """``10k``, ``1M``, ``100M`` USDT."""
    if not _is_number(value):
        return "n/a"
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def capacity_lines(curve: dict | None) -> list[str]:
    """The capacity curve in words: each capital's Sharpe, return and slippage, then the read-outs."""
    points = (curve or {}).get("points") or []
    if not points:
        return []
    model = curve.get("model") or {}
    lines = [f"Holdout replayed at {', '.join(capital_text(p['capital']) for p in points)} USDT under volume-share "
             f"costs: slippage {pct(model.get('slippage_rate'))} + {num(model.get('volume_impact'), 1)} x sigma x "
             f"sqrt(share of the last bar's quote volume), at most {pct(model.get('max_volume_share'))} of it per fill."]
    for p in points:
        cut = (p.get("refused_for_volume") or 0) + (p.get("exits_cut_by_volume_cap") or 0)
        capped = f", {count_of(cut, 'fill')} refused or cut by the volume cap" if cut else ""
        if not p.get("n_trades"):
            lines.append(f"{capital_text(p['capital'])}: no position opened{capped}")
            continue
        lines.append(f"{capital_text(p['capital'])}: Sharpe {num(p.get('sharpe_ratio'))}, return "
                     f"{pct(p.get('total_return'))}, {count_of(p.get('n_trades'), 'position')}, slippage "
                     f"{pct(p.get('slippage_per_traded'), 2)} of the value traded{capped}")
    capacity, gone = curve.get("capacity"), curve.get("edge_gone_at")
    if capacity is None:
        lines.append("Capacity: none (no positive Sharpe ratio even at the smallest capital).")
    else:
        lines.append(f"Capacity: {capital_text(capacity)} USDT (the largest capital tested keeping at least "
                     f"{pct(curve.get('keep'), 0)} of the smallest capital's Sharpe ratio)"
                     + (f"; the edge is gone at {capital_text(gone)} (Sharpe no longer positive)." if gone else
                        "; Sharpe stays positive at every capital tested."))
    return lines


def execution_lines(execution: dict | None) -> list[str]:
    """What the engine's fill rules did in a run (its summary's ``execution``), in words."""
    if not execution:
        return []
    intrabar = execution.get("intrabar") or {}
    both = intrabar.get("bars_reaching_stop_and_target") or 0
    lines = []
    if intrabar.get("detail_timeframe"):
        lines.append(f"Finer candles ({intrabar['detail_timeframe']}) lay under {intrabar.get('bars_with_detail')} "
                     f"bars; {count_of(both, 'bar')} reached both stop and target: "
                     f"{intrabar.get('resolved_target_first')} resolved target first (the coarse rule would have "
                     f"stopped out), {intrabar.get('resolved_stop_first')} stop first, "
                     f"{intrabar.get('coarse_rule')} left to the coarse rule (stop first).")
    else:
        lines.append(f"No finer candles under this run's bars: {count_of(both, 'bar')} reached both stop and target, "
                     "the stop assumed first." if both else "No bar reached both stop and target.")
    refused = execution.get("stop_moves_refused") or 0
    lines.append(f"Stop rule '{execution.get('stop_updates')}': "
                 + (f"{count_of(refused, 'stop move')} refused." if refused else "no stop move refused."))
    carry = execution.get("carry_per_hour") or {}
    rates = ", ".join(f"{side} {pct(rate, 5) if rate else 'none'}" for side, rate in
                      (("long", carry.get("long")), ("short", carry.get("short"))))
    lines.append(f"Fees: {execution.get('fees')}; slippage model {execution.get('slippage_model')}; carry per hour: "
                 f"{rates}.")
    return lines


def refusals_text(refusals: dict | None) -> str:
    """``{"portfolio_heat": 3, "missing_stop": 0}`` as "3 by portfolio heat" (zero reasons left out)."""
    given = {reason: count for reason, count in (refusals or {}).items() if count}
    return ", ".join(f"{count} by {reason.replace('_', ' ')}" for reason, count in given.items()) or "none"


def value_text(value: Any) -> str:
    """One parameter or option value in words: on/off for flags, "none" for nothing, lists joined."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v) for v in value) or "none"
    return str(value)


def params_text(params: dict | None) -> str:
    """``{"fast": 20, "use_regime_filter": True}`` as "fast 20, use_regime_filter on"."""
    return ", ".join(f"{name} {value_text(value)}" for name, value in (params or {}).items()) or "defaults"


def options_text(options: dict | None) -> str:
    return "; ".join(f"{name.replace('_', ' ')}: {value_text(value)}" for name, value in (options or {}).items())


def timings_text(timings: dict | None) -> str:
    return ", ".join(f"{name} {num(seconds, 1)} s" for name, seconds in (timings or {}).items())


def pairs_text(pairs: list[dict] | None) -> str:
    """Correlated strategy pairs (``analytics.portfolio.strategy_correlation``) in words."""
    return "; ".join(f"{pair['a']} and {pair['b']} ({num(pair['correlation'])})" for pair in pairs or [])


#: Basis labels of a stress window result.
BASIS_WORDS = {"real": "real candles", "proxy": "proxy", "none": "no data"}


def _basis_cell(window: dict) -> str:
    if window.get("basis") != "proxy":
        return BASIS_WORDS.get(window.get("basis") or "real", "real candles")
    proxied = window.get("proxied_symbols") or []
    real = window.get("real_symbols") or []
    return f"proxy for {', '.join(proxied)}" + (f" (real: {', '.join(real)})" if real else "")


def stress_pct(value: Any) -> str:
    """A stress figure as a percentage with two decimals (positions are 2-5% of equity, so window moves are
    small); never "-0.00%"."""
    text = pct(value, 2)
    return "0.00%" if text == "-0.00%" else text


def _with_usd(window: dict, key: str) -> str:
    usd = window.get("usd") or {}
    text = stress_pct(window.get(key))
    return f"{text} (USD {stress_pct(usd.get(key))})" if usd else text


def _portfolio_basis_cell(window: dict) -> str:
    """The portfolio's basis in short: how many of its tokens were proxied (the list is in the sentences)."""
    proxied, real = window.get("proxied_symbols") or [], window.get("real_symbols") or []
    if not proxied:
        return BASIS_WORDS.get(window.get("basis") or "real", "real candles")
    return f"proxy for {len(proxied)} of {len(proxied) + len(real)} tokens"


def stress_rows(windows: list[dict] | None) -> list[dict]:
    """Stress results as display rows: every cell and sentence in words (``analytics.stress.window_summary``)."""
    rows = []
    for window in windows or []:
        ok = window.get("status") == "ok"
        activity = window.get("activity") or {}
        worst = window.get("worst_day")
        rows.append({
            "name": window.get("name"), "slug": _slug(window), "ok": ok, "basis": _basis_cell(window),
            "proxy": window.get("basis") == "proxy",
            "return": _with_usd(window, "return") if ok else "n/a",
            "max_drawdown": _with_usd(window, "max_drawdown") if ok else "n/a",
            "worst_day": (f"{worst['date']}: {stress_pct(worst['return'])}" if worst and worst["return"] < -5e-5
                          else "no losing day") if ok else "n/a",
            "positions": (str(activity.get("opened", 0)) + (" (held one from before)" if not activity.get("opened")
                                                            and activity.get("held_at_start") else ""))
            if ok else "n/a",
            "breaker": ("fired" if activity.get("circuit_breaker_events") else "did not fire") if ok else "n/a",
            "refusals": refusals_in_words(activity.get("refusals")) if ok else "n/a",
            **_split_lines(window.get("summary") or window_summary(window)),
            "holdout": bool(window.get("holdout_touch")),
        })
    return rows


#: Sentences of a window's summary that say what it stood on (shown apart, in smaller type).
DETAIL_PREFIXES = ("basis:", "bridged:", "fundamentals:", "inside the locked holdout")


def _split_lines(lines: list[str]) -> dict:
    """``{"lines": what happened, "details": what it stood on}``."""
    return {"lines": [line for line in lines if not line.startswith(DETAIL_PREFIXES)],
            "details": [line for line in lines if line.startswith(DETAIL_PREFIXES)]}


def _slug(window: dict) -> str:
    """A window result's id (results stored before the scenarios existed carry only their event's slug)."""
    return window.get("slug") or window["event"]


def stress_evidence(report: dict) -> dict:
    """The windows x strategies (and the portfolio) table: basis, positions opened, return, max drawdown."""
    columns: list[tuple[str, list[dict]]] = [
        (name, result.get("stress") or []) for name, result in (report.get("strategies") or {}).items()
        if result.get("stress")]
    portfolio = report.get("portfolio_stress") or {}
    if portfolio.get("windows"):
        columns.append(("portfolio", portfolio["windows"]))
    windows: dict[str, str] = {}
    for _, results in columns:
        for window in results:
            windows.setdefault(_slug(window), window["name"])
    rows = []
    for slug, name in windows.items():
        cells = []
        for _, results in columns:
            window = next((w for w in results if _slug(w) == slug), None)
            if window is None or window.get("status") != "ok":
                cells.append({"ok": False, "text": "no data" if window else "not run"})
                continue
            cells.append({"ok": True, "basis": window.get("basis"), "return": _with_usd(window, "return"),
                          "max_drawdown": _with_usd(window, "max_drawdown"),
                          "positions": (window.get("activity") or {}).get("opened", 0)})
        rows.append({"slug": slug, "name": name, "cells": cells})
    return {"columns": [name for name, _ in columns], "rows": rows}


def portfolio_stress_lines(window: dict) -> list[str]:
    """The portfolio's window in words; each member's activity instead of every token's beta (those are in
    each strategy's own stress table)."""
    lines = [line for line in (window.get("summary") or []) if not line.startswith("basis:")]
    members = window.get("member_activity") or {}
    active = [f"{name} opened {m['opened']}, closed {m['closed']}" + (f" ({refusals_in_words(m['refusals'])})"
                                                                      if m.get("refusals") else "")
              for name, m in members.items() if m.get("opened") or m.get("closed") or m.get("refusals")]
    quiet = [name for name, m in members.items() if not (m.get("opened") or m.get("closed") or m.get("refusals"))]
    lines.append("by strategy: " + ("; ".join(active) if active else "no strategy traded")
                 + (f"; no trade: {', '.join(quiet)}" if quiet and active else ""))
    proxied = window.get("proxied_symbols") or []
    if proxied:
        lines.append(f"basis: proxy for {', '.join(proxied)} (references and betas as in each strategy's stress "
                     f"table); real: {', '.join(window.get('real_symbols') or []) or 'none'}")
    else:
        lines.append("basis: real candles for every token")
    return lines


def render_html(report: dict) -> str:
    results = [{**result, "name": name} for name, result in (report.get("strategies") or {}).items()]
    figures = parallel_map(_strategy_charts, results)  # Plotly's serialisation: a strategy per core
    strategies = [{**result, "charts": charts_html, "stress": stress_rows(result.get("stress")),
                   "parameters_text": params_text(result.get("final_parameters")),
                   "periods": [{**p, "parameters_text": params_text(p.get("parameters"))}
                               for p in result.get("periods") or []],
                   "coverage_tables": coverage_tables(result), "holdout_line": holdout_line(result),
                   "evidence": evidence_lines(result), "capacity_lines": capacity_lines(result.get("capacity")),
                   "execution_lines": execution_lines(result.get("execution"))}
                  for result, charts_html in zip(results, figures, strict=True)]
    corr_chart = charts.figure_html(charts.correlation_figure(report.get("correlation")), "chart-correlation")
    portfolio_chart = _portfolio_chart(report)
    portfolio_stress = report.get("portfolio_stress") or {}
    stress_chart = charts.figure_html(charts.stress_windows_figure(
        portfolio_stress.get("windows"), title="The candidates together in each stress window: return since it "
                                               "opened"), "chart-portfolio-stress")
    any_chart = bool(corr_chart or portfolio_chart or stress_chart or any(s["charts"] for s in strategies))
    context = {"report": report, "strategies": strategies, "convention": CONVENTION,
               "correlation_chart": mark_safe(corr_chart), "scorecard_rows": scorecard_rows(report),
               "scorecard_headings": [heading for _, heading in SCORECARD_COLUMNS],
               "criteria_legend": criteria_legend(report), "portfolio_lines": portfolio_lines(report),
               "portfolio_chart": mark_safe(portfolio_chart), "stress_evidence": stress_evidence(report),
               "portfolio_stress_chart": mark_safe(stress_chart),
               "portfolio_stress_rows": [{**row, **_split_lines(portfolio_stress_lines(window)),
                                          "basis": _portfolio_basis_cell(window)} for row, window in
                                         zip(stress_rows(portfolio_stress.get("windows")),
                                             portfolio_stress.get("windows") or [], strict=True)],
               "portfolio_stress_members": portfolio_stress.get("members") or [],
               "pairs_text": pairs_text(report.get("correlated_pairs")),
               "options_text": options_text(report.get("options")), "timings_text": timings_text(report.get("timings")),
               # plotly.js once, inline in <head> (charts.plotly_js says why), only when a chart needs it
               "plotly_js": mark_safe(charts.plotly_js()) if any_chart else ""}
    return render_to_string("analytics/report.html", context)


def _disclosure_lines(result: dict) -> list[str]:
    lines = ["", "Data this verdict stood on:", ""]
    tables = coverage_tables(result)
    if not tables:
        lines.append("- This strategy declares no fundamental inputs (price-only by design).")
    for label, coverage in tables:
        share = coverage.get("fallback_share")
        lines.append(f"- {label}" + (f": {pct(share, 0)} of bars on a price-only or assumed fallback of a primary "
                                     "input" if share is not None else ""))
        lines += [f"  - {line}" for line in coverage_lines(coverage)]
    effects = (result.get("summary") or {}).get("parameter_effects") or {}
    if effects.get("no_effect"):
        lines.append(f"- Parameters that had no effect on the research data: {', '.join(effects['no_effect'])} "
                     "(their optimised values mean nothing)")
    notes = (result.get("summary") or {}).get("notes") or []
    if notes:
        lines += ["", "Data notes:", ""] + [f"- {note}" for note in notes]
    return lines


def _stress_evidence_markdown(report: dict) -> list[str]:
    """The stress evidence table and the portfolio's windows in words."""
    evidence = stress_evidence(report)
    if not evidence["rows"]:
        return []
    lines = ["", "## Stress evidence", "", "Each cell: basis, positions opened, return, max drawdown (USD in brackets "
             "for the quote-coin depeg).", "", "| window | " + " | ".join(evidence["columns"]) + " |",
             "|---" * (len(evidence["columns"]) + 1) + "|"]
    for row in evidence["rows"]:
        cells = [f"{c['basis']}, {c['positions']} opened, {c['return']}, DD {c['max_drawdown']}" if c["ok"]
                 else c["text"] for c in row["cells"]]
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    windows = (report.get("portfolio_stress") or {}).get("windows") or []
    if windows:
        lines += ["", "The candidates together:", ""]
        lines += [f"- {window['name']}: {'; '.join(portfolio_stress_lines(window))}" for window in windows]
    return lines


def render_markdown(report: dict) -> str:
    lines = ["# Research report", "", f"Generated {report.get('generated_at')}. All ratios are {CONVENTION}.", ""]
    selection = report.get("selection") or {}
    lines += ["## Selection for paper trading", "", selection.get("message", ""), ""]
    for pick in selection.get("selected", []):
        lines.append(f"- **{pick['name']}** (rank {pick['rank']}): {pick['reason']}")
    for pick in selection.get("candidates_not_meeting_criteria", []):
        lines.append(f"- {pick['name']} (rank {pick['rank']}, NOT meeting criteria): {pick['reason']}")
    headings = [heading for _, heading in SCORECARD_COLUMNS]
    lines += ["", "## Scorecard", "", "Each cell: the value, **bold** when the criterion is met.", "",
              "| rank | strategy | " + " | ".join(headings) + " | met | holdout evaluations | holdout bars on "
              "price-only fallback |", "|---" * (len(headings) + 5) + "|"]
    for row in scorecard_rows(report):
        cells = " | ".join(f"**{c['text']}**" if c["passed"] else c["text"] for c in row["cells"])
        lines.append(f"| {row['rank']} | {row['name']} | {cells} | {row['passed']} | {row['evaluations']} | "
                     f"{row['fallback']} |")
    lines += ["", "Criteria (rule, threshold, measured on):", ""]
    lines += [f"- {c['heading']}: {c['rule']}, {c['threshold']}; {c['source']}" for c in criteria_legend(report)]
    lines += ["", "## Portfolio of the candidates", ""] + [f"- {line}" for line in portfolio_lines(report)]
    lines += [f"  - data note: {note}" for note in (report.get("portfolio") or {}).get("notes") or []]
    lines += _stress_evidence_markdown(report)
    lines += ["", "## Fundamental and sentiment data stored", ""]
    inventory = report.get("fundamentals") or []
    if inventory:
        lines += ["| series | vendor | rows | from | to | columns |", "|---|---|---|---|---|---|"]
        lines += [f"| {f['series']} | {f['vendor']} | {f['rows']} | {f['first']} | {f['last']} | "
                  f"{', '.join(f['columns'])} |" for f in inventory]
    else:
        lines.append("No on-chain or sentiment rows are stored: every strategy ran on its price-only fallback.")
    lines += ["", "## Strategies", ""]
    for name, result in (report.get("strategies") or {}).items():
        lines.append(f"### {result.get('label') or name} (`{name}`, {result.get('timeframe', '')})")
        if result.get("status") != "succeeded":
            lines += ["", f"Not evaluated: {result.get('message') or result.get('error') or result.get('status')}", ""]
            continue
        h = result.get("holdout") or {}
        stab = (result.get("summary") or {}).get("stability") or {}
        lines += ["",
                  f"- Holdout: return {pct(h.get('total_return'))}, Sharpe {num(h.get('sharpe'))}, Sortino "
                  f"{num(h.get('sortino'))}, Calmar {num(h.get('calmar'))}, max drawdown {pct(h.get('max_drawdown'))}, "
                  f"trades {h.get('n_trades')}, win rate {pct(h.get('win_rate'))}, profit factor "
                  f"{num(h.get('profit_factor'))} (per position; {h.get('n_legs')} legs)",
                  f"- {holdout_line(result)[0].upper()}{holdout_line(result)[1:]}",
                  f"- Walk-forward: {stab.get('n_periods')} periods ({stab.get('n_periods_no_data', 0)} with no candles "
                  "in the test window, left out), profitable test periods "
                  f"{pct(stab.get('share_profitable_test'), 0)}, mean test Sharpe {num(stab.get('test_sharpe_mean'))}, "
                  f"mean degradation {num(stab.get('mean_degradation'))}",
                  f"- Final parameters: {params_text(result.get('final_parameters'))}"]
        if h.get("yield"):
            lines.append(f"- Yield earned on the holdout: {pct(h['yield']['yield_return'], 3)} ({h['yield']['convention']})")
        dsr = (result.get("summary") or {}).get("deflated_sharpe") or {}
        if dsr:
            lines.append(f"- Deflated Sharpe ratio {num(dsr.get('dsr'), 3)} (probabilistic Sharpe ratio "
                         f"{num(dsr.get('psr'), 3)}; {dsr.get('n_trials')} parameter sets tried)")
        lines += [f"- {line}" for line in evidence_lines(result)]
        mc = (result.get("montecarlo") or {}).get("bootstrap") or {}
        if mc:
            final, dd = mc["final_return"], mc["max_drawdown"]
            lines.append(f"- Monte Carlo ({mc.get('n_iterations')} bootstrap resamples of "
                         f"{count_of(mc.get('n_trades'), 'holdout position')}): "
                         f"final return 95% CI {pct(final.get('ci_low'))} .. {pct(final.get('ci_high'))}, max drawdown "
                         f"95% CI {pct(dd.get('ci_low'))} .. {pct(dd.get('ci_high'))}, P(drawdown >= 20%) "
                         f"{pct(mc.get('probability_drawdown_exceeds'))}")
        for row in stress_rows(result.get("stress")):
            lines.append(f"- Stress {row['name']}: {'; '.join(row['lines'] + row['details'])}")
        for heading, items in (("Capacity curve", capacity_lines(result.get("capacity"))),
                               ("Execution on the holdout", execution_lines(result.get("execution")))):
            if items:
                lines += [f"- {heading}:", *(f"  - {item}" for item in items)]
        for warning in h.get("warnings") or []:
            lines.append(f"- Warning: {warning}")
        lines += _disclosure_lines(result)
        lines.append("")
    lines += ["## Data quality", ""]
    for timeframe, quality in (report.get("data_quality") or {}).items():
        s = quality.get("summary", {})
        lines.append(f"- {timeframe}: {s.get('series')} series, {s.get('rows')} candles, {s.get('missing_bars')} "
                     f"missing bars in {s.get('gaps')} gaps, lowest score {num(s.get('min_score'))}"
                     + (f", no data at all for {', '.join(s['no_data'])}" if s.get("no_data") else
                        ", every symbol has data"))
    for symbol, rec in (report.get("reconciliation") or {}).items():
        if rec.get("status") == "ok":
            lines.append(f"- Reconciliation {symbol} (Binance vs CoinGecko, {rec['common']} days): median |close diff| "
                         f"{pct(rec.get('close_diff_abs_median'), 2)}, {rec.get('days_above_tolerance')} days above 1%, "
                         f"score {num(rec.get('score'))}")
        else:
            lines.append(f"- Reconciliation {symbol}: {rec.get('status')}")
    pairs = report.get("correlated_pairs") or []
    lines += ["", "## Correlation", "", f"{len(pairs)} strategy pair(s) above 0.7: {pairs_text(pairs)}" if pairs
              else "No strategy pair above 0.7.", ""]
    return "\n".join(lines) + "\n"
