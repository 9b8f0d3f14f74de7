"""URLs under /api/v1/backtesting/: backtest runs and jobs, and the research analyses."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from interfaces.api import analytics, backtests

router = DefaultRouter(trailing_slash=False)
router.register("configs", backtests.BacktestConfigViewSet, basename="backtest-config")
router.register("jobs", backtests.ResearchJobViewSet, basename="research-job")
router.register("walkforward-runs", analytics.WalkForwardRunViewSet, basename="walkforward-run")
router.register("strategies", analytics.StrategyViewSet, basename="strategy")
router.register("stress-events", analytics.StressEventViewSet, basename="stress-event")
router.register("holdout-locks", analytics.HoldoutLockViewSet, basename="holdout-lock")

urlpatterns = [
    path("ingest-data", backtests.IngestDataView.as_view(), name="ingest-data"),
    path("run", backtests.BacktestRunView.as_view(), name="backtest-run"),
    path("configs/<int:pk>/trades", backtests.ConfigTradesView.as_view(), name="backtest-config-trades"),
    path("configs/<int:pk>/metrics", backtests.ConfigMetricsView.as_view(), name="backtest-config-metrics"),
    path("walkforward", analytics.WalkForwardStartView.as_view(), name="walkforward-start"),
    path("montecarlo", analytics.MonteCarloView.as_view(), name="montecarlo"),
    path("stress-tests", analytics.StressTestView.as_view(), name="stress-tests"),
    path("lookahead", analytics.LookaheadView.as_view(), name="lookahead"),
    path("data-quality", analytics.DataQualityView.as_view(), name="data-quality"),
    path("data-quality/latest", analytics.DataQualityLatestView.as_view(), name="data-quality-latest"),
    path("", include(router.urls)),
]
