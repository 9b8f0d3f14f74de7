from django.contrib import admin

from backtests.models import BacktestConfig, BacktestMetric, BacktestTrade
from marketdata.admin_mixins import ReadOnlyAdminMixin, ReadOnlyTabularInline


class TradeInline(ReadOnlyTabularInline):
    model = BacktestTrade
    fields = ("symbol", "side", "entry_time", "entry_price", "exit_time", "exit_price", "quantity",
              "fees", "slippage_cost", "pnl", "exit_reason", "is_partial")
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
class BacktestConfigAdmin(admin.ModelAdmin):
    list_display = ("id", "strategy", "timeframe", "start", "end", "status", "purpose", "total_return",
                    "sharpe_ratio", "max_drawdown", "win_rate", "num_trades", "created_at")
    list_filter = ("status", "strategy", "purpose", "timeframe")
    search_fields = ("name", "strategy", "error")
    date_hierarchy = "created_at"
    readonly_fields = ("status", "error", "task_id", "attempts", "created_at", "started_at", "finished_at",
                       "summary", "total_return", "cagr", "sharpe_ratio", "sortino_ratio", "calmar_ratio",
                       "max_drawdown", "win_rate", "profit_factor", "num_trades", "final_equity", "data_hash",
                       "code_version", "data_quality_score", "annualization")
    inlines = [TradeInline, MetricInline]


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
