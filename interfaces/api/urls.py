"""URLs under /api/v1/backtesting/: backtest runs and jobs, and the research analyses."""

from django.urls import include, path, re_path
from rest_framework.routers import DefaultRouter

from interfaces.api import analytics, backtests

router = DefaultRouter()
router.trailing_slash = "/?"  # every URL works with or without its trailing slash (the routes read it lazily)
router.register("configs", backtests.BacktestConfigViewSet, basename="backtest-config")
router.register("jobs", backtests.ResearchJobViewSet, basename="research-job")
router.register("walkforward-runs", analytics.WalkForwardRunViewSet, basename="walkforward-run")
router.register("strategies", analytics.StrategyViewSet, basename="strategy")
router.register("stress-events", analytics.StressEventViewSet, basename="stress-event")
router.register("holdout-locks", analytics.HoldoutLockViewSet, basename="holdout-lock")

urlpatterns = [
    re_path(r"^ingest-data/?$", backtests.IngestDataView.as_view(), name="ingest-data"),
    re_path(r"^run/?$", backtests.BacktestRunView.as_view(), name="backtest-run"),
    re_path(r"^configs/(?P<pk>[0-9]+)/trades/?$", backtests.ConfigTradesView.as_view(), name="backtest-config-trades"),
    re_path(r"^configs/(?P<pk>[0-9]+)/metrics/?$", backtests.ConfigMetricsView.as_view(), name="backtest-config-metrics"),
    re_path(r"^walkforward/?$", analytics.WalkForwardStartView.as_view(), name="walkforward-start"),
    re_path(r"^research/?$", analytics.ResearchView.as_view(), name="research"),
    re_path(r"^montecarlo/?$", analytics.MonteCarloView.as_view(), name="montecarlo"),
    re_path(r"^stress-tests/?$", analytics.StressTestView.as_view(), name="stress-tests"),
    re_path(r"^capacity/?$", analytics.CapacityView.as_view(), name="capacity"),
    re_path(r"^lookahead/?$", analytics.LookaheadView.as_view(), name="lookahead"),
    re_path(r"^parameter-heatmap/?$", analytics.ParameterHeatmapView.as_view(), name="parameter-heatmap"),
    re_path(r"^data-quality/?$", analytics.DataQualityView.as_view(), name="data-quality"),
    re_path(r"^data-quality/latest/?$", analytics.DataQualityLatestView.as_view(), name="data-quality-latest"),
    path("", include(router.urls)),
]
