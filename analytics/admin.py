from django.contrib import admin, messages
from django.db import transaction

from analytics.forms import WalkForwardRunForm
from analytics.models import HoldoutLock, StressEvent, WalkForwardPeriod, WalkForwardRun
from backtests.admin import status_badge
from marketdata.admin_mixins import ReadOnlyAdminMixin, ReadOnlyTabularInline


class PeriodInline(ReadOnlyTabularInline):
    model = WalkForwardPeriod
    fields = ("index", "train_start", "train_end", "test_start", "test_end", "parameters", "degradation")
    readonly_fields = fields
    max_num = 0


@admin.register(WalkForwardRun)
class WalkForwardRunAdmin(admin.ModelAdmin):
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

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_model(self, request, obj, form, change):
        from analytics.services import walkforward_enqueue
        super().save_model(request, obj, form, change)
        if not change:
            transaction.on_commit(lambda: walkforward_enqueue(obj.pk))
            messages.info(request, f"Walk-forward #{obj.pk} queued.")

    @admin.action(description="Retry the selected failed walk-forward runs")
    def retry_runs(self, request, queryset):
        from analytics.services import walkforward_enqueue

        runs = list(queryset.exclude(status="succeeded"))
        for run in runs:
            WalkForwardRun.objects.filter(pk=run.pk).update(status="pending", error="")
            transaction.on_commit(lambda pk=run.pk: walkforward_enqueue(pk))
        self.message_user(request, f"{len(runs)} run(s) queued again.")


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

    list_display = ("strategy", "dataset_key", "holdout_start", "holdout_end", "evaluations", "contaminated",
                    "last_evaluated_at")
    list_filter = ("strategy",)
    search_fields = ("strategy", "dataset_key")
    date_hierarchy = "created_at"

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(boolean=True)
    def contaminated(self, obj):
        return obj.contaminated


@admin.register(StressEvent)
class StressEventAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "start", "end", "warmup_days")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    date_hierarchy = "start"
