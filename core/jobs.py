"""The job registry: each app registers the kinds of background job it offers (``AppConfig.ready``).

A job kind is a name, a label and a service that takes the job's JSON params as keyword arguments and
returns a JSON-safe dict. A service reports failure by raising, or by returning ``{"ok": False, ...}``
with an ``error`` message: the job then ends ``failed`` with that message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

JobService = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class JobKind:
    name: str
    label: str
    service: JobService
    pass_job: bool = False  # the service also takes ``job=`` (the job record), e.g. to resume its own work


JOB_KINDS: dict[str, JobKind] = {}


def register_job(name: str, label: str, service: JobService, *, pass_job: bool = False) -> None:
    known = JOB_KINDS.get(name)
    if known is not None and known.service is not service:
        raise ValueError(f"job kind {name!r} is already registered ({known.service.__module__})")
    JOB_KINDS[name] = JobKind(name=name, label=label, service=service, pass_job=pass_job)


def get_job_kind(name: str) -> JobKind:
    try:
        return JOB_KINDS[name]
    except KeyError:
        raise ValueError(f"unknown job kind {name!r}; expected one of {', '.join(sorted(JOB_KINDS))}") from None


def job_kind_choices() -> list[tuple[str, str]]:
    """The registered kinds as model-field choices (read when needed, after every app has registered)."""
    return [(kind.name, kind.label) for kind in JOB_KINDS.values()]


def reported_failure(result: Any) -> str | None:
    """The error of a result that says it failed (``ok: False``), else ``None``."""
    if not isinstance(result, dict) or result.get("ok") is not False:
        return None
    return str(result.get("error") or "the service reported failure (ok: false)")
