from django.contrib import admin

from analytics.models import HoldoutLock, StressEvent, WalkForwardPeriod, WalkForwardRun
from interfaces.admin.analytics_forms import WalkForwardRunForm
from interfaces.admin.backtests import LifecycleRunAdmin, retry_selected, status_badge
from interfaces.admin.mixins import ReadOnlyAdminMixin, ReadOnlyTabularInline


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
    result_fields = ("status", "error", "task_id", "created_at", "started_at", "finished_at", "final_parameters",
                     "holdout_metrics", "summary")
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
