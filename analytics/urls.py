"""Research analyses under /api/v1/backtesting/."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from analytics import api

router = DefaultRouter(trailing_slash=False)
router.include_root_view = False
router.register("walkforward-runs", api.WalkForwardRunViewSet, basename="walkforward-run")
router.register("strategies", api.StrategyViewSet, basename="strategy")
router.register("stress-events", api.StressEventViewSet, basename="stress-event")
router.register("holdout-locks", api.HoldoutLockViewSet, basename="holdout-lock")

urlpatterns = [
    path("walkforward", api.WalkForwardStartView.as_view(), name="walkforward-start"),
    path("montecarlo", api.MonteCarloView.as_view(), name="montecarlo"),
    path("stress-tests", api.StressTestView.as_view(), name="stress-tests"),
    path("lookahead", api.LookaheadView.as_view(), name="lookahead"),
    path("data-quality", api.DataQualityView.as_view(), name="data-quality"),
    path("data-quality/latest", api.DataQualityLatestView.as_view(), name="data-quality-latest"),
    path("", include(router.urls)),
]
