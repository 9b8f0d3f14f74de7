"""django-filter FilterSets for the API lists."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField

from backtests.models import BacktestConfig, BacktestTrade, ResearchJob


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time normalised to UTC: any valid offset works (PostgreSQL refuses offsets beyond
    +/-15:59 when they reach it as such), and a value that cannot be expressed in UTC is a 400."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return value
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValidationError("date-time out of range", code="overflow") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class SymbolFilterMixin:
    def filter_symbol(self, queryset, name, value):
        # Symbols are stored as a JSON list; match the quoted symbol so "OP" does not match "OPX".
        return queryset.filter(symbols__icontains=f'"{value.strip().upper()}"')


class BacktestConfigFilter(SymbolFilterMixin, django_filters.FilterSet):
    strategy = django_filters.CharFilter()
    status = django_filters.CharFilter()
    purpose = django_filters.CharFilter()
    timeframe = django_filters.CharFilter()
    symbol = django_filters.CharFilter(method="filter_symbol")
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
    start_after = UtcDateTimeFilter(field_name="start", lookup_expr="gte")
    end_before = UtcDateTimeFilter(field_name="end", lookup_expr="lte")

    class Meta:
        model = BacktestConfig
        fields = ["strategy", "status", "purpose", "timeframe"]


class BacktestTradeFilter(django_filters.FilterSet):
    symbol = django_filters.CharFilter()
    exit_reason = django_filters.CharFilter()
    entry_after = UtcDateTimeFilter(field_name="entry_time", lookup_expr="gte")
    entry_before = UtcDateTimeFilter(field_name="entry_time", lookup_expr="lt")

    class Meta:
        model = BacktestTrade
        fields = ["symbol", "exit_reason", "is_partial", "side"]


class ResearchJobFilter(django_filters.FilterSet):
    kind = django_filters.CharFilter()
    status = django_filters.CharFilter()
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = ResearchJob
        fields = ["kind", "status"]
