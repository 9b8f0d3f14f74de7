from django.contrib import admin

from marketdata.admin_mixins import ReadOnlyAdminMixin
from marketdata.models import Candle, IndicatorValue, OnchainMetric, SocialMetric


@admin.register(Candle)
class CandleAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("symbol", "timeframe", "open_time", "open", "high", "low", "close", "volume", "source")
    list_filter = ("timeframe", "source", "symbol")
    search_fields = ("symbol",)
    date_hierarchy = "open_time"
    show_full_result_count = False  # COUNT(*) over millions of candles is slow


@admin.register(IndicatorValue)
class IndicatorValueAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("symbol", "timeframe", "open_time", "indicator", "params", "output", "value")
    list_filter = ("timeframe", "indicator", "symbol")
    search_fields = ("symbol", "indicator")
    date_hierarchy = "open_time"
    show_full_result_count = False


@admin.register(OnchainMetric)
class OnchainMetricAdmin(admin.ModelAdmin):
    list_display = ("protocol", "date", "tvl", "volume", "fees", "revenue", "supply", "source")
    list_filter = ("source", "protocol")
    search_fields = ("protocol",)
    date_hierarchy = "date"


@admin.register(SocialMetric)
class SocialMetricAdmin(admin.ModelAdmin):
    list_display = ("token", "timestamp", "sentiment", "social_volume", "mentions", "galaxy_score", "source")
    list_filter = ("source", "token")
    search_fields = ("token",)
    date_hierarchy = "timestamp"
