"""One lifecycle for every kind of run: queue, claim, finish, fail and retry.

Each app registers its kinds at start-up (``AppConfig.ready``) with :func:`register`: a name, the model
(a :class:`core.models.LifecycleModel`) and the function that does the work. Every task is
:func:`run_task` ``(kind, pk, step, *args)``; nothing here names a module of a higher layer.

* :func:`enqueue` queues a step once the surrounding transaction commits (``execute`` records the task id).
* :func:`execute` is the task body: it **claims** the run with one conditional update
  (``pending`` -> ``running``, ``attempts + 1``). A second task for the same run claims nothing, logs that
  and returns; so a run executes once however often it is queued.
* The kind's function writes its results and calls :func:`finish` inside one transaction; ``finish``
  raises :class:`LostClaim` (and so rolls the writes back) when the run is no longer held by that claim,
  e.g. it was declared stale and retried meanwhile.
* Any exception ends the run ``failed`` with the message and a traceback (:func:`fail`).
* :func:`retry` puts a failed or stale run back to ``pending``; a pending or running run is refused.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.models import LifecycleModel, RunStatus, stale_before

logger = logging.getLogger(__name__)


#: ``execute(run, attempt) -> result``: does the work of a claimed run (and calls :func:`finish`).
Executor = Callable[[Any, int], Any]
#: Further steps of a kind (e.g. one period of a fanned-out walk-forward): ``step(pk, *args) -> result``.
Step = Callable[..., Any]


class LifecycleError(ValueError):
    """A lifecycle request that cannot be honoured (e.g. retrying a running run); the message says why."""


class LostClaim(RuntimeError):
    """The run is no longer held by this task's claim: its results must not be stored."""


@dataclass(frozen=True)
class RunKind:
    name: str
    model: type[LifecycleModel]
    execute: Executor
    steps: dict[str, Step] = field(default_factory=dict)


KINDS: dict[str, RunKind] = {}


def register(name: str, model: type[LifecycleModel], execute: Executor, *,
             steps: dict[str, Step] | None = None) -> None:
    """Register a kind of run (idempotent for the same model; a name taken by another model is an error)."""
    known = KINDS.get(name)
    if known is not None and known.model is not model:
        raise ValueError(f"run kind {name!r} is already registered for {known.model.__name__}")
    KINDS[name] = RunKind(name=name, model=model, execute=execute, steps=dict(steps or {}))


def kind_of(run: LifecycleModel | type[LifecycleModel]) -> RunKind:
    model = run if isinstance(run, type) else type(run)
    for kind in KINDS.values():
        if kind.model is model:
            return kind
    raise LookupError(f"no run kind is registered for {model.__name__}")


def get_kind(name: str) -> RunKind:
    try:
        return KINDS[name]
    except KeyError:
        raise LookupError(f"unknown run kind {name!r}; registered: {', '.join(sorted(KINDS))}") from None


# --------------------------------------------------------------------------- queueing
def run_task(kind: str, pk: int, step: str = "execute", *args: Any) -> Any:
    """The one django-q2 task: a step of a registered run kind, taking its id."""
    return run_step(kind, pk, step, *args)


def queue_task(*args: Any, name: str) -> str:
    """Queue :func:`run_task` ``(*args)`` on django-q2 (inline when the cluster runs in sync mode)."""
    from django_q.tasks import async_task

    return async_task(f"{__name__}.run_task", *args, task_name=name, timeout=settings.Q_CLUSTER.get("timeout")) or ""


def enqueue(run: LifecycleModel, step: str = "execute", *args: Any, after_commit: bool = True) -> None:
    """Queue ``step`` of ``run`` once the surrounding transaction commits (``after_commit=False``: now,
    for a task queueing a further step of a run that is already stored)."""
    kind = kind_of(run)
    pk = run.pk
    suffix = "" if step == "execute" else f"-{step}{''.join(f'-{a}' for a in args)}"

    def send() -> None:
        task_id = queue_task(kind.name, pk, step, *args, name=f"{kind.name}-{pk}{suffix}")
        if step == "execute" and task_id:
            kind.model.objects.filter(pk=pk).update(task_id=task_id)

    if after_commit:
        transaction.on_commit(send)
    else:
        send()


# --------------------------------------------------------------------------- claim, finish, fail
def claim(model: type[LifecycleModel], pk: int) -> int | None:
    """Atomically move a pending run to running; the attempt number, or ``None`` if it was not pending."""
    claimed = model.objects.filter(pk=pk, status=RunStatus.PENDING).update(
        status=RunStatus.RUNNING, attempts=F("attempts") + 1, started_at=timezone.now(), finished_at=None,
        error="")
    if not claimed:
        return None
    return int(model.objects.values_list("attempts", flat=True).get(pk=pk))


def _held(model: type[LifecycleModel], pk: int, attempt: int) -> Any:
    """The run, as a queryset, while ``attempt`` holds it (empty otherwise)."""
    return model.objects.filter(pk=pk, status=RunStatus.RUNNING, attempts=attempt)


def holds_claim(model: type[LifecycleModel], pk: int, attempt: int) -> bool:
    return _held(model, pk, attempt).exists()


def lock_claim(run: LifecycleModel, attempt: int) -> None:
    """Inside a transaction: lock the run's row while ``attempt`` holds it; :class:`LostClaim` otherwise."""
    if not _held(type(run), run.pk, attempt).select_for_update().exists():
        raise LostClaim(f"{type(run).__name__} #{run.pk}: attempt {attempt} no longer holds the run")


def finish(run: LifecycleModel, attempt: int, **fields: Any) -> None:
    """Mark the run succeeded (with ``fields``) if ``attempt`` still holds it; :class:`LostClaim` otherwise.

    Call it inside the transaction that stores the run's results, so both land or neither does.
    """
    model = type(run)
    done = _held(model, run.pk, attempt).update(
        status=RunStatus.SUCCEEDED, finished_at=timezone.now(), error="", **fields)
    if not done:
        raise LostClaim(f"{model.__name__} #{run.pk}: attempt {attempt} no longer holds the run; "
                        f"its results are not stored")


def fail(model: type[LifecycleModel], pk: int, attempt: int, exc: BaseException) -> None:
    """Record ``exc`` (message, then a short traceback) and end the run failed, if the claim still holds."""
    error = f"{type(exc).__name__}: {exc}\n\n{''.join(traceback.format_exception(exc, limit=6))}"
    _held(model, pk, attempt).update(status=RunStatus.FAILED, finished_at=timezone.now(), error=error)


def execute(kind_name: str, pk: int) -> Any:
    """The task body: claim the run, do its work, record a failure. A run not pending is left alone."""
    kind = get_kind(kind_name)
    attempt = claim(kind.model, pk)
    if attempt is None:
        status = kind.model.objects.filter(pk=pk).values_list("status", flat=True).first()
        logger.warning("%s #%s not claimed: its status is %s (another task ran or runs it)",
                       kind.name, pk, status or "missing")
        return {"skipped": f"{kind.name} #{pk} is {status or 'missing'}, not pending: not executed again"}
    run = kind.model.objects.get(pk=pk)
    logger.info("%s #%s claimed (attempt %s)", kind.name, pk, attempt)
    try:
        result = kind.execute(run, attempt)
    except LostClaim as exc:
        logger.warning("%s", exc)
        return {"skipped": str(exc)}
    except Exception as exc:  # recorded on the run for the operator
        logger.exception("%s #%s failed", kind.name, pk)
        fail(kind.model, pk, attempt, exc)
        return {"error": str(exc)}
    logger.info("%s #%s attempt %s done", kind.name, pk, attempt)
    return result


def run_step(kind_name: str, pk: int, step: str, *args: Any) -> Any:
    """A further step of a run (``execute`` claims; other steps belong to an already claimed run)."""
    if step == "execute":
        return execute(kind_name, pk)
    kind = get_kind(kind_name)
    try:
        function = kind.steps[step]
    except KeyError:
        raise LookupError(f"run kind {kind.name!r} has no step {step!r}") from None
    return function(pk, *args)


def reopen_child(run: LifecycleModel) -> None:
    """Put an unfinished run back to ``pending`` because the parent that ran it inline was claimed anew.

    Only for runs executed inside another run's task (the walk-forwards of a research job): their
    worker is the parent's, so when the parent is retried they are dead too, stale or not.
    """
    type(run).objects.filter(pk=run.pk).exclude(status=RunStatus.SUCCEEDED).update(
        status=RunStatus.PENDING, error="")
    run.refresh_from_db()


# --------------------------------------------------------------------------- retry
def retry(run: LifecycleModel) -> LifecycleModel:
    """Queue a failed or stale run again. Pending, running (not stale) and succeeded runs are refused."""
    model = type(run)
    reopened = model.objects.filter(pk=run.pk).filter(
        Q(status=RunStatus.FAILED) | Q(status=RunStatus.RUNNING, started_at__lt=stale_before())
    ).update(status=RunStatus.PENDING, error="", task_id="")
    if not reopened:
        run.refresh_from_db()
        reason = {RunStatus.PENDING: "it is pending (already queued)",
                  RunStatus.RUNNING: "it is running and not stale",
                  RunStatus.SUCCEEDED: "it succeeded; start a new one"}.get(run.status, f"it is {run.status}")
        raise LifecycleError(f"{model._meta.verbose_name} #{run.pk} is not retried: {reason}")
    run.refresh_from_db()
    enqueue(run)
    return run
