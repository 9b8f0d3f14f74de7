"""A real django-q2 cluster for the tests: ``manage.py qcluster`` processes on the test's PostgreSQL database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def cluster_env(broker: str = "orm", workers: int = 1, name: str | None = None) -> dict[str, str]:
    """The environment of a cluster process sharing this test's database (and Redis with ``broker="redis"``); its
    queue is ``name`` (default: a fresh one, for tasks queued by a process started with this environment)."""
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k not in {"Q_SYNC", "REDIS_URL"}}
    env.update(DATABASE_URL=f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
                            f"{db['PORT'] or 5432}/{db['NAME']}",
               Q_SYNC="0", Q_WORKERS=str(workers), Q_CLUSTER_NAME=name or f"test-{uuid.uuid4().hex[:8]}")
    if broker == "redis":
        env["REDIS_URL"] = os.environ["REDIS_TEST_URL"]
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def start_cluster(env: dict[str, str], *, output: bool = True) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE if output else subprocess.DEVNULL,
                            stderr=subprocess.STDOUT if output else subprocess.DEVNULL, text=True,
                            start_new_session=True)


def stop_cluster(cluster: subprocess.Popen) -> str:
    """SIGTERM the cluster's process group (SIGKILL if it does not stop) and return what it printed."""
    os.killpg(cluster.pid, signal.SIGTERM)
    try:
        output, _ = cluster.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(cluster.pid, signal.SIGKILL)
        output, _ = cluster.communicate()
    return output or ""


@contextmanager
def running_clusters(count: int, workers: int = 1) -> Iterator[list[subprocess.Popen]]:
    """``count`` separate qcluster processes (as if on ``count`` hosts) taking tasks from this process's queue (the
    ORM broker in the test database)."""
    from django_q.conf import Conf

    clusters = [start_cluster(cluster_env(workers=workers, name=Conf.PREFIX)) for _ in range(count)]
    try:
        yield clusters
    finally:
        for cluster in clusters:
            stop_cluster(cluster)
