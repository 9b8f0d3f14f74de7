"""The lifecycle every long-running record shares (backtest runs, walk-forward runs, background jobs)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


def stale_before() -> datetime:
    """A run still ``running`` since before this moment (the task timeout ago) lost its worker."""
    return timezone.now() - timedelta(seconds=int(settings.Q_CLUSTER.get("timeout") or 3600))


class LifecycleModel(models.Model):
    """Status, error, task id, attempts and timestamps; moved only by :mod:`core.lifecycle`.

    ``pending`` -> (claimed by one task) ``running`` -> ``succeeded`` | ``failed``; a failed or stale run
    goes back to ``pending`` through :func:`core.lifecycle.retry`. ``attempts`` counts claims; a task
    finishes a run only while its claim (the attempt number it got) is still the current one.
    """

    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.PENDING)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(condition=Q(status__in=[s.value for s in RunStatus]),
                                   name="%(app_label)s_%(class)s_status_valid"),
        ]

    @property
    def is_stale(self) -> bool:
        """Running for longer than the task timeout: its worker is gone and the run may be retried."""
        return self.status == RunStatus.RUNNING and self.started_at is not None \
            and self.started_at < stale_before()

    @property
    def error_message(self) -> str:
        """The error's first line (the message), without the traceback kept for the operator."""
        return self.error.split("\n\n", 1)[0] if self.error else ""
