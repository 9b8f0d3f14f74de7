from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from analytics import charts, services
from analytics.models import HoldoutLock, StressEvent, WalkForwardPeriod, WalkForwardRun
from analytics.report import num, pct
from backtests.jobs import job_create
from interfaces.admin.analytics_forms import WalkForwardRunForm
from interfaces.admin.backtests import (
    LifecycleRunAdmin,
    admin_charts_html,
    folded_json,
    format_html_join_rows,
    retry_selected,
    status_badge,
)
from interfaces.admin.mixins import ReadOnlyAdminMixin, ReadOnlyTabularInline
from strategies.registry import get_strategy


class PeriodInline(ReadOnlyTabularInline):
    model = WalkForwardPeriod
    fields = ("index", "train_start", "train_end", "test_start", "test_end", "parameters", "degradation")
    readonly_fields = fields
    max_num = 0


@admin.register(WalkForwardRun)
class WalkForwardRunAdmin(LifecycleRunAdmin):
    """Start a walk-forward from the add form (it is queued on save); watch its status and periods."""

    form = WalkForwardRunForm
    list_display = ("id", "strategy", "timeframe", "start", "end", "train_months", "test_months", "objective",
                    "status_display", "created_at")
    list_filter = ("status", "strategy", "objective")
    search_fields = ("strategy", "error")
    date_hierarchy = "created_at"
    input_fields = ("strategy", "symbols", "timeframe", "start", "end", "train_months", "test_months", "objective",
                    "holdout_fraction", "settings", "seed")
    result_fields = ("status", "error", "task_id", "created_at", "started_at", "finished_at", "charts",
                     "final_parameters", "heatmap_link", "holdout_view", "summary_view")
    inlines = [PeriodInline]
    actions = ["retry_runs"]

    @admin.display(description="status", ordering="status")
    def status_display(self, obj):
        return status_badge(obj)

    def get_fields(self, request, obj=None):
        return list(self.input_fields) if obj is None else [*self.input_fields, *self.result_fields]

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else (*self.input_fields, *self.result_fields)

    queued_message = "Walk-forward #{pk} queued."

    @admin.display(description="charts")
    def charts(self, obj):
        """The walk-forward windows on a timeline, train against test Sharpe, the objective around the choice."""
        periods = [{key: (value.isoformat() if hasattr(value, "isoformat") else value) for key, value in row.items()}
                   for row in obj.periods.order_by("index").values("index", "train_start", "train_end", "test_start",
                                                                   "test_end", "train_metrics", "test_metrics")]
        figures = [(charts.walkforward_timeline_figure(periods), "wf-timeline"),
                   (charts.walkforward_sharpe_figure(periods), "wf-sharpe"),
                   (charts.neighbourhood_figure((obj.summary or {}).get("neighbourhood"), obj.final_parameters),
                    "wf-neighbourhood")]
        return admin_charts_html(figures) or "no periods yet"

    @admin.display(description="holdout")
    def holdout_view(self, obj):
        h = obj.holdout_metrics or {}
        if not h:
            return "not evaluated yet"
        rows = [("Return", pct(h.get("total_return"), 2)), ("Sharpe", num(h.get("sharpe"))),
                ("Max drawdown", pct(h.get("max_drawdown"), 2)), ("Positions (legs)",
                                                                  f"{h.get('n_trades')} ({h.get('n_legs')})"),
                ("Win rate (per position)", pct(h.get("win_rate"))),
                ("Locked holdout", f"{pct(h.get('fraction'), 0)}; evaluated {h.get('evaluations')} times, "
                                   f"{h.get('configurations')} configuration(s)"
                                   + (": CONTAMINATED" if h.get("contaminated") else "")),
                ("On price-only fallback", pct((h.get("data_coverage") or {}).get("fallback_share"), 0))]
        return format_html_join_rows(rows) + folded_json(h)

    @admin.display(description="summary")
    def summary_view(self, obj):
        summary = obj.summary or {}
        if not summary:
            return "-"
        stability = summary.get("stability") or {}
        edge = summary.get("edge") or {}
        rows = [("Research range", f"{str(summary.get('research_start'))[:10]} .. {str(summary.get('research_end'))[:10]}"),
                ("Holdout range", f"{str(summary.get('holdout_start'))[:10]} .. {str(summary.get('holdout_end'))[:10]}"),
                ("Test periods profitable", f"{pct(stability.get('share_profitable_test'), 0)} of "
                                            f"{stability.get('n_periods_with_data', stability.get('n_periods'))}"),
                ("Parameter sets tried (final search)", summary.get("n_trials_final")),
                ("PBO", num((edge.get("pbo") or {}).get("pbo"))),
                ("Permutation p (holdout)", num((edge.get("permutation") or {}).get("p_value"), 3)),
                ("SPA p / Reality Check p", f"{num((edge.get('spa') or {}).get('spa_pvalue'), 3)} / "
                                            f"{num((edge.get('spa') or {}).get('reality_check_pvalue'), 3)}"),
                ("Parameters with no effect", ", ".join((summary.get("parameter_effects") or {}).get("no_effect")
                                                        or []) or "none")]
        notes = summary.get("notes") or []
        html = format_html_join_rows(rows)
        if notes:
            html += format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((note,) for note in notes)))
        return html + folded_json(summary)

    @admin.display(description="parameter heat map")
    def heatmap_link(self, obj):
        if obj.status != "succeeded":
            return "after the run has succeeded"
        return format_html('<a href="{}">the objective over any two parameters</a> (on the research range)',
                           reverse("admin:analytics_walkforwardrun_heatmap", args=[obj.pk]))

    def get_urls(self):
        return [path("<int:pk>/heatmap/", self.admin_site.admin_view(self.heatmap_view),
                     name="analytics_walkforwardrun_heatmap"), *super().get_urls()]

    def heatmap_view(self, request, pk: int):
        run = get_object_or_404(WalkForwardRun, pk=pk)
        form = HeatmapForm(run, request.POST or None)
        if request.method == "POST" and form.is_valid():
            params = {"walkforward_id": run.pk, "x": form.cleaned_data["x"], "y": form.cleaned_data["y"]}
            with transaction.atomic():
                job = job_create(kind="parameter_heatmap", params=params, user=request.user)
            messages.info(request, f"Heat map job #{job.pk} queued; its page shows the chart when it has run.")
            return redirect(reverse("admin:backtests_researchjob_change", args=[job.pk]))
        context = {**self.admin_site.each_context(request), "form": form, "opts": self.model._meta,
                   "title": f"Parameter heat map of walk-forward #{run.pk} ({run.strategy})"}
        return TemplateResponse(request, "admin/backtests/start_form.html", context)

    @admin.action(description="Retry the selected failed or stale walk-forward runs")
    def retry_runs(self, request, queryset):
        retry_selected(self, request, queryset, noun="run")


@admin.register(WalkForwardPeriod)
class WalkForwardPeriodAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("run", "index", "train_start", "train_end", "test_start", "test_end", "degradation")
    list_filter = ("run__strategy",)
    search_fields = ("run__strategy",)
    date_hierarchy = "test_start"
    list_select_related = ("run",)


@admin.register(HoldoutLock)
class HoldoutLockAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Locked holdouts are read-only: an evaluation count cannot be reset by hand."""

    list_display = ("strategy", "holdout_start", "holdout_end", "fraction_held_out", "evaluations",
                    "configurations", "contaminated", "dataset_key", "last_evaluated_at")
    list_filter = ("strategy",)
    search_fields = ("strategy", "dataset_key")
    date_hierarchy = "created_at"

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(boolean=True)
    def contaminated(self, obj):
        return obj.contaminated

    @admin.display(description="configurations seen")
    def configurations(self, obj):
        return obj.configuration_count

    @admin.display(description="fraction", ordering="fraction")
    def fraction_held_out(self, obj):
        return f"{obj.fraction:.0%}"


@admin.register(StressEvent)
class StressEventAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "start", "end", "warmup_days")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    date_hierarchy = "start"


class HeatmapForm(forms.Form):
    """Two parameters of the run's strategy; the service checks the rest (grid size, run status)."""

    def __init__(self, run: WalkForwardRun, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.run = run
        choices = [(name, f"{name} ({len(param.grid())} values)")
                   for name, param in get_strategy(run.strategy).parameters.items()]
        self.fields["x"] = forms.ChoiceField(choices=choices, label="columns (x)")
        self.fields["y"] = forms.ChoiceField(choices=choices, label="rows (y)",
                                             initial=choices[1][0] if len(choices) > 1 else None)

    def clean(self):
        cleaned = super().clean()
        try:
            services.check_heatmap_request(self.run, cleaned.get("x", ""), cleaned.get("y", ""))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return cleaned
