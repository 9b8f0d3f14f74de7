"""Background jobs (``ResearchJob``): create one of a registered kind, run its service, record the outcome.

Job kinds are registered by the app that offers them (:mod:`core.jobs`); the lifecycle (queue, claim,
finish, fail, retry) is :mod:`core.lifecycle`'s, registered here as the run kind ``job``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from backtests.models import ResearchJob
from core import lifecycle
from core.jobs import get_job_kind, reported_failure
from core.jsonsafe import json_safe

logger = logging.getLogger(__name__)


class JobReportedFailure(RuntimeError):
    """The job's service returned a result that says the work failed."""


def job_create(*, kind: str, params: dict[str, Any], user=None, queue: bool = True) -> ResearchJob:
    """Save a pending job of a registered kind and queue it once the surrounding transaction commits."""
    get_job_kind(kind)  # ValueError naming the registered kinds
    job = ResearchJob.objects.create(kind=kind, params=json_safe(params), created_by=user)
    if queue:
        lifecycle.enqueue(job)
    return job


def job_execute(job: ResearchJob, attempt: int) -> dict[str, Any]:
    """Run the job's service; a result that reports failure ends the job failed, with the result kept."""
    kind = get_job_kind(job.kind)
    extra = {"job": job} if kind.pass_job else {}
    result = json_safe(kind.service(**job.params, **extra) or {})
    error = reported_failure(result)
    if error is not None:
        with transaction.atomic():
            ResearchJob.objects.filter(pk=job.pk, attempts=attempt).update(result=result)
            lifecycle.fail(ResearchJob, job.pk, attempt, JobReportedFailure(error))
        return result
    with transaction.atomic():
        lifecycle.finish(job, attempt, result=result)
    return result


def register_run_kinds() -> None:
    lifecycle.register("job", ResearchJob, job_execute)
