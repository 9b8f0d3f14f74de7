"""URLs under /api/v1/backtesting/."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from backtests import api

router = DefaultRouter(trailing_slash=False)
router.register("configs", api.BacktestConfigViewSet, basename="backtest-config")
router.register("jobs", api.ResearchJobViewSet, basename="research-job")

urlpatterns = [
    path("ingest-data", api.IngestDataView.as_view(), name="ingest-data"),
    path("run", api.BacktestRunView.as_view(), name="backtest-run"),
    path("configs/<int:pk>/trades", api.ConfigTradesView.as_view(), name="backtest-config-trades"),
    path("configs/<int:pk>/metrics", api.ConfigMetricsView.as_view(), name="backtest-config-metrics"),
    path("", include(router.urls)),
]
