"""The operator console: start runs and ingestion, watch status and errors, inspect, compare, export."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from analytics import charts
from analytics.charts import line_chart
from analytics.report import execution_lines, num, pct, refusals_text
from analytics.run_charts import run_chart_inputs
from backtests.jobs import job_create
from backtests.models import BacktestConfig, BacktestMetric, BacktestTrade, ResearchJob
from backtests.selectors import equity_frame
from backtests.services import TRADE_FIELDS
from core import lifecycle
from core.jsonsafe import json_safe
from interfaces.admin.backtest_forms import BacktestConfigForm, IngestionForm
from interfaces.admin.mixins import ReadOnlyAdminMixin
from interfaces.admin.research_forms import ResearchRunForm

STATUS_COLORS = {"pending": "#777", "running": "#1f77b4", "succeeded": "#2ca02c", "failed": "#d62728"}


def status_badge(obj) -> str:
    label = obj.status
    if obj.is_stale:
        label = "running (stale: worker lost? retry it)"
    color = STATUS_COLORS.get(obj.status, "#777")
    return format_html('<b style="color:{}">{}</b>', color, label)


def plotly_js_view(request) -> HttpResponse:
    """plotly.js from the installed package (the admin's charts work offline), cached by the browser."""
    response = HttpResponse(charts.plotly_js(), content_type="application/javascript")
    response["Cache-Control"] = "private, max-age=86400"
    return response


def run_figures(config: BacktestConfig, frame) -> list:
    """Equity against buy-and-hold, underwater, monthly returns, rolling Sharpe, and candles with indicators and
    trades for the run's symbols, as ``(figure, div id)`` pairs."""
    inputs = run_chart_inputs(config)
    figures = [(charts.equity_benchmark_figure(frame["equity"], inputs.benchmark), "run-equity"),
               (charts.drawdown_figure(frame["drawdown"], title="Drawdown (underwater)"), "run-drawdown"),
               (charts.monthly_returns_figure(frame["equity"], title="Monthly returns"), "run-monthly"),
               (charts.rolling_sharpe_figure(frame["equity"]), "run-rolling-sharpe")]
    for i, (symbol, bars) in enumerate(inputs.candles.items()):
        figures.append((charts.price_trades_figure(bars, inputs.legs(symbol), inputs.overlays[symbol],
                                                   title=f"{symbol} {config.timeframe}"), f"run-candles-{i}"))
    return figures


def admin_charts_html(figures) -> str:
    """``(figure, div id)`` pairs as Plotly divs behind one include of the admin's plotly.js ("" if none)."""
    parts = [charts.figure_html(figure, div_id) for figure, div_id in figures if figure is not None]
    if not parts:
        return ""
    return mark_safe(format_html('<script src="{}"></script>', reverse("admin:backtests_plotly_js")) + "".join(parts))


def montecarlo_figures(result: dict) -> list:
    """The histograms and the fan of a Monte Carlo job, resampled again from its run's positions with the job's
    own seed and iterations (the job stores summaries, not paths)."""
    from analytics.montecarlo import simulate_paths
    from backtests.selectors import config_trade_returns

    config = BacktestConfig.objects.filter(pk=result["config_id"]).first()
    bootstrap = result.get("bootstrap") or {}
    if config is None or not bootstrap:
        return []
    returns = config_trade_returns(config)
    if returns.size == 0:
        return []
    iterations, seed = int(bootstrap.get("n_iterations") or 1000), bootstrap.get("seed")
    paths = simulate_paths(returns, n_iterations=iterations, method="bootstrap", seed=seed, fan=True)
    return [(charts.montecarlo_figure({key: paths[key].tolist() for key in ("final_return", "max_drawdown")},
                                      bootstrap, title=f"Bootstrap of backtest #{config.pk}'s positions"), "job-mc"),
            (charts.montecarlo_fan_figure(paths["fan"],
                                          title=f"Monte Carlo fan of backtest #{config.pk}"), "job-mc-fan")]


def folded_json(data) -> str:
    """The raw JSON behind a labelled table, folded away."""
    return format_html("<details><summary>full record (JSON)</summary><pre>{}</pre></details>",
                       json.dumps(data, indent=1, default=str))


def format_html_join_rows(rows) -> str:
    """Label/value pairs as a small two-column table."""
    return format_html("<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if hasattr(value, "strftime"):
        return f"{value:%Y-%m-%d %H:%M}"
    return "" if value is None else str(value)


def retry_selected(model_admin: admin.ModelAdmin, request, queryset, *, noun: str) -> None:
    """Retry each selected failed or stale record through the lifecycle; say which were refused and why."""
    retried, refused = 0, []
    for record in queryset:
        try:
            lifecycle.retry(record)
            retried += 1
        except lifecycle.LifecycleError as exc:
            refused.append(str(exc))
    model_admin.message_user(request, f"{retried} {noun}(s) queued again.")
    for reason in refused:
        model_admin.message_user(request, reason, level=messages.WARNING)


class LifecycleRunAdmin(admin.ModelAdmin):
    """A run started from the add form: saved with its creator and queued through the lifecycle."""

    queued_message = "#{pk} queued."

    def has_change_permission(self, request, obj=None) -> bool:
        """A run is immutable once created: its page is a view (no editable field, no Save)."""
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        """Nor deleted from its page: its results and the holdout counts stand (the list's bulk delete stays
        for clearing test runs)."""
        return obj is None and super().has_delete_permission(request, obj)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if not change:
            lifecycle.enqueue(obj)
            messages.info(request, self.queued_message.format(pk=obj.pk))


#: Trade legs shown on a run's page (the rest are in its CSV export): a page stays light whatever the run.
TRADES_ON_PAGE = 200
METRIC_FIELDS = ("timestamp", "equity", "cash", "drawdown", "exposure", "portfolio_heat", "open_positions",
                 "circuit_breaker")


def csv_response(filename: str, header: list[str], rows) -> HttpResponse:
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response


@admin.register(BacktestConfig)
class BacktestConfigAdmin(LifecycleRunAdmin):
    form = BacktestConfigForm
    list_display = ("id", "strategy", "status_display", "return_display", "sharpe_display", "drawdown_display",
                    "win_rate_display", "positions", "timeframe", "period")
    list_filter = ("status", "strategy", "purpose", "timeframe")
    search_fields = ("name", "strategy", "error")
    date_hierarchy = "created_at"
    result_fields = ("status", "error", "attempts", "created_at", "started_at", "finished_at", "charts",
                     "summary_view", "results_view", "trades_table", "downloads", "purpose", "data_hash",
                     "code_version", "data_quality_score", "annualization", "task_id")
    actions = ["export_trades_csv", "compare_runs", "retry_runs"]

    @admin.display(description="status", ordering="status")
    def status_display(self, obj):
        return status_badge(obj)

    @admin.display(description="return", ordering="total_return")
    def return_display(self, obj):
        return pct(obj.total_return, 2)

    @admin.display(description="Sharpe", ordering="sharpe_ratio")
    def sharpe_display(self, obj):
        return num(obj.sharpe_ratio)

    @admin.display(description="max DD", ordering="max_drawdown")
    def drawdown_display(self, obj):
        return pct(obj.max_drawdown)

    @admin.display(description="win rate", ordering="win_rate")
    def win_rate_display(self, obj):
        return pct(obj.win_rate)

    @admin.display(description="positions", ordering="num_trades")
    def positions(self, obj):
        return obj.num_trades

    @admin.display(description="period", ordering="start")
    def period(self, obj):
        return format_html('<span style="white-space:nowrap">{} .. {}</span>', f"{obj.start:%Y-%m-%d}",
                           f"{obj.end:%Y-%m-%d}")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return tuple(self.form.Meta.fields) + self.result_fields

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": list(self.form.Meta.fields)})]
        return [
            ("Status", {"fields": ["status", "error", "attempts", "created_at", "started_at", "finished_at"]}),
            ("Results (ratios annualised over 365 days from daily returns)", {"fields": [
                "charts", "results_view", "summary_view"]}),
            ("Trades", {"fields": ["trades_table", "downloads"]}),
            ("Configuration", {"fields": [*self.form.Meta.fields, "purpose"]}),
            ("Provenance", {"fields": ["data_hash", "code_version", "data_quality_score", "annualization", "task_id"],
                            "classes": ["collapse"]}),
        ]

    @admin.display(description="results")
    def results_view(self, obj):
        rows = [("Total return", pct(obj.total_return, 2)), ("CAGR", pct(obj.cagr, 2)),
                ("Sharpe", num(obj.sharpe_ratio)), ("Sortino", num(obj.sortino_ratio)),
                ("Calmar", num(obj.calmar_ratio)), ("Max drawdown", pct(obj.max_drawdown, 2)),
                ("Win rate (per position)", pct(obj.win_rate)), ("Profit factor", num(obj.profit_factor)),
                ("Positions", obj.num_trades if obj.num_trades is not None else "n/a"),
                ("Final equity", num(obj.final_equity))]
        return format_html_join_rows(rows)

    @admin.display(description="what the run says")
    def summary_view(self, obj):
        summary = obj.summary or {}
        performance = summary.get("performance") or {}
        facts = [("Trade legs", performance.get("n_legs", "n/a")),
                 ("Exit reasons", ", ".join(f"{count} {reason.replace('_', ' ')}" for reason, count in
                                            (summary.get("exit_reasons") or {}).items()) or "none"),
                 ("Entries refused", refusals_text(summary.get("refusals"))),
                 ("Drawdown breaker", f"fired {summary.get('circuit_breaker_events') or 0} times"),
                 ("Fees / slippage / carry paid", f"{num(summary.get('fees_total'))} / "
                                                  f"{num(summary.get('slippage_total'))} / "
                                                  f"{num(summary.get('carry_total'))}"),
                 *(("Execution", line) for line in execution_lines(summary.get("execution")))]
        touch = summary.get("holdout_touch")
        if touch:
            facts.append(("Locked holdout", touch.get("message", "")))
        notes = [*(summary.get("notes") or []), *(performance.get("warnings") or [])]
        html = format_html_join_rows(facts)
        if notes:
            html += format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((note,) for note in notes)))
        return html + folded_json(summary)

    @admin.display(description=f"trade legs (first {TRADES_ON_PAGE}; partial exits are legs of one position)")
    def trades_table(self, obj):
        trades = list(obj.trades.order_by("entry_time", "exit_time", "id").values_list(*TRADE_FIELDS)[:TRADES_ON_PAGE])
        if not trades:
            return "no trades"
        header = format_html_join("", "<th>{}</th>", ((field.replace("_", " "),) for field in TRADE_FIELDS))
        body = format_html_join("", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((
            _cell(value),) for value in row)),) for row in trades))
        return format_html('<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', header, body)

    @admin.display(description="downloads")
    def downloads(self, obj):
        return format_html('<a href="{}">all trade legs (CSV)</a> &middot; <a href="{}">equity and risk snapshots '
                           '(CSV, {} rows)</a>',
                           reverse("admin:backtests_backtestconfig_trades_csv", args=[obj.pk]),
                           reverse("admin:backtests_backtestconfig_metrics_csv", args=[obj.pk]),
                           obj.metrics.count())

    def get_urls(self):
        custom = [
            path("<int:pk>/trades.csv", self.admin_site.admin_view(self.trades_csv_view),
                 name="backtests_backtestconfig_trades_csv"),
            path("<int:pk>/metrics.csv", self.admin_site.admin_view(self.metrics_csv_view),
                 name="backtests_backtestconfig_metrics_csv"),
            path("plotly.min.js", self.admin_site.admin_view(plotly_js_view), name="backtests_plotly_js"),
        ]
        return custom + super().get_urls()

    def trades_csv_view(self, request, pk: int):
        config = get_object_or_404(BacktestConfig, pk=pk)
        rows = config.trades.order_by("entry_time", "exit_time", "id").values_list(*TRADE_FIELDS).iterator(2000)
        return csv_response(f"backtest-{pk}-trades.csv", list(TRADE_FIELDS), rows)

    def metrics_csv_view(self, request, pk: int):
        config = get_object_or_404(BacktestConfig, pk=pk)
        rows = config.metrics.order_by("timestamp").values_list(*METRIC_FIELDS).iterator(5000)
        return csv_response(f"backtest-{pk}-metrics.csv", list(METRIC_FIELDS), rows)

    queued_message = "Backtest #{pk} queued; its status updates when a worker runs it."

    @admin.display(description="charts")
    def charts(self, obj):
        frame = equity_frame(obj)
        if frame.empty:
            return "no metric snapshots yet"
        return admin_charts_html(run_figures(obj, frame))

    @admin.action(description="Export trades of the selected runs as CSV")
    def export_trades_csv(self, request, queryset):
        trades = BacktestTrade.objects.filter(config__in=queryset).order_by("config_id", "entry_time", "id")
        rows = trades.values_list("config_id", "config__strategy", *TRADE_FIELDS).iterator(chunk_size=2000)
        return csv_response("trades.csv", ["run_id", "strategy", *TRADE_FIELDS], rows)

    @admin.action(description="Compare the selected runs side by side")
    def compare_runs(self, request, queryset):
        runs = list(queryset.order_by("id")[:8])
        curves = {f"#{run.pk} {run.strategy}": equity_frame(run)["equity"] for run in runs}
        rows = [("Strategy", [r.strategy for r in runs]), ("Status", [r.status for r in runs]),
                ("Period", [f"{r.start:%Y-%m-%d} .. {r.end:%Y-%m-%d}" for r in runs]),
                ("Total return", [pct(r.total_return, 2) for r in runs]), ("CAGR", [pct(r.cagr, 2) for r in runs]),
                ("Sharpe", [num(r.sharpe_ratio) for r in runs]), ("Sortino", [num(r.sortino_ratio) for r in runs]),
                ("Calmar", [num(r.calmar_ratio) for r in runs]),
                ("Max drawdown", [pct(r.max_drawdown, 2) for r in runs]),
                ("Win rate", [pct(r.win_rate) for r in runs]), ("Profit factor", [num(r.profit_factor) for r in runs]),
                ("Trades", [r.num_trades for r in runs]), ("Final equity", [num(r.final_equity) for r in runs]),
                ("Data quality", [num(r.data_quality_score) for r in runs]),
                ("Parameters", [r.parameters for r in runs])]
        context = {**self.admin_site.each_context(request), "title": "Compare runs", "runs": runs, "rows": rows,
                   "chart": mark_safe(line_chart(curves, title="Equity"))}
        return TemplateResponse(request, "admin/backtests/compare.html", context)

    @admin.action(description="Retry the selected failed or stale runs")
    def retry_runs(self, request, queryset):
        retry_selected(self, request, queryset, noun="run")


@admin.register(BacktestTrade)
class BacktestTradeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("config", "symbol", "side", "entry_time", "exit_time", "entry_price", "exit_price",
                    "quantity", "pnl", "exit_reason", "is_partial")
    list_filter = ("side", "exit_reason", "is_partial", "symbol")
    search_fields = ("symbol", "config__strategy")
    date_hierarchy = "entry_time"
    list_select_related = ("config",)


@admin.register(BacktestMetric)
class BacktestMetricAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("config", "timestamp", "equity", "cash", "drawdown", "exposure", "portfolio_heat",
                    "open_positions", "circuit_breaker")
    list_filter = ("circuit_breaker",)
    search_fields = ("config__strategy",)
    date_hierarchy = "timestamp"
    list_select_related = ("config",)


@admin.register(ResearchJob)
class ResearchJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "kind", "status_display", "progress", "attempts", "created_by", "created_at", "finished_at")
    list_filter = ("kind", "status")
    search_fields = ("error",)
    date_hierarchy = "created_at"
    readonly_fields = ("kind", "status", "progress", "report_link", "result_chart", "params", "error", "result",
                       "task_id", "attempts", "created_by", "created_at", "started_at", "finished_at")
    actions = ["retry_jobs"]
    change_list_template = "admin/backtests/researchjob/change_list.html"

    @admin.display(description="status", ordering="status")
    def status_display(self, obj):
        return status_badge(obj)

    def get_urls(self):
        custom = [path("start-ingestion/", self.admin_site.admin_view(self.start_ingestion_view),
                       name="backtests_researchjob_start_ingestion"),
                  path("start-research/", self.admin_site.admin_view(self.start_research_view),
                       name="backtests_researchjob_start_research"),
                  path("<int:pk>/report/", self.admin_site.admin_view(self.report_view),
                       name="backtests_researchjob_report")]
        return custom + super().get_urls()

    @admin.display(description="chart")
    def result_chart(self, obj):
        """A heat map, Monte Carlo or stress job's result as charts (other kinds show their result below)."""
        if obj.status != "succeeded" or not obj.result:
            return "-"
        result = obj.result
        figures = []
        if obj.kind == "parameter_heatmap":
            figures.append((charts.neighbourhood_figure(
                result, result.get("chosen"), objective=f"research {result.get('objective', '')}",
                title=f"{result.get('strategy')}: {result.get('objective')} over {result.get('x_param')} x "
                      f"{result.get('y_param')}"), "job-heatmap"))
        elif obj.kind == "montecarlo" and result.get("config_id"):
            figures += montecarlo_figures(result)
        elif obj.kind == "stress_test":
            figures.append((charts.stress_windows_figure(result.get("events")), "job-stress"))
        return admin_charts_html(figures) or "-"

    @admin.display(description="report")
    def report_link(self, obj):
        paths = (obj.result or {}).get("paths") if obj.kind == "research" else None
        if not paths:
            return "-"
        return format_html('<a href="{}">open the research report</a> (files: {})',
                           reverse("admin:backtests_researchjob_report", args=[obj.pk]), paths.get("html", ""))

    def start_research_view(self, request):
        form = ResearchRunForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            with transaction.atomic():
                job = job_create(kind="research", params=json_safe(form.cleaned_data), user=request.user)
            messages.info(request, f"Research job #{job.pk} queued; this page shows its status and, when it has "
                                   "succeeded, a link to its report.")
            return redirect(reverse("admin:backtests_researchjob_change", args=[job.pk]))
        context = {**self.admin_site.each_context(request), "title": "Start a research run", "form": form,
                   "opts": self.model._meta}
        return TemplateResponse(request, "admin/backtests/start_form.html", context)

    def report_view(self, request, pk: int):
        """The HTML report a research job wrote (only a file inside the reports folder is served)."""
        job = get_object_or_404(ResearchJob, pk=pk, kind="research")
        html = Path(((job.result or {}).get("paths") or {}).get("html", "")).resolve()
        reports = Path(settings.REPORTS_DIR).resolve()
        if not html.is_file() or reports not in html.parents:
            raise Http404("this job has no report in the reports folder")
        return HttpResponse(html.read_text(encoding="utf-8"))

    def start_ingestion_view(self, request):
        if not request.user.is_staff:
            return HttpResponse(status=403)
        form = IngestionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            params = json_safe(form.cleaned_data)
            params["source"] = params.get("source") or None
            with transaction.atomic():
                job = job_create(kind="ingest_ohlcv", params=params, user=request.user)
            messages.info(request, f"Ingestion job #{job.pk} queued.")
            return redirect(reverse("admin:backtests_researchjob_change", args=[job.pk]))
        context = {**self.admin_site.each_context(request), "title": "Start an ingestion", "form": form,
                   "opts": self.model._meta}
        return TemplateResponse(request, "admin/backtests/start_form.html", context)

    @admin.action(description="Retry the selected failed or stale jobs")
    def retry_jobs(self, request, queryset):
        retry_selected(self, request, queryset, noun="job")
