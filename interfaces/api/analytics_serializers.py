"""API serializers for research analyses."""

from __future__ import annotations

from rest_framework import serializers

from analytics.models import HoldoutLock, StressEvent, WalkForwardPeriod, WalkForwardRun
from backtests.models import BacktestConfig, RunStatus
from interfaces.api.backtest_serializers import ErrorMessageField, PeriodMixin, SymbolListField
from interfaces.api.permissions import visible_to
from marketdata.timeframes import TIMEFRAMES
from strategies.registry import validated_parameters


class StrategyNameField(serializers.CharField):
    def to_internal_value(self, data):
        from strategies.registry import STRATEGIES

        value = super().to_internal_value(data)
        if value not in STRATEGIES:
            raise serializers.ValidationError(f"unknown strategy; expected one of {', '.join(sorted(STRATEGIES))}")
        return value


def validate_parameters(strategy: str, parameters: dict) -> dict:
    try:
        return validated_parameters(strategy, parameters)
    except ValueError as exc:
        raise serializers.ValidationError({"parameters": str(exc)}) from exc


class MonteCarloRequestSerializer(serializers.Serializer):
    config_id = serializers.IntegerField(min_value=1)
    iterations = serializers.IntegerField(min_value=10, max_value=100_000, default=1000)
    seed = serializers.IntegerField(min_value=0, max_value=2**32 - 1, default=42)
    drawdown_threshold = serializers.FloatField(min_value=0.01, max_value=1.0, default=0.20)

    def validate_config_id(self, value: int) -> int:
        request = self.context.get("request")
        runs = visible_to(BacktestConfig.objects.all(), request.user) if request else BacktestConfig.objects.all()
        config = runs.filter(pk=value).only("status").first()
        if config is None:
            raise serializers.ValidationError("no such backtest run")
        if config.status != RunStatus.SUCCEEDED:
            raise serializers.ValidationError(f"the run has status {config.status}; Monte Carlo needs a succeeded run")
        return value


class ResearchRequestSerializer(serializers.Serializer):
    """The full research run (what ``manage.py research`` does), queued as a job."""

    strategies = serializers.ListField(child=StrategyNameField(max_length=64), required=False, min_length=1,
                                       max_length=20, help_text="default: the five research strategies")
    max_trials = serializers.IntegerField(min_value=1, max_value=500, default=16)
    train_months = serializers.IntegerField(min_value=1, max_value=60, default=6)
    test_months = serializers.IntegerField(min_value=1, max_value=24, default=3)
    holdout_fraction = serializers.FloatField(default=0.3, help_text="0.2..0.5; a locked strategy accepts only "
                                                                      "its lock's fraction")
    mc_iterations = serializers.IntegerField(min_value=1, max_value=100_000, default=1000)
    permutations = serializers.IntegerField(min_value=0, max_value=10_000, default=100)
    seed = serializers.IntegerField(min_value=0, max_value=2**32 - 1, default=42)
    cluster = serializers.BooleanField(default=False, help_text="fan the walk-forwards out over the django-q2 "
                                                                "cluster: one task per strategy x period")

    def validate(self, attrs):
        from analytics import holdout
        from strategies.registry import RESEARCH_STRATEGIES

        try:
            holdout.check_fraction(attrs["holdout_fraction"])
            for name in attrs.get("strategies") or [cls.name for cls in RESEARCH_STRATEGIES]:
                holdout.refuse_fraction_change(name, attrs["holdout_fraction"])
        except ValueError as exc:
            raise serializers.ValidationError({"holdout_fraction": str(exc)}) from exc
        return attrs


class StressTestRequestSerializer(serializers.Serializer):
    strategy = StrategyNameField(max_length=64)
    parameters = serializers.DictField(required=False, default=dict)
    events = serializers.ListField(child=serializers.SlugField(), required=False, max_length=50)
    symbols = SymbolListField(required=False)
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAMES), required=False)

    def validate_events(self, value):
        known = set(StressEvent.objects.values_list("slug", flat=True))
        unknown = sorted(set(value) - known)
        if unknown:
            raise serializers.ValidationError(f"unknown events {unknown}; known: {sorted(known)}")
        return value

    def validate(self, attrs):
        attrs["parameters"] = validate_parameters(attrs["strategy"], attrs.get("parameters", {}))
        if "timeframe" not in attrs:
            from strategies.registry import get_strategy

            attrs["timeframe"] = get_strategy(attrs["strategy"]).timeframe
        return attrs


class LookaheadRequestSerializer(PeriodMixin, serializers.Serializer):
    strategy = StrategyNameField(max_length=64)
    parameters = serializers.DictField(required=False, default=dict)
    symbols = SymbolListField(required=False)
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAMES), required=False)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    sample = serializers.IntegerField(min_value=1, max_value=500, default=20,
                                      help_text="Signal bars to cut at (sample mode).")
    non_signal_sample = serializers.IntegerField(min_value=0, max_value=500, required=False,
                                                 help_text="Bars without a signal to cut at (default: sample).")
    mode = serializers.ChoiceField(choices=["sample", "replay"], default="sample",
                                   help_text="replay: re-run at every bar after the warm-up (slow, exhaustive).")
    seed = serializers.IntegerField(min_value=0, max_value=2**32 - 1, default=0)

    def validate(self, attrs):
        attrs = super().validate(attrs)
        attrs["parameters"] = validate_parameters(attrs["strategy"], attrs.get("parameters", {}))
        if "timeframe" not in attrs:
            from strategies.registry import get_strategy

            attrs["timeframe"] = get_strategy(attrs["strategy"]).timeframe
        return attrs


class CapacityRequestSerializer(PeriodMixin, serializers.Serializer):
    strategy = StrategyNameField(max_length=64)
    parameters = serializers.DictField(required=False, default=dict)
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAMES), required=False,
                                        help_text="Default: the strategy's own timeframe.")
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    capitals = serializers.ListField(
        child=serializers.FloatField(min_value=100.0, max_value=1e12), required=False, min_length=2, max_length=12,
        help_text="Starting capitals in USDT, strictly increasing (default 1e4, 1e5, 1e6, 1e7, 1e8).")

    def validate_capitals(self, value):
        if list(value) != sorted(set(value)):
            raise serializers.ValidationError("capitals must be strictly increasing")
        return value

    def validate(self, attrs):
        attrs = super().validate(attrs)
        attrs["parameters"] = validate_parameters(attrs["strategy"], attrs.get("parameters", {}))
        return attrs


class DataQualityRequestSerializer(serializers.Serializer):
    symbols = SymbolListField(required=False)
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAMES), required=False)


class WalkForwardPeriodSerializer(serializers.ModelSerializer):
    class Meta:
        model = WalkForwardPeriod
        exclude = ["run", "id"]


class WalkForwardRunSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="walkforward-run-detail")
    error = ErrorMessageField()

    class Meta:
        model = WalkForwardRun
        fields = ["id", "url", "strategy", "symbols", "timeframe", "start", "end", "train_months", "test_months",
                  "objective", "holdout_fraction", "settings", "seed", "status", "error", "created_at",
                  "started_at", "finished_at", "final_parameters", "holdout_metrics"]


class WalkForwardRunDetailSerializer(WalkForwardRunSerializer):
    periods = WalkForwardPeriodSerializer(many=True, read_only=True)

    class Meta(WalkForwardRunSerializer.Meta):
        fields = [*WalkForwardRunSerializer.Meta.fields, "summary", "periods"]


class StressEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = StressEvent
        fields = ["slug", "name", "start", "end", "warmup_days", "description"]


class HoldoutLockSerializer(serializers.ModelSerializer):
    contaminated = serializers.BooleanField(read_only=True,
                                            help_text="Results of more than one configuration were seen on it.")
    configurations = serializers.IntegerField(source="configuration_count", read_only=True)

    class Meta:
        model = HoldoutLock
        fields = ["strategy", "dataset_key", "holdout_start", "holdout_end", "fraction", "evaluations",
                  "configurations", "contaminated", "last_evaluated_at", "history"]


class StrategyParameterSerializer(serializers.Serializer):
    default = serializers.JSONField()
    low = serializers.JSONField()
    high = serializers.JSONField()
    step = serializers.JSONField(allow_null=True)
    kind = serializers.CharField()
    choices = serializers.ListField(child=serializers.JSONField(), allow_null=True)


class StrategySerializer(serializers.Serializer):
    """A registered strategy as ``strategies.registry.describe_strategy`` describes it (read-only)."""

    name = serializers.CharField()
    label = serializers.CharField()
    universe = serializers.ListField(child=serializers.CharField())
    timeframe = serializers.CharField()
    warmup_bars = serializers.IntegerField()
    needs_onchain = serializers.BooleanField()
    needs_social = serializers.BooleanField()
    regime_symbols = serializers.ListField(child=serializers.CharField())
    predicted_win_rate = serializers.FloatField(allow_null=True, help_text="Declared (Phase 0) win rate.")
    parameters = serializers.DictField(child=StrategyParameterSerializer(),
                                       help_text="Each parameter's default and search range.")
    grid_size = serializers.IntegerField(help_text="Parameter combinations in the full search grid.")
    summary = serializers.CharField()


class ParameterHeatmapRequestSerializer(serializers.Serializer):
    walkforward_id = serializers.IntegerField(help_text="A succeeded walk-forward: its chosen parameters fix the "
                                                        "others, its research range is evaluated (never the holdout).")
    x = serializers.CharField(max_length=64, help_text="A parameter of the strategy (the heat map's columns).")
    y = serializers.CharField(max_length=64, help_text="Another parameter (the rows).")

    def validate(self, attrs):
        from analytics.services import check_heatmap_request
        from interfaces.api.permissions import visible_to

        request = self.context.get("request")
        runs = WalkForwardRun.objects.all()
        run = (visible_to(runs, request.user) if request is not None else runs).filter(
            pk=attrs["walkforward_id"]).first()
        if run is None:
            raise serializers.ValidationError({"walkforward_id": f"no walk-forward #{attrs['walkforward_id']}"})
        try:
            check_heatmap_request(run, attrs["x"], attrs["y"])
        except ValueError as exc:
            raise serializers.ValidationError({"x": str(exc)}) from exc
        return attrs
