"""Both cores for pure work: ``parallel_map(fn, items)`` in forked worker processes.

The trials of an optimisation, the moves of a parameter check and the permutations of a signal test are
independent evaluations on data that is already in memory. Forking hands that data (and ``fn`` with
whatever it closes over) to the workers without pickling it; only the items and the results cross
between processes, and they come back in the order of ``items``. Each item is computed by the same code
on the same data as in the sequential loop, so the results are identical to it (the tests compare them).

Sequential instead (same results, one core) when one worker is asked for or there is at most one item;
inside a daemonic process, which may not have children (a django-q2 worker: the cluster is the
parallelism there); and where ``fork`` does not exist. ``fn`` must not touch the database: a forked
worker shares its parent's connections. With ``database=True`` each worker opens connections of its own
(:func:`own_database_connections`) so ``fn`` may read (and write); sequential then also where a worker
could not see what the parent sees: an in-memory SQLite database, or a transaction the parent has open.

The number of workers is ``RESEARCH_WORKERS`` from the environment (``0`` or unset: every core this
process may run on).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")

#: The function the forked workers run (set just before the fork, inherited by it).
_TASK: Callable[[Any], Any] | None = None


def default_workers() -> int:
    """``RESEARCH_WORKERS`` if set to a positive number, else the cores this process may use."""
    configured = os.environ.get("RESEARCH_WORKERS", "").strip()
    if configured:
        try:
            value = int(configured)
        except ValueError as exc:
            raise ValueError(f"RESEARCH_WORKERS={configured!r} must be a whole number (0: every core)") from exc
        if value < 0:
            raise ValueError(f"RESEARCH_WORKERS={configured!r} must be 0 (every core) or more")
        if value > 0:
            return value
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def can_fork_workers() -> bool:
    return ("fork" in multiprocessing.get_all_start_methods()
            and not multiprocessing.current_process().daemon)


def _call(item: Any) -> Any:
    assert _TASK is not None
    return _TASK(item)


def parallel_map(fn: Callable[[_Item], _Result], items: Iterable[_Item], *,
                 workers: int | None = None, database: bool = False) -> list[_Result]:
    """``[fn(item) for item in items]``, spread over ``workers`` forked processes (see the module docstring)."""
    global _TASK
    items = list(items)
    count = min(default_workers() if workers is None else workers, len(items))
    if count <= 1 or not can_fork_workers() or (database and not database_reachable_from_workers()):
        return [fn(item) for item in items]
    previous, _TASK = _TASK, fn
    gc.freeze()  # the workers' garbage collector leaves the inherited objects alone: their pages stay shared
    try:
        with multiprocessing.get_context("fork").Pool(
                count, initializer=own_database_connections if database else None) as pool:
            return pool.map(_call, items, chunksize=1)
    finally:
        gc.unfreeze()
        _TASK = previous


def parallel_imap(fn: Callable[[_Item], _Result], items: Iterable[_Item], *,
                  workers: int | None = None) -> Iterator[_Result]:
    """``fn(item)`` for each item, in order, computed ahead by ``workers`` forked processes (default: every
    core but the caller's) while the caller uses the results already done: a pipeline whose caller's part
    (a database write, say) runs beside the workers' part (reading the next files). ``fn`` must not touch
    the database. Computed here, one item at a time, where no process can be forked (as for
    :func:`parallel_map`) or no core is spare (``RESEARCH_WORKERS=1``)."""
    global _TASK
    items = list(items)
    count = min(default_workers() - 1 if workers is None else workers, len(items))
    if count < 1 or len(items) <= 1 or not can_fork_workers():
        yield from (fn(item) for item in items)
        return
    previous, _TASK = _TASK, fn
    gc.freeze()
    try:
        with multiprocessing.get_context("fork").Pool(count) as pool:
            gc.unfreeze()  # the workers exist: the caller's own objects are collected again meanwhile
            yield from pool.imap(_call, items, chunksize=1)
    finally:
        gc.unfreeze()
        _TASK = previous


#: Connections inherited from the parent, kept referenced (never closed or collected here: closing would end
#: the parent's session on the shared socket) while this process opens its own.
_inherited_connections: list = []


def own_database_connections() -> None:
    """In a forked process: leave the parent's database connections alone and open new ones when next used."""
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        _inherited_connections.append(connection.connection)
        connection.connection = None


def database_reachable_from_workers() -> bool:
    """Whether a forked worker with its own connection sees the parent's data: not for an in-memory SQLite
    database (it exists in the parent only) nor inside a transaction (its rows are not committed)."""
    from django.db import connection

    return not (connection.vendor == "sqlite" and connection.is_in_memory_db()) and not connection.in_atomic_block


def serial_map(fn: Callable[[_Item], _Result], items: Sequence[_Item]) -> list[_Result]:
    """The one-core loop, for callers that take a ``map_`` argument."""
    return [fn(item) for item in items]
