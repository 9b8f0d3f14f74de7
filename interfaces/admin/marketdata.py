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


@admin.register(OnchainMetric)
class OnchainMetricAdmin(admin.ModelAdmin):
    list_display = ("protocol", "date", "tvl", "fees", "revenue", "supply", "market_cap", "supply_apy", "borrow_apy",
                    "source")
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
    list_filter = ("index", "source", "classification")
    date_hierarchy = "date"
