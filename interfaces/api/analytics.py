"""REST API v1 for research analyses: walk-forward, Monte Carlo, stress tests, look-ahead, data quality,
strategies. Work is queued (202 + status URL); reads are paginated."""

from __future__ import annotations

import django_filters
from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import services
from analytics.models import HoldoutLock, StressEvent, WalkForwardRun
from backtests.models import ResearchJob, RunStatus
from interfaces.api.analytics_serializers import (
    CapacityRequestSerializer,
    DataQualityRequestSerializer,
    HoldoutLockSerializer,
    LookaheadRequestSerializer,
    MonteCarloRequestSerializer,
    ParameterHeatmapRequestSerializer,
    ResearchRequestSerializer,
    StrategySerializer,
    StressEventSerializer,
    StressTestRequestSerializer,
    WalkForwardRunDetailSerializer,
    WalkForwardRunSerializer,
)
from interfaces.api.backtest_serializers import ResearchJobSerializer, WalkForwardRequestSerializer
from interfaces.api.backtests import AcceptedSerializer, JobStartView, WriteView, accepted
from interfaces.api.filters import UtcDateTimeFilter
from interfaces.api.permissions import CanStartWork, OwnedQuerysetMixin, visible_to


class WalkForwardFilter(django_filters.FilterSet):
    strategy = django_filters.CharFilter()
    status = django_filters.CharFilter()
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = WalkForwardRun
        fields = ["strategy", "status", "timeframe"]


class WalkForwardStartView(WriteView):
    """Queue a walk-forward analysis (train/test windows, optimisation, locked holdout)."""

    @extend_schema(request=WalkForwardRequestSerializer, responses={202: AcceptedSerializer})
    def post(self, request):
        serializer = WalkForwardRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("parameters", None)  # the walk-forward searches the strategy's declared ranges
        data.pop("name", None)
        with transaction.atomic():
            run = services.walkforward_create(**data, user=request.user)
        return accepted(request, pk=run.pk, state=run.status, view_name="walkforward-run-detail")


class WalkForwardRunViewSet(OwnedQuerysetMixin, viewsets.ReadOnlyModelViewSet):
    queryset = WalkForwardRun.objects.all()
    filterset_class = WalkForwardFilter
    permission_classes = [CanStartWork]

    def get_queryset(self):
        queryset = super().get_queryset()
        return queryset.prefetch_related("periods") if self.action == "retrieve" else queryset

    def get_serializer_class(self):
        return WalkForwardRunDetailSerializer if self.action == "retrieve" else WalkForwardRunSerializer


class JobListMixin:
    """GET lists the jobs of this endpoint's kind (newest first); POST queues a new one."""

    def get(self, request):
        queryset = visible_to(ResearchJob.objects.filter(kind=self.kind), request.user)
        status_filter = request.query_params.get("status")
        if status_filter:
            queryset = queryset.filter(status=status_filter)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(ResearchJobSerializer(page, many=True, context={"request": request}).data)


def _job_endpoint(kind: str, request_serializer: type[serializers.Serializer], doc: str) -> type:
    from rest_framework.settings import api_settings

    view = type(f"{kind.title().replace('_', '')}JobView", (JobListMixin, JobStartView), {
        "kind": kind, "request_serializer": request_serializer, "__doc__": doc,
        "pagination_class": api_settings.DEFAULT_PAGINATION_CLASS,
    })
    # New functions per view: extend_schema marks the function it wraps, and the inherited post/get are shared
    # by every job endpoint (marking them would give all of them the last endpoint's request body).
    def post(self, request):
        return JobStartView.post(self, request)

    def get(self, request):
        return JobListMixin.get(self, request)

    view.post = extend_schema(request=request_serializer, responses={202: AcceptedSerializer})(post)
    view.get = extend_schema(responses=ResearchJobSerializer(many=True))(get)
    return view


ResearchView = _job_endpoint("research", ResearchRequestSerializer,
                             "The full research run: walk-forward, holdout, Monte Carlo, stress, edge tests, portfolio, "
                             "scorecard and report (with cluster=true its walk-forwards fan out over the cluster).")
MonteCarloView = _job_endpoint("montecarlo", MonteCarloRequestSerializer,
                               "Monte Carlo of a succeeded backtest's trades (shuffle and bootstrap).")
StressTestView = _job_endpoint("stress_test", StressTestRequestSerializer,
                               "A strategy through the historical stress windows (COVID, LUNA, FTX, SVB).")
CapacityView = _job_endpoint("capacity", CapacityRequestSerializer,
                             "Sharpe ratio and return against starting capital under the volume-share cost model "
                             "(square-root impact, a cap on each fill's share of the bar's volume).")
LookaheadView = _job_endpoint("lookahead", LookaheadRequestSerializer,
                              "Look-ahead analysis: re-run on data cut after sampled signals and compare.")
ParameterHeatmapView = _job_endpoint("parameter_heatmap", ParameterHeatmapRequestSerializer,
                                     "The objective over the full grid of any two parameters of a walk-forward's "
                                     "strategy, the others at its chosen values, on its research range.")
DataQualityView = _job_endpoint("data_quality", DataQualityRequestSerializer,
                                "Data-quality report: gaps, duplicates, OHLC sanity, outliers, scores.")


class DataQualityLatestView(APIView):
    """The most recent data-quality report (queue a new one with POST /data-quality)."""

    permission_classes = [CanStartWork]

    @extend_schema(responses=ResearchJobSerializer)
    def get(self, request):
        job = ResearchJob.objects.filter(kind="data_quality", status=RunStatus.SUCCEEDED).first()
        if job is None:
            return Response({"detail": "no data-quality report yet: POST /api/v1/backtesting/data-quality"},
                            status=status.HTTP_404_NOT_FOUND)
        return Response(ResearchJobSerializer(job, context={"request": request}).data)


class StrategyViewSet(viewsets.ViewSet):
    """The registered strategies with their parameters (defaults and search ranges)."""

    permission_classes = [CanStartWork]
    lookup_field = "name"

    @extend_schema(operation_id="backtesting_strategies_list", responses={200: StrategySerializer(many=True)})
    def list(self, request):
        from strategies.registry import describe_all

        return Response(describe_all())

    @extend_schema(operation_id="backtesting_strategies_retrieve", responses={200: StrategySerializer},
                   parameters=[OpenApiParameter("name", str, OpenApiParameter.PATH, description="strategy name")])
    def retrieve(self, request, name=None):
        from strategies.registry import STRATEGIES, describe_strategy

        if name not in STRATEGIES:
            return Response({"detail": f"unknown strategy {name!r}"}, status=status.HTTP_404_NOT_FOUND)
        return Response(describe_strategy(STRATEGIES[name]))


class StressEventViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = StressEvent.objects.all()
    serializer_class = StressEventSerializer
    permission_classes = [CanStartWork]
    lookup_field = "slug"


class HoldoutLockViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Locked holdouts (one per strategy) with their evaluation counts and the configurations seen on them."""

    queryset = HoldoutLock.objects.all()
    serializer_class = HoldoutLockSerializer
    permission_classes = [CanStartWork]
    filterset_fields = ["strategy"]
