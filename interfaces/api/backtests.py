"""REST API v1 for backtesting: thin views over the services (input serializer -> service -> output)."""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework_csv.renderers import CSVRenderer

from backtests import jobs, services
from backtests.models import BacktestConfig, BacktestMetric, BacktestTrade, ResearchJob
from core.jsonsafe import json_safe
from interfaces.api.backtest_serializers import (
    BacktestConfigDetailSerializer,
    BacktestConfigSerializer,
    BacktestMetricSerializer,
    BacktestRequestSerializer,
    BacktestTradeSerializer,
    IngestRequestSerializer,
    ResearchJobSerializer,
)
from interfaces.api.filters import BacktestConfigFilter, BacktestTradeFilter, ResearchJobFilter
from interfaces.api.permissions import CanStartWork, OwnedQuerysetMixin, visible_to


class AcceptedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    status_url = serializers.URLField()


def accepted(request, *, pk: int, state: str, view_name: str) -> Response:
    url = reverse(view_name, args=[pk], request=request)
    return Response({"id": pk, "status": state, "status_url": url}, status=status.HTTP_202_ACCEPTED,
                    headers={"Location": url})


class WriteView(APIView):
    permission_classes = [CanStartWork]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "write"


class JobStartView(WriteView):
    """Base for endpoints that queue a ResearchJob of one kind from a validated request."""

    kind: str = ""
    request_serializer: type[serializers.Serializer] = serializers.Serializer

    def post(self, request):
        serializer = self.request_serializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            job = jobs.job_create(kind=self.kind, params=json_safe(serializer.validated_data), user=request.user)
        return accepted(request, pk=job.pk, state=job.status, view_name="research-job-detail")


class IngestDataView(JobStartView):
    """Queue a candle ingestion (symbols, timeframe, start, end, source)."""

    kind = "ingest_ohlcv"
    request_serializer = IngestRequestSerializer

    @extend_schema(request=IngestRequestSerializer, responses={202: AcceptedSerializer})
    def post(self, request):
        return super().post(request)


class BacktestRunView(WriteView):
    """Queue a backtest; answers 202 with the URL of the run, whose status moves to succeeded or failed."""

    @extend_schema(request=BacktestRequestSerializer, responses={202: AcceptedSerializer})
    def post(self, request):
        serializer = BacktestRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            config = services.backtest_create(**serializer.validated_data, user=request.user)
        return accepted(request, pk=config.pk, state=config.status, view_name="backtest-config-detail")


class BacktestConfigViewSet(OwnedQuerysetMixin, viewsets.ReadOnlyModelViewSet):
    """Backtest runs with their status and headline results; trades and metric snapshots per run."""

    queryset = BacktestConfig.objects.all()
    filterset_class = BacktestConfigFilter
    permission_classes = [CanStartWork]

    def get_serializer_class(self):
        return BacktestConfigDetailSerializer if self.action == "retrieve" else BacktestConfigSerializer


class CsvExportMixin:
    """``?format=csv`` answers the whole (filtered) list as one CSV file, unpaginated; JSON stays paginated."""

    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CSVRenderer]

    def paginate_queryset(self, queryset):
        if getattr(self.request.accepted_renderer, "format", "") == "csv":
            return None
        return super().paginate_queryset(queryset)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if getattr(request.accepted_renderer, "format", "") == "csv" and response.status_code == 200:
            response["Content-Disposition"] = f'attachment; filename="{self.csv_name}-{self.kwargs["pk"]}.csv"'
        return response


class ConfigTradesView(CsvExportMixin, generics.ListAPIView):
    """The trade legs of one run (filterable by symbol, exit reason, entry time); ``?format=csv`` for a file."""

    csv_name = "trades"
    serializer_class = BacktestTradeSerializer
    filterset_class = BacktestTradeFilter
    permission_classes = [CanStartWork]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return BacktestTrade.objects.none()
        config = get_object_or_404(visible_to(BacktestConfig.objects.all(), self.request.user), pk=self.kwargs["pk"])
        return config.trades.all()


class ConfigMetricsView(CsvExportMixin, generics.ListAPIView):
    """The metric snapshots (equity, cash, drawdown, exposure, heat) of one run, bar by bar; ``?format=csv``
    for a file."""

    csv_name = "metrics"
    serializer_class = BacktestMetricSerializer
    filterset_class = None
    permission_classes = [CanStartWork]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return BacktestMetric.objects.none()
        config = get_object_or_404(visible_to(BacktestConfig.objects.all(), self.request.user), pk=self.kwargs["pk"])
        return config.metrics.all()


class ResearchJobViewSet(OwnedQuerysetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        viewsets.GenericViewSet):
    """Status of any queued job: pending -> running -> succeeded | failed (with the error)."""

    queryset = ResearchJob.objects.all()
    serializer_class = ResearchJobSerializer
    filterset_class = ResearchJobFilter
