"""core.parallel: the same results as the loop, in order, on forked workers; sequential where it must be."""

from __future__ import annotations

import multiprocessing
import os
import time

import numpy as np
import pytest

from core import parallel


def _pid_and_square(x: int) -> tuple[int, int]:
    time.sleep(0.005)  # long enough that both workers take items
    return os.getpid(), x * x


def test_results_come_back_in_order_from_several_processes():
    results = parallel.parallel_map(_pid_and_square, range(40), workers=2)
    assert [square for _, square in results] == [x * x for x in range(40)]
    assert len({pid for pid, _ in results} - {os.getpid()}) == 2  # two forked workers did the work


def test_the_workers_see_the_parents_data_without_pickling_it():
    data = np.random.default_rng(1).normal(size=(500, 50))  # a closure over unpicklable-by-design state

    def column_sum(j: int) -> float:
        return float(data[:, j].sum())

    assert parallel.parallel_map(column_sum, range(50), workers=2) == [float(data[:, j].sum()) for j in range(50)]


def test_one_worker_or_one_item_runs_here():
    assert parallel.parallel_map(_pid_and_square, [3], workers=2) == [(os.getpid(), 9)]
    assert {pid for pid, _ in parallel.parallel_map(_pid_and_square, range(5), workers=1)} == {os.getpid()}


def test_imap_yields_in_order_from_a_worker_while_the_caller_works_on_the_done_ones():
    consumed: list[tuple[int, int]] = []
    for pid, square in parallel.parallel_imap(_pid_and_square, range(20), workers=1):
        consumed.append((pid, square))
        time.sleep(0.002)  # the caller's own part (a write) while the worker computes the next items
    assert [square for _, square in consumed] == [x * x for x in range(20)]
    assert {pid for pid, _ in consumed} != {os.getpid()}  # computed in the forked worker


def test_imap_without_a_worker_to_spare_runs_here(monkeypatch):
    monkeypatch.setenv("RESEARCH_WORKERS", "1")  # one core: none left beside the caller
    assert list(parallel.parallel_imap(_pid_and_square, range(4))) == [(os.getpid(), x * x) for x in range(4)]
    assert list(parallel.parallel_imap(_pid_and_square, [5], workers=2)) == [(os.getpid(), 25)]


def test_imap_stopped_early_leaves_no_task_behind():
    results = parallel.parallel_imap(_pid_and_square, range(10), workers=1)
    assert next(results)[1] == 0
    results.close()
    assert parallel._TASK is None


def _inside_a_daemon(queue) -> None:
    queue.put({pid for pid, _ in parallel.parallel_map(_pid_and_square, range(6), workers=2)} == {os.getpid()})


def test_a_daemonic_process_maps_sequentially():
    """A django-q2 worker is daemonic and may not have children: the map runs in it, not in a pool."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_inside_a_daemon, args=(queue,), daemon=True)
    process.start()
    assert queue.get(timeout=60) is True
    process.join(timeout=60)


def test_a_worker_error_reaches_the_caller():
    def fails(x: int) -> int:
        if x == 3:
            raise ValueError("bad item 3")
        return x

    with pytest.raises(ValueError, match="bad item 3"):
        parallel.parallel_map(fails, range(6), workers=2)


@pytest.mark.parametrize(("value", "expected"), [("2", 2), ("1", 1), ("", None), ("0", None)])
def test_research_workers_setting(monkeypatch, value, expected):
    monkeypatch.setenv("RESEARCH_WORKERS", value)
    assert parallel.default_workers() == (expected or len(os.sched_getaffinity(0)))


@pytest.mark.parametrize("value", ["two", "-1"])
def test_a_bad_research_workers_setting_is_refused(monkeypatch, value):
    monkeypatch.setenv("RESEARCH_WORKERS", value)
    with pytest.raises(ValueError, match="RESEARCH_WORKERS"):
        parallel.default_workers()


@pytest.mark.django_db
def test_work_that_reads_the_database_stays_here_inside_a_transaction():
    """A forked worker on its own connection would not see the rows of the parent's open transaction (the test
    database is one): the database map runs in this process then, the plain map still forks."""
    from django.db import connection

    assert connection.in_atomic_block and not parallel.database_reachable_from_workers()
    assert {pid for pid, _ in parallel.parallel_map(_pid_and_square, range(6), workers=2, database=True)} == {os.getpid()}
    assert os.getpid() not in {pid for pid, _ in parallel.parallel_map(_pid_and_square, range(6), workers=2)}


def test_database_workers_open_their_own_connections(monkeypatch):
    """The initialiser of a database worker sets each inherited connection aside (kept, never closed: the parent
    still uses it) so that the worker opens a new one."""
    from django.db import connections

    class Handle:
        connection = object()

    handle = Handle()
    inherited = handle.connection
    monkeypatch.setattr(connections, "all", lambda initialized_only=False: [handle])
    monkeypatch.setattr(parallel, "_inherited_connections", [])
    parallel.own_database_connections()
    assert handle.connection is None and parallel._inherited_connections == [inherited]
