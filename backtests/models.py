"""Backtest runs, their trades and their equity/metric snapshots."""

from __future__ import annotations

from dataclasses import fields as dataclass_fields

from django.db import models
from django.db.models import F, Q

from backtests.engine import CostModel, EngineConfig, RiskLimits
from core.jobs import job_kind_choices
from core.models import LifecycleModel, RunStatus
from marketdata.timeframes import TIMEFRAME_CHOICES

__all__ = [
    "ENGINE_DEFAULTS",
    "BacktestConfig",
    "BacktestMetric",
    "BacktestTrade",
    "ResearchJob",
    "RunPurpose",
    "RunStatus",
    "default_cost_model",
    "default_risk_limits",
]

#: The engine's defaults (costs, capital): models, serializers, forms and services all read them from here.
ENGINE_DEFAULTS = EngineConfig()


class RunPurpose(models.TextChoices):
    BACKTEST = "backtest", "Backtest"
    WALKFORWARD = "walkforward", "Walk-forward window"
    HOLDOUT = "holdout", "Out-of-sample holdout"
    STRESS = "stress", "Stress test"


def default_risk_limits() -> dict:
    """The engine's default risk limits as JSON (``RiskLimits()``; the cool-down is omitted while unset)."""
    limits = RiskLimits().to_dict()
    return {f.name: limits[f.name] for f in dataclass_fields(RiskLimits) if limits[f.name] is not None}


def default_cost_model() -> dict:
    """The engine's default trade-dependent costs as JSON (``CostModel()``: maker/taker, slippage model, carry)."""
    return CostModel().to_dict()


class BacktestConfig(LifecycleModel):
    """One backtest run: what was asked, its status and its headline results."""

    name = models.CharField(max_length=200, blank=True)
    strategy = models.CharField(max_length=64)
    symbols = models.JSONField(default=list)
    timeframe = models.CharField(max_length=3, choices=TIMEFRAME_CHOICES, default="1h")
    start = models.DateTimeField()
    end = models.DateTimeField()
    parameters = models.JSONField(default=dict, blank=True)
    initial_capital = models.FloatField(default=ENGINE_DEFAULTS.initial_capital)
    fee_rate = models.FloatField(default=ENGINE_DEFAULTS.fee_rate, help_text="Fraction per side (0.001 = 0.1%).")
    slippage_rate = models.FloatField(default=ENGINE_DEFAULTS.slippage_rate, help_text="Fraction against the trader.")
    latency_ms = models.IntegerField(default=ENGINE_DEFAULTS.latency_ms)
    risk_limits = models.JSONField(default=default_risk_limits, blank=True)
    cost_model = models.JSONField(default=default_cost_model, blank=True,
                                  help_text="Maker fee, slippage model (fixed or volume_share) and carry rates "
                                            "(backtests.engine.CostModel).")
    seed = models.BigIntegerField(default=42)
    purpose = models.CharField(max_length=16, choices=RunPurpose.choices, default=RunPurpose.BACKTEST)

    summary = models.JSONField(default=dict, blank=True)
    total_return = models.FloatField(null=True, blank=True)
    cagr = models.FloatField(null=True, blank=True)
    sharpe_ratio = models.FloatField(null=True, blank=True)
    sortino_ratio = models.FloatField(null=True, blank=True)
    calmar_ratio = models.FloatField(null=True, blank=True)
    max_drawdown = models.FloatField(null=True, blank=True)
    win_rate = models.FloatField(null=True, blank=True)
    profit_factor = models.FloatField(null=True, blank=True)
    num_trades = models.IntegerField(null=True, blank=True)
    final_equity = models.FloatField(null=True, blank=True)

    # Provenance: enough to re-run and audit.
    data_hash = models.CharField(max_length=64, blank=True)
    code_version = models.CharField(max_length=64, blank=True)
    data_quality_score = models.FloatField(null=True, blank=True)
    annualization = models.CharField(max_length=64, default="365 days, daily-resampled returns")

    class Meta:
        db_table = "backtest_configs"
        ordering = ["-created_at", "-id"]
        constraints = [
            *LifecycleModel.Meta.constraints,
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="backtest_end_after_start"),
            models.CheckConstraint(condition=Q(initial_capital__gt=0), name="backtest_capital_positive"),
            models.CheckConstraint(condition=Q(fee_rate__gte=0, fee_rate__lt=1), name="backtest_fee_range"),
            models.CheckConstraint(
                condition=Q(slippage_rate__gte=0, slippage_rate__lt=1), name="backtest_slippage_range"
            ),
            models.CheckConstraint(condition=Q(latency_ms__gte=0), name="backtest_latency_non_negative"),
        ]
        indexes = [models.Index(fields=["strategy", "status"], name="backtest_strategy_status_idx")]

    def __str__(self) -> str:
        return self.name or f"{self.strategy} #{self.pk}"


class TradeSide(models.TextChoices):
    LONG = "long", "Long"
    SHORT = "short", "Short"


#: The result rows' link to their run. Written only by ``backtests.services.backtest_store``, inside the
#: transaction that holds the run's claim, so a row never names a missing run; deleting a run deletes its
#: rows through Django's cascade. No database foreign key: its per-row check at commit cost as much as the
#: COPY of a long run's rows on PostgreSQL. No index of its own: each table's composite index leads with it.
RESULT_ROW_RUN = {"on_delete": models.CASCADE, "db_constraint": False, "db_index": False}


class BacktestTrade(models.Model):
    """A closed trade (or the closed part of a position, for partial exits)."""

    config = models.ForeignKey(BacktestConfig, related_name="trades", **RESULT_ROW_RUN)
    symbol = models.CharField(max_length=20)
    side = models.CharField(max_length=5, choices=TradeSide.choices, default=TradeSide.LONG)
    entry_time = models.DateTimeField()
    entry_price = models.FloatField()
    exit_time = models.DateTimeField()
    exit_price = models.FloatField()
    quantity = models.FloatField()
    fees = models.FloatField(default=0.0)
    slippage_cost = models.FloatField(default=0.0)
    carry = models.FloatField(default=0.0, help_text="Funding or borrow paid while the position was held.")
    pnl = models.FloatField(help_text="Realized P&L after fees, slippage and carry.")
    return_pct = models.FloatField(null=True, blank=True)
    exit_reason = models.CharField(max_length=32, blank=True)
    is_partial = models.BooleanField(default=False)

    class Meta:
        db_table = "backtest_trades"
        ordering = ["config", "entry_time", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="trade_quantity_positive"),
            models.CheckConstraint(
                condition=Q(entry_price__gt=0, exit_price__gt=0), name="trade_prices_positive"
            ),
            models.CheckConstraint(
                condition=Q(fees__gte=0, slippage_cost__gte=0), name="trade_costs_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(exit_time__gte=F("entry_time")), name="trade_exit_not_before_entry"
            ),
        ]
        indexes = [models.Index(fields=["config", "symbol"], name="trade_config_symbol_idx")]

    def __str__(self) -> str:
        return f"{self.side} {self.symbol} {self.entry_time:%Y-%m-%d %H:%M}"


class BacktestMetric(models.Model):
    """The portfolio's state at one bar of a run."""

    config = models.ForeignKey(BacktestConfig, related_name="metrics", **RESULT_ROW_RUN)
    timestamp = models.DateTimeField()
    equity = models.FloatField()
    cash = models.FloatField()
    drawdown = models.FloatField(help_text="Fraction below the running peak (0.2 = 20%).")
    exposure = models.FloatField(default=0.0, help_text="Gross position value over equity.")
    portfolio_heat = models.FloatField(default=0.0, help_text="Open risk-to-stop over equity.")
    open_positions = models.IntegerField(default=0)
    circuit_breaker = models.BooleanField(default=False)

    class Meta:
        db_table = "backtest_metrics"
        ordering = ["config", "timestamp"]
        constraints = [
            models.UniqueConstraint(fields=["config", "timestamp"], name="metric_unique_timestamp"),
            models.CheckConstraint(condition=Q(drawdown__gte=0, drawdown__lte=1), name="metric_drawdown_range"),
            models.CheckConstraint(condition=Q(open_positions__gte=0), name="metric_open_positions_non_negative"),
            models.CheckConstraint(
                condition=Q(exposure__gte=0, portfolio_heat__gte=0), name="metric_exposure_heat_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.config_id} @ {self.timestamp}"


class ResearchJob(LifecycleModel):
    """A queued unit of background work that is not itself a backtest run (ingestion, Monte Carlo, ...).

    Its kind is one registered in :mod:`core.jobs` by the app that offers it; ``result`` holds the
    service's JSON output (kept also when the service reported a failure).
    """

    kind = models.CharField(max_length=32, choices=job_kind_choices)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    progress = models.CharField(max_length=255, blank=True, help_text="What a running job is doing now.")

    class Meta:
        db_table = "research_jobs"
        ordering = ["-created_at", "-id"]
        constraints = [*LifecycleModel.Meta.constraints]
        indexes = [models.Index(fields=["kind", "status"], name="job_kind_status_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"
