"""API serializers: input serializers validate requests; output serializers shape responses."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from analytics import holdout
from analytics.walkforward import WALKFORWARD_DEFAULTS
from backtests.engine import CostModel, RiskLimits
from backtests.models import ENGINE_DEFAULTS, BacktestConfig, BacktestMetric, BacktestTrade, ResearchJob
from core.timeutil import check_period
from marketdata.symbols import SYMBOLS
from marketdata.timeframes import TIMEFRAMES
from strategies.registry import STRATEGIES, validated_parameters

MAX_SYMBOLS = 20
MAX_CAPITAL = 1e12


class SymbolListField(serializers.ListField):
    child = serializers.ChoiceField(choices=SYMBOLS)

    def __init__(self, **kwargs):
        kwargs.setdefault("min_length", 1)
        kwargs.setdefault("max_length", MAX_SYMBOLS)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, list):
            data = [item.strip().upper() if isinstance(item, str) else item for item in data]
        values = super().to_internal_value(data)
        return list(dict.fromkeys(values))  # de-duplicated, order kept


class PeriodMixin:
    def validate(self, attrs):
        attrs = super().validate(attrs)
        try:
            check_period(attrs.get("start"), attrs.get("end"))
        except ValueError as exc:
            raise serializers.ValidationError({"end": str(exc)}) from exc
        return attrs


class IngestRequestSerializer(PeriodMixin, serializers.Serializer):
    symbols = SymbolListField()
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAMES))
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    source = serializers.ChoiceField(choices=["binance", "coingecko"], required=False, allow_null=True)

    def validate(self, attrs):
        from marketdata.ingestion import MAX_BARS_PER_SYMBOL
        from marketdata.timeframes import timeframe_delta

        attrs = super().validate(attrs)
        bars = (attrs["end"] - attrs["start"]) / timeframe_delta(attrs["timeframe"])
        if bars > MAX_BARS_PER_SYMBOL:
            raise serializers.ValidationError(
                {"end": f"{int(bars)} {attrs['timeframe']} candles per symbol, more than the {MAX_BARS_PER_SYMBOL} "
                        "one ingestion may fetch: split the range"})
        return attrs


class EngineSettingsField(serializers.DictField):
    """A JSON object of one of the engine's frozen settings classes, validated by building it."""

    settings_class: Any = None

    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        try:
            self.settings_class.from_dict(data)
        except (TypeError, ValueError) as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return data


class RiskLimitsField(EngineSettingsField):
    settings_class = RiskLimits


class CostModelField(EngineSettingsField):
    settings_class = CostModel


class BacktestRequestSerializer(PeriodMixin, serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    strategy = serializers.CharField(max_length=64)
    symbols = SymbolListField(required=False)
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAMES), required=False,
                                        help_text="Default: the strategy's own timeframe.")
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    parameters = serializers.DictField(required=False, default=dict)
    initial_capital = serializers.FloatField(min_value=1.0, max_value=MAX_CAPITAL,
                                             default=ENGINE_DEFAULTS.initial_capital)
    fee_rate = serializers.FloatField(min_value=0.0, max_value=0.05, default=ENGINE_DEFAULTS.fee_rate)
    slippage_rate = serializers.FloatField(min_value=0.0, max_value=0.10, default=ENGINE_DEFAULTS.slippage_rate)
    latency_ms = serializers.IntegerField(min_value=0, max_value=86_400_000, default=ENGINE_DEFAULTS.latency_ms)
    risk_limits = RiskLimitsField(required=False)
    cost_model = CostModelField(required=False, help_text=(
        "Overrides of the trade-dependent costs: maker_fee_rate (take-profits as limit orders), slippage_model "
        "('fixed' or 'volume_share'), volume_impact, max_volume_share, long_carry_rate_per_hour, "
        "short_carry_rate_per_hour. Missing keys take the engine's defaults."))
    seed = serializers.IntegerField(min_value=0, max_value=2**62, default=42)

    def validate_strategy(self, value: str) -> str:
        if value not in STRATEGIES:
            raise serializers.ValidationError(f"unknown strategy; expected one of {', '.join(sorted(STRATEGIES))}")
        return value

    def validate(self, attrs):
        attrs = super().validate(attrs)
        strategy_class = STRATEGIES[attrs["strategy"]]
        try:
            validated_parameters(strategy_class, attrs.get("parameters", {}))
        except ValueError as exc:
            raise serializers.ValidationError({"parameters": str(exc)}) from exc
        attrs.setdefault("symbols", list(strategy_class.universe))
        attrs.setdefault("timeframe", strategy_class.timeframe)
        return attrs


class WalkForwardRequestSerializer(BacktestRequestSerializer):
    train_months = serializers.IntegerField(min_value=1, max_value=60, default=WALKFORWARD_DEFAULTS.train_months)
    test_months = serializers.IntegerField(min_value=1, max_value=24, default=WALKFORWARD_DEFAULTS.test_months)
    objective = serializers.ChoiceField(choices=["sharpe", "sortino", "calmar", "total_return"],
                                        default=WALKFORWARD_DEFAULTS.objective)
    holdout_fraction = serializers.FloatField(
        min_value=holdout.MIN_FRACTION, max_value=holdout.MAX_FRACTION, default=WALKFORWARD_DEFAULTS.holdout_fraction,
        help_text="Share of the range held out; once a strategy is locked, only its lock's fraction is accepted.")
    search = serializers.ChoiceField(choices=["grid", "random"], default="random")
    max_trials = serializers.IntegerField(min_value=1, max_value=500, default=WALKFORWARD_DEFAULTS.max_trials)
    fan_out = serializers.BooleanField(default=False, help_text="Run each period as its own task (many workers).")

    def validate(self, attrs):
        attrs = super().validate(attrs)
        try:
            holdout.refuse_fraction_change(attrs["strategy"], attrs["holdout_fraction"])
        except ValueError as exc:
            raise serializers.ValidationError({"holdout_fraction": str(exc)}) from exc
        return attrs


class ErrorMessageField(serializers.ReadOnlyField):
    """A run's or job's ``error`` as API clients see it: the message only; the traceback stays in the admin."""

    def __init__(self, **kwargs):
        super().__init__(source="error_message", help_text="Why it failed (empty unless failed).", **kwargs)


class BacktestConfigSerializer(serializers.ModelSerializer):
    error = ErrorMessageField()
    url = serializers.HyperlinkedIdentityField(view_name="backtest-config-detail")
    trades_url = serializers.HyperlinkedIdentityField(view_name="backtest-config-trades")
    metrics_url = serializers.HyperlinkedIdentityField(view_name="backtest-config-metrics")

    class Meta:
        model = BacktestConfig
        fields = [
            "id", "url", "name", "strategy", "symbols", "timeframe", "start", "end", "parameters",
            "initial_capital", "fee_rate", "slippage_rate", "latency_ms", "risk_limits", "cost_model", "seed",
            "purpose",
            "status", "error", "attempts", "created_at", "started_at", "finished_at", "total_return", "cagr",
            "sharpe_ratio", "sortino_ratio", "calmar_ratio", "max_drawdown", "win_rate", "profit_factor",
            "num_trades", "final_equity", "data_hash", "code_version", "data_quality_score", "annualization",
            "trades_url", "metrics_url",
        ]


class BacktestConfigDetailSerializer(BacktestConfigSerializer):
    class Meta(BacktestConfigSerializer.Meta):
        fields = [*BacktestConfigSerializer.Meta.fields, "summary"]


class BacktestTradeSerializer(serializers.ModelSerializer):
    class Meta:
        model = BacktestTrade
        exclude = ["config"]


class BacktestMetricSerializer(serializers.ModelSerializer):
    class Meta:
        model = BacktestMetric
        exclude = ["config", "id"]


class ResearchJobSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="research-job-detail")
    error = ErrorMessageField()

    class Meta:
        model = ResearchJob
        fields = ["id", "url", "kind", "params", "status", "progress", "error", "result", "attempts", "created_at",
                  "started_at", "finished_at"]
