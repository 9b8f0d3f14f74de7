from django.contrib import admin

from analytics.models import StressEvent, WalkForwardPeriod, WalkForwardRun
from marketdata.admin_mixins import ReadOnlyAdminMixin, ReadOnlyTabularInline


class PeriodInline(ReadOnlyTabularInline):
    model = WalkForwardPeriod
    fields = ("index", "train_start", "train_end", "test_start", "test_end", "parameters", "degradation")
    readonly_fields = fields
    max_num = 0


@admin.register(WalkForwardRun)
class WalkForwardRunAdmin(admin.ModelAdmin):
    list_display = ("id", "strategy", "timeframe", "start", "end", "train_months", "test_months", "objective",
                    "status", "created_at")
    list_filter = ("status", "strategy", "objective")
    search_fields = ("strategy", "error")
    date_hierarchy = "created_at"
    readonly_fields = ("status", "error", "task_id", "created_at", "started_at", "finished_at", "summary")
    inlines = [PeriodInline]


@admin.register(WalkForwardPeriod)
class WalkForwardPeriodAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("run", "index", "train_start", "train_end", "test_start", "test_end", "degradation")
    list_filter = ("run__strategy",)
    search_fields = ("run__strategy",)
    date_hierarchy = "test_start"
    list_select_related = ("run",)


@admin.register(StressEvent)
class StressEventAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "start", "end", "warmup_days")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    date_hierarchy = "start"
