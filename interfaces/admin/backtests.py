"""The operator console: start runs and ingestion, watch status and errors, inspect, compare, export."""

from __future__ import annotations

import csv

from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from analytics.charts import line_chart
from analytics.report import num, pct
from backtests.jobs import job_create
from backtests.models import BacktestConfig, BacktestMetric, BacktestTrade, ResearchJob
from backtests.selectors import equity_frame
from backtests.services import TRADE_FIELDS
from core import lifecycle
from core.jsonsafe import json_safe
from interfaces.admin.backtest_forms import BacktestConfigForm, IngestionForm
from interfaces.admin.mixins import ReadOnlyAdminMixin, ReadOnlyTabularInline

STATUS_COLORS = {"pending": "#777", "running": "#1f77b4", "succeeded": "#2ca02c", "failed": "#d62728"}


def status_badge(obj) -> str:
    label = obj.status
    if obj.is_stale:
        label = "running (stale: worker lost? retry it)"
    color = STATUS_COLORS.get(obj.status, "#777")
    return format_html('<b style="color:{}">{}</b>', color, label)


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

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if not change:
            lifecycle.enqueue(obj)
            messages.info(request, self.queued_message.format(pk=obj.pk))


class TradeInline(ReadOnlyTabularInline):
    model = BacktestTrade
    fields = TRADE_FIELDS
    readonly_fields = fields
    max_num = 0
    classes = ("collapse",)


class MetricInline(ReadOnlyTabularInline):
    model = BacktestMetric
    fields = ("timestamp", "equity", "cash", "drawdown", "exposure", "portfolio_heat", "open_positions",
              "circuit_breaker")
    readonly_fields = fields
    max_num = 0
    classes = ("collapse",)


@admin.register(BacktestConfig)
class BacktestConfigAdmin(LifecycleRunAdmin):
    form = BacktestConfigForm
    list_display = ("id", "strategy", "timeframe", "start", "end", "status_display", "purpose", "total_return",
                    "sharpe_ratio", "max_drawdown", "win_rate", "num_trades", "created_at")
    list_filter = ("status", "strategy", "purpose", "timeframe")
    search_fields = ("name", "strategy", "error")
    date_hierarchy = "created_at"
    result_fields = ("status", "error", "attempts", "created_at", "started_at", "finished_at", "charts", "summary",
                     "total_return", "cagr", "sharpe_ratio", "sortino_ratio", "calmar_ratio", "max_drawdown",
                     "win_rate", "profit_factor", "num_trades", "final_equity", "data_hash", "code_version",
                     "data_quality_score", "annualization", "task_id")
    inlines = [TradeInline, MetricInline]
    actions = ["export_trades_csv", "compare_runs", "retry_runs"]

    @admin.display(description="status", ordering="status")
    def status_display(self, obj):
        return status_badge(obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return tuple(self.form.Meta.fields) + self.result_fields  # a run is immutable once created

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": list(self.form.Meta.fields)})]
        return [
            ("Status", {"fields": ["status", "error", "attempts", "created_at", "started_at", "finished_at"]}),
            ("Results (ratios annualised over 365 days from daily returns)", {"fields": [
                "charts", "total_return", "cagr", "sharpe_ratio", "sortino_ratio", "calmar_ratio", "max_drawdown",
                "win_rate", "profit_factor", "num_trades", "final_equity"]}),
            ("Configuration", {"fields": [*self.form.Meta.fields, "purpose"]}),
            ("Provenance", {"fields": ["data_hash", "code_version", "data_quality_score", "annualization", "task_id"],
                            "classes": ["collapse"]}),
            ("Summary", {"fields": ["summary"], "classes": ["collapse"]}),
        ]

    queued_message = "Backtest #{pk} queued; its status updates when a worker runs it."

    @admin.display(description="equity and drawdown")
    def charts(self, obj):
        frame = equity_frame(obj)
        if frame.empty:
            return "no metric snapshots yet"
        equity = line_chart({"equity": frame["equity"]}, title="Equity")
        drawdown = line_chart({"drawdown": -frame["drawdown"]}, title="Drawdown", percent=True, height=160)
        return mark_safe(equity + drawdown)

    @admin.action(description="Export trades of the selected runs as CSV")
    def export_trades_csv(self, request, queryset):
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="trades.csv"'
        writer = csv.writer(response)
        writer.writerow(["run_id", "strategy", *TRADE_FIELDS])
        trades = BacktestTrade.objects.filter(config__in=queryset).select_related("config").order_by(
            "config_id", "entry_time", "id")
        for trade in trades.iterator(chunk_size=2000):
            writer.writerow([trade.config_id, trade.config.strategy,
                             *[getattr(trade, field) for field in TRADE_FIELDS]])
        return response

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
    list_display = ("id", "kind", "status_display", "attempts", "created_by", "created_at", "finished_at")
    list_filter = ("kind", "status")
    search_fields = ("error",)
    date_hierarchy = "created_at"
    readonly_fields = ("kind", "params", "status", "error", "result", "task_id", "attempts", "created_by",
                       "created_at", "started_at", "finished_at")
    actions = ["retry_jobs"]
    change_list_template = "admin/backtests/researchjob/change_list.html"

    @admin.display(description="status", ordering="status")
    def status_display(self, obj):
        return status_badge(obj)

    def get_urls(self):
        custom = [path("start-ingestion/", self.admin_site.admin_view(self.start_ingestion_view),
                       name="backtests_researchjob_start_ingestion")]
        return custom + super().get_urls()

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
