"""Expensive end-to-end results computed once per test session and shared by the tests that read them.

:func:`once_per_session` is pytest-xdist's recipe for a session fixture run once: the first worker to ask
computes the value (as JSON) under the session's temporary folder, above each worker's own; the others wait on
a lock for that file and read it. Without xdist the folder is the session's own.

A computation that writes rows runs inside a transaction rolled back at its end, so no other test sees them; a
test that needs the rows themselves gets them back from :func:`rows_snapshot` with :func:`rows_restore`, in its
own transaction.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.core import serializers
from django.core.management.color import no_style
from django.db import connection, transaction


def once_per_session(name: str, compute: Callable[[], Any], tmp_path_factory, worker_id: str) -> Any:
    """``compute()``'s JSON-safe value, computed by one worker of the session and read by the others."""
    base = tmp_path_factory.getbasetemp()
    folder = (base if worker_id == "master" else base.parent) / f"shared-{name}"
    folder.mkdir(exist_ok=True)
    with open(folder / "lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        done = folder / "value.json"
        if not done.exists():
            done.write_text(json.dumps(compute(), default=str))
    return json.loads(done.read_text())


def _keys() -> dict[type, set]:
    return {model: set(model.objects.values_list("pk", flat=True)) for model in apps.get_models()}


def rows_snapshot(work: Callable[[], Any]) -> tuple[Any, str]:
    """(``work()``'s result, every row it added to any table, serialised); call it inside a transaction that is
    rolled back afterwards. Rows it changed or deleted are not recorded: for work that only adds rows."""
    before = _keys()
    result = work()
    added = []
    for model, keys in _keys().items():
        new = sorted(keys - before[model])
        rows = model.objects.in_bulk(new)  # in batches where the database limits a query's parameters
        added += [rows[key] for key in new]
    return result, serializers.serialize("json", added)


def rows_restore(snapshot: str) -> None:
    """Store the rows of :func:`rows_snapshot` as they were (their keys included), table by table in one
    ``bulk_create`` each (a save per row took 0.5 s for a small walk-forward's 1,080 metric rows); constraints
    checked once all are in and the key sequences moved past them, as ``loaddata`` does."""
    by_model: dict[type, list] = {}
    for row in serializers.deserialize("json", snapshot):
        by_model.setdefault(type(row.object), []).append(row.object)
    models = list(by_model)
    # One transaction: PostgreSQL defers its foreign-key checks to its end (the tables are not in dependency
    # order); SQLite checks nothing while they are disabled
    with transaction.atomic(), connection.constraint_checks_disabled():
        for model, objects in by_model.items():
            model.objects.bulk_create(objects, batch_size=500)
        connection.check_constraints(table_names=[model._meta.db_table for model in models])
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(statement)
