"""Research analyses: walk-forward runs and their periods, stress-test event windows."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from analytics.walkforward import WALKFORWARD_DEFAULTS
from core.models import LifecycleModel
from marketdata.timeframes import TIMEFRAME_CHOICES


class WalkForwardRun(LifecycleModel):
    """A walk-forward analysis of one strategy: the parent of its periods."""

    strategy = models.CharField(max_length=64)
    symbols = models.JSONField(default=list)
    timeframe = models.CharField(max_length=3, choices=TIMEFRAME_CHOICES, default="1h")
    start = models.DateTimeField()
    end = models.DateTimeField()
    train_months = models.PositiveIntegerField(default=WALKFORWARD_DEFAULTS.train_months)
    test_months = models.PositiveIntegerField(default=WALKFORWARD_DEFAULTS.test_months)
    objective = models.CharField(max_length=32, default=WALKFORWARD_DEFAULTS.objective)
    holdout_fraction = models.FloatField(default=WALKFORWARD_DEFAULTS.holdout_fraction)
    settings = models.JSONField(default=dict, blank=True, help_text="Costs, risk limits, search settings.")
    seed = models.BigIntegerField(default=42)
    research_job = models.ForeignKey("backtests.ResearchJob", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="walkforward_runs",
                                     help_text="The research run this walk-forward belongs to (a retry reuses it).")
    summary = models.JSONField(default=dict, blank=True)
    final_parameters = models.JSONField(default=dict, blank=True)
    holdout_metrics = models.JSONField(default=dict, blank=True)
    finish_queued = models.BooleanField(default=False, help_text="Fan-out: the final step has been queued.")

    class Meta:
        db_table = "walkforward_runs"
        ordering = ["-created_at", "-id"]
        constraints = [
            *LifecycleModel.Meta.constraints,
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="wf_run_end_after_start"),
            models.CheckConstraint(
                condition=Q(holdout_fraction__gte=0, holdout_fraction__lt=1), name="wf_run_holdout_range"
            ),
            models.CheckConstraint(condition=Q(train_months__gt=0, test_months__gt=0), name="wf_run_windows_positive"),
        ]

    def __str__(self) -> str:
        return f"Walk-forward {self.strategy} #{self.pk}"


class WalkForwardPeriod(models.Model):
    run = models.ForeignKey(WalkForwardRun, on_delete=models.CASCADE, related_name="periods")
    index = models.PositiveIntegerField()
    train_start = models.DateTimeField()
    train_end = models.DateTimeField()
    test_start = models.DateTimeField()
    test_end = models.DateTimeField()
    parameters = models.JSONField(default=dict)
    train_metrics = models.JSONField(default=dict)
    test_metrics = models.JSONField(default=dict)
    degradation = models.FloatField(null=True, blank=True, help_text="Test objective over train objective.")

    class Meta:
        db_table = "walkforward_periods"
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="wf_period_unique_index"),
            models.CheckConstraint(condition=Q(train_end__gt=F("train_start")), name="wf_train_end_after_start"),
            models.CheckConstraint(condition=Q(test_start__gte=F("train_end")), name="wf_test_after_train"),
            models.CheckConstraint(condition=Q(test_end__gt=F("test_start")), name="wf_test_end_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.run} period {self.index}"


class StressEvent(models.Model):
    """A named historical event window used for stress tests (editable by the operator)."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    start = models.DateTimeField()
    end = models.DateTimeField()
    warmup_days = models.PositiveIntegerField(default=30)
    description = models.TextField(blank=True)

    class Meta:
        db_table = "stress_events"
        ordering = ["start"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="stress_end_after_start"),
        ]

    def __str__(self) -> str:
        return self.name


class HoldoutLock(models.Model):
    """The locked out-of-sample holdback of one strategy, whatever its timeframe or symbols
    (rules: ``analytics.holdout``).

    Optimisation and walk-forward refuse any window overlapping ``[holdout_start, holdout_end)``; every other
    evaluation touching it is counted in ``evaluations`` and ``history``; results of a second configuration
    on it mark the strategy's holdout result as contaminated.
    """

    strategy = models.CharField(max_length=64, unique=True)
    dataset_key = models.CharField(max_length=255, help_text="The dataset of the walk-forward that set the lock: "
                                                             "sorted symbols and timeframe, e.g. 'AAVE,COMP|1h'.")
    holdout_start = models.DateTimeField()
    holdout_end = models.DateTimeField()
    fraction = models.FloatField(default=WALKFORWARD_DEFAULTS.holdout_fraction,
                                 help_text="Share of the setting walk-forward's range held out (every later one "
                                           "must ask for the same).")
    evaluations = models.PositiveIntegerField(default=0)
    history = models.JSONField(default=list, blank=True,
                               help_text="One entry per evaluation: when, what, configuration, parameters, result.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "holdout_locks"
        ordering = ["strategy"]
        constraints = [
            models.CheckConstraint(condition=Q(holdout_end__gt=F("holdout_start")), name="holdout_end_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.strategy}: holdout from {self.holdout_start:%Y-%m-%d}"

    @property
    def configuration_count(self) -> int:
        """Distinct configurations whose results have been seen on the holdout."""
        return len({entry.get("configuration") for entry in self.history})

    @property
    def contaminated(self) -> bool:
        return self.configuration_count > 1
