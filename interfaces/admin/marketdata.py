from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path

from interfaces.admin.mixins import ReadOnlyAdminMixin
from marketdata.models import Candle, IndicatorValue, OnchainMetric, SentimentIndex, SocialMetric


@admin.register(Candle)
class CandleAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("symbol", "timeframe", "open_time", "open", "high", "low", "close", "volume", "source")
    list_filter = ("timeframe", "source", "symbol")
    search_fields = ("symbol",)
    date_hierarchy = "open_time"
    show_full_result_count = False  # COUNT(*) over millions of candles is slow
    change_list_template = "admin/marketdata/candle/change_list.html"  # adds a "Data quality" button

    def get_urls(self):
        view = self.admin_site.admin_view(self.data_quality_view)
        return [path("data-quality/", view, name="marketdata_candle_data_quality"), *super().get_urls()]

    def data_quality_view(self, request):
        """The data-quality report (``quality_services.data_quality_report``) for ?symbols=&timeframe=."""
        from marketdata.quality_services import data_quality_report
        from marketdata.timeframes import TIMEFRAMES

        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        symbols = [s for s in request.GET.get("symbols", "").split(",") if s.strip()] or None
        timeframe = request.GET.get("timeframe") or None
        if timeframe not in TIMEFRAMES:
            timeframe = None
        report = data_quality_report(symbols=symbols, timeframe=timeframe)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": "Data quality",
                   "report": report, "symbols": ",".join(symbols or []), "timeframe": timeframe or "",
                   "timeframes": list(TIMEFRAMES)}
        return TemplateResponse(request, "admin/marketdata/data_quality.html", context)


@admin.register(IndicatorValue)
class IndicatorValueAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("symbol", "timeframe", "open_time", "indicator", "params", "output", "value")
    list_filter = ("timeframe", "indicator", "symbol")
    search_fields = ("symbol", "indicator")
    date_hierarchy = "open_time"
    show_full_result_count = False


def _usd(value: float | None) -> str:
    """$2.88B, $431.2M, $20.1k: money at a glance (the exact value is on the row's page)."""
    if value is None:
        return "-"
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"${value / size:,.2f}{suffix}"
    return f"${value:,.2f}"


def _money(field: str, label: str):
    def show(obj) -> str:
        return _usd(getattr(obj, field))
    show.short_description = label
    show.admin_order_field = field
    return show


def _rate(field: str, label: str):
    def show(obj) -> str:
        value = getattr(obj, field)
        return "-" if value is None else f"{value:.2%}"
    show.short_description = label
    show.admin_order_field = field
    return show


@admin.register(OnchainMetric)
class OnchainMetricAdmin(admin.ModelAdmin):
    # The columns that fit at 1400 px; revenue, borrows and the borrow APY are on each row's page.
    list_display = ("protocol", "date", "source", _money("tvl", "TVL"), _money("fees", "fees/day"),
                    _money("supply", "supply"), _money("market_cap", "market cap"), _rate("supply_apy", "supply APY"))
    ordering = ("protocol", "-date")
    list_filter = ("source", "protocol")
    search_fields = ("protocol",)
    date_hierarchy = "date"


@admin.register(SocialMetric)
class SocialMetricAdmin(admin.ModelAdmin):
    list_display = ("token", "timestamp", "sentiment", "social_volume", "mentions", "galaxy_score", "source")
    list_filter = ("source", "token")
    search_fields = ("token",)
    date_hierarchy = "timestamp"


@admin.register(SentimentIndex)
class SentimentIndexAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("index", "date", "value", "classification", "source")
    ordering = ("index", "-date")
    list_filter = ("index", "source", "classification")
    date_hierarchy = "date"
