"""Render the research report: an HTML page (Django template, inline SVG charts) and a Markdown summary."""

from __future__ import annotations

from typing import Any

import pandas as pd
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from analytics import charts
from strategies.disclosure import coverage_lines

CONVENTION = "annualised over 365 days from daily-resampled returns, risk-free rate 0"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def pct(value: Any, digits: int = 1) -> str:
    """A fraction as a percentage; "n/a" for anything undefined (None, or a template's missing value)."""
    return f"{value * 100:.{digits}f}%" if _is_number(value) else "n/a"


def num(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if _is_number(value) else "n/a"


def points_series(points: dict | None, key: str) -> pd.Series | None:
    """A stored ``{"timestamps": [...], key: [...]}`` curve as a Series on a UTC index (None when empty)."""
    if not points or not points.get("timestamps"):
        return None
    return pd.Series(points[key], index=pd.to_datetime(points["timestamps"], utc=True))


def _strategy_charts(result: dict) -> dict:
    equity, drawdown = points_series(result.get("equity"), "equity"), points_series(result.get("equity"), "drawdown")
    out = {
        "equity": charts.line_chart({"holdout equity": equity}, title="Holdout equity"),
        "drawdown": charts.line_chart({"drawdown": -drawdown if drawdown is not None else None},
                                      title="Holdout drawdown", percent=True, height=150),
    }
    periods = result.get("periods") or []
    if periods:
        index = pd.to_datetime([p["test_start"] for p in periods], utc=True)
        train = pd.Series([p["train_metrics"].get("sharpe") for p in periods], index=index, dtype="float64")
        test = pd.Series([p["test_metrics"].get("sharpe") for p in periods], index=index, dtype="float64")
        out["walkforward"] = charts.line_chart({"train Sharpe": train, "test Sharpe": test},
                                               title="Walk-forward Sharpe by period (365-day annualised)")
    histogram = result.get("montecarlo_paths") or {}
    if histogram:
        observed = (result.get("montecarlo") or {}).get("bootstrap", {})
        out["mc_return"] = charts.histogram(histogram.get("final_return", []), title="Bootstrap: final return",
                                            marker=(observed.get("final_return") or {}).get("observed"))
        out["mc_drawdown"] = charts.histogram(histogram.get("max_drawdown", []), title="Bootstrap: max drawdown",
                                              marker=(observed.get("max_drawdown") or {}).get("observed"))
    neighbourhood = (result.get("summary") or {}).get("neighbourhood")
    if neighbourhood:
        matrix = pd.DataFrame(neighbourhood["z"], index=[f"{neighbourhood['y_param']}={v}" for v in
                                                         neighbourhood["y_values"]],
                              columns=[f"{neighbourhood['x_param']}={v}" for v in neighbourhood["x_values"]],
                              dtype="float64")
        out["neighbourhood"] = charts.heatmap(matrix, title="Objective around the chosen parameters", lo=-3, hi=3)
    return {key: mark_safe(value) for key, value in out.items()}


def coverage_tables(result: dict) -> list[tuple[str, dict]]:
    """The data coverage of the holdout and of the research range, where the run recorded them."""
    summary = result.get("summary") or {}
    tables = [("Holdout", (result.get("holdout") or {}).get("data_coverage")),
              ("Research range (walk-forward and optimisation data)", summary.get("research_coverage"))]
    return [(label, coverage) for label, coverage in tables if coverage]


def render_html(report: dict) -> str:
    strategies = []
    for name, result in (report.get("strategies") or {}).items():
        strategies.append({**result, "name": name, "charts": _strategy_charts(result),
                           "coverage_tables": coverage_tables(result)})
    correlation = report.get("correlation")
    corr_chart = ""
    if correlation:
        corr_chart = charts.heatmap(pd.DataFrame(correlation).astype("float64"),
                                    title="Correlation of holdout daily returns")
    context = {"report": report, "strategies": strategies, "convention": CONVENTION,
               "correlation_chart": mark_safe(corr_chart)}
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


def render_markdown(report: dict) -> str:
    lines = ["# Research report", "", f"Generated {report.get('generated_at')}. All ratios are {CONVENTION}.", ""]
    selection = report.get("selection") or {}
    lines += ["## Selection for paper trading", "", selection.get("message", ""), ""]
    for pick in selection.get("selected", []):
        lines.append(f"- **{pick['name']}** (rank {pick['rank']}): {pick['reason']}")
    for pick in selection.get("candidates_not_meeting_criteria", []):
        lines.append(f"- {pick['name']} (rank {pick['rank']}, NOT meeting criteria): {pick['reason']}")
    lines += ["", "## Scorecard", "",
              "| rank | strategy | OOS Sharpe | worst max DD | WF profitable periods | win rate | criteria | contaminated "
              "| holdout bars on price-only fallback |",
              "|---|---|---|---|---|---|---|---|---|"]
    for entry in (report.get("scorecard") or {}).get("strategies", []):
        crit = entry["criteria"]
        fallback = ("price-only by design" if entry.get("fallback_share") is None else
                    pct(entry["fallback_share"], 0) + (" (mostly price-only: not selectable)"
                                                       if entry.get("mostly_fallback") else ""))
        lines.append(f"| {entry['rank']} | {entry['name']} | {num(entry['oos_sharpe'])} | "
                     f"{pct(crit['max_drawdown']['value'])} | {pct(crit['walk_forward_stability']['value'], 0)} | "
                     f"{pct(crit['win_rate']['value'])} | {entry['passed_count']}/{entry['total_criteria']} | "
                     f"{'yes' if entry['contaminated'] else 'no'} | {fallback} |")
    lines += ["", "## Fundamental and sentiment data stored", ""]
    inventory = report.get("fundamentals") or []
    if inventory:
        lines += ["| series | vendor | rows | from | to | columns |", "|---|---|---|---|---|---|"]
        lines += [f"| {f['series']} | {f['vendor']} | {f['rows']} | {f['first']} | {f['last']} | "
                  f"{', '.join(f['columns'])} |" for f in inventory]
    else:
        lines.append("No on-chain or sentiment rows are stored: every strategy ran on its price-only fallback.")
    holdout_share = (report.get("options") or {}).get("holdout_fraction")
    lines += ["", f"## Strategies (holdout = last {pct(holdout_share, 0)} of the data, evaluated once)", ""]
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
                  f"{num(h.get('profit_factor'))}, evaluations {h.get('evaluations')}",
                  f"- Walk-forward: {stab.get('n_periods')} periods ({stab.get('n_periods_no_data', 0)} with no candles "
                  "in the test window, left out), profitable test periods "
                  f"{pct(stab.get('share_profitable_test'), 0)}, mean test Sharpe {num(stab.get('test_sharpe_mean'))}, "
                  f"mean degradation {num(stab.get('mean_degradation'))}",
                  f"- Final parameters: `{result.get('final_parameters')}`"]
        if h.get("yield"):
            lines.append(f"- Yield earned on the holdout: {pct(h['yield']['yield_return'], 3)} ({h['yield']['convention']})")
        dsr = (result.get("summary") or {}).get("deflated_sharpe") or {}
        if dsr:
            lines.append(f"- Deflated Sharpe ratio {num(dsr.get('dsr'), 3)} (probabilistic Sharpe ratio "
                         f"{num(dsr.get('psr'), 3)}; {dsr.get('n_trials')} parameter sets tried)")
        mc = (result.get("montecarlo") or {}).get("bootstrap") or {}
        if mc:
            final, dd = mc["final_return"], mc["max_drawdown"]
            lines.append(f"- Monte Carlo ({mc.get('n_iterations')} bootstrap runs of {mc.get('n_trades')} trades): "
                         f"final return 95% CI {pct(final.get('ci_low'))} .. {pct(final.get('ci_high'))}, max drawdown "
                         f"95% CI {pct(dd.get('ci_low'))} .. {pct(dd.get('ci_high'))}, P(drawdown >= 20%) "
                         f"{pct(mc.get('probability_drawdown_exceeds'))}")
        for event in result.get("stress") or []:
            if event.get("status") == "ok":
                lines.append(f"- Stress {event['name']}: return {pct(event.get('return'))}, max drawdown "
                             f"{pct(event.get('max_drawdown'))}, breaker fired: {event.get('circuit_breaker_fired')}")
            else:
                lines.append(f"- Stress {event['name']}: {event.get('status')} ({event.get('message', '')})")
        for warning in h.get("warnings") or []:
            lines.append(f"- Warning: {warning}")
        lines += _disclosure_lines(result)
        lines.append("")
    lines += ["## Data quality", ""]
    for timeframe, quality in (report.get("data_quality") or {}).items():
        s = quality.get("summary", {})
        lines.append(f"- {timeframe}: {s.get('series')} series, {s.get('rows')} candles, {s.get('missing_bars')} "
                     f"missing bars in {s.get('gaps')} gaps, lowest score {num(s.get('min_score'))}, no data for "
                     f"{', '.join(s.get('no_data') or []) or 'none'}")
    for symbol, rec in (report.get("reconciliation") or {}).items():
        if rec.get("status") == "ok":
            lines.append(f"- Reconciliation {symbol} (Binance vs CoinGecko, {rec['common']} days): median |close diff| "
                         f"{pct(rec.get('close_diff_abs_median'), 2)}, {rec.get('days_above_tolerance')} days above 1%, "
                         f"score {num(rec.get('score'))}")
        else:
            lines.append(f"- Reconciliation {symbol}: {rec.get('status')}")
    pairs = report.get("correlated_pairs") or []
    lines += ["", "## Correlation", "", f"{len(pairs)} strategy pair(s) above 0.7: {pairs}" if pairs
              else "No strategy pair above 0.7.", ""]
    return "\n".join(lines) + "\n"
