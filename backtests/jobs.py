"""Background jobs: create a pending job, queue it after commit, run its service, record the outcome.

Each job kind maps to a service function (dotted path) that takes the job's params as keyword arguments and
returns a JSON-safe dict. Tasks stay one line (``backtests.tasks``); the logic lives here and in the services.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from backtests.models import JobKind, ResearchJob, RunStatus

logger = logging.getLogger(__name__)

#: Job kind -> service function path. Each service takes the job's params as keyword arguments.
JOB_SERVICES: dict[str, str] = {
    JobKind.INGEST_OHLCV: "marketdata.jobs.ohlcv_ingest_job",
    JobKind.INGEST_ONCHAIN: "marketdata.jobs.onchain_ingest_job",
    JobKind.INGEST_SOCIAL: "marketdata.jobs.social_ingest_job",
    JobKind.COMPUTE_INDICATORS: "marketdata.jobs.indicators_compute_job",
    JobKind.DATA_QUALITY: "marketdata.jobs.data_quality_job",
    JobKind.MONTE_CARLO: "analytics.services.montecarlo_job",
    JobKind.STRESS_TEST: "analytics.services.stress_test_job",
    JobKind.LOOKAHEAD: "analytics.services.lookahead_job",
    JobKind.RESEARCH: "analytics.research.research_job",
}


def queue_task(func_path: str, *args: Any, name: str) -> str:
    """Queue ``func_path(*args)`` on django-q2 and return the task id (runs inline when Q_CLUSTER sync is on)."""
    from django_q.tasks import async_task

    timeout = settings.Q_CLUSTER.get("timeout")
    return async_task(func_path, *args, task_name=name, timeout=timeout) or ""


def jsonable_params(values: dict[str, Any]) -> dict[str, Any]:
    """Validated request values -> JSON params for a job (date-times as ISO 8601 strings)."""
    return {key: (value.isoformat() if hasattr(value, "isoformat") else value) for key, value in values.items()}


def job_create(*, kind: str, params: dict[str, Any], user=None) -> ResearchJob:
    """Save a pending job and queue it once the surrounding transaction commits."""
    if kind not in JOB_SERVICES:
        raise ValueError(f"unknown job kind {kind!r}; expected one of {', '.join(JOB_SERVICES)}")
    job = ResearchJob.objects.create(kind=kind, params=params, created_by=user)
    transaction.on_commit(lambda: job_enqueue(job.pk))
    return job


def job_enqueue(job_id: int) -> None:
    task_id = queue_task("backtests.tasks.job_execute_task", job_id, name=f"job-{job_id}")
    ResearchJob.objects.filter(pk=job_id, task_id="").update(task_id=task_id or "")


def job_execute(job_id: int) -> dict[str, Any]:
    """Run one job; its status and error are always recorded, whatever the service does."""
    job = ResearchJob.objects.get(pk=job_id)
    if job.status == RunStatus.SUCCEEDED:
        return job.result  # a retried task after success does nothing twice
    ResearchJob.objects.filter(pk=job_id).update(
        status=RunStatus.RUNNING, started_at=timezone.now(), attempts=job.attempts + 1, error=""
    )
    service: Callable[..., dict] = import_string(JOB_SERVICES[job.kind])
    try:
        result = service(**job.params)
    except Exception as exc:  # the job records any failure for the operator
        logger.exception("job %s failed", job_id)
        ResearchJob.objects.filter(pk=job_id).update(
            status=RunStatus.FAILED, finished_at=timezone.now(),
            error=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=5)}",
        )
        return {"error": str(exc)}
    ResearchJob.objects.filter(pk=job_id).update(
        status=RunStatus.SUCCEEDED, finished_at=timezone.now(), result=result or {}
    )
    return result


def job_retry(job: ResearchJob) -> ResearchJob:
    """Put a failed (or stale running) job back in the queue."""
    if job.status == RunStatus.SUCCEEDED:
        raise ValueError("a succeeded job is not retried; start a new one")
    ResearchJob.objects.filter(pk=job.pk).update(status=RunStatus.PENDING, error="", task_id="")
    transaction.on_commit(lambda: job_enqueue(job.pk))
    job.refresh_from_db()
    return job


def is_stale(started_at, status: str) -> bool:
    """A run still 'running' after the task timeout lost its worker (killed, machine lost)."""
    if status != RunStatus.RUNNING or started_at is None:
        return False
    timeout = int(settings.Q_CLUSTER.get("timeout") or 3600)
    return timezone.now() - started_at > timedelta(seconds=timeout)
