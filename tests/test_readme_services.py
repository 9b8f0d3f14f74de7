"""The README's service lines, each run as the README writes it, in a real process on a throw-away SQLite file:
``manage.py createsuperuser`` (answered on stdin), ``manage.py runserver`` (the admin login page answers),
``manage.py qcluster`` (it says it is running and takes a queued task), and the PostgreSQL block's
``manage.py migrate`` (on a database of its own, when PostgreSQL is there).

Not run by any test: the quick start's ``pip install`` (CI runs it, ``.ci/run``), the PostgreSQL block's
``createdb`` (the test creates its own database instead), and the benchmark scripts (minutes each; figures in
the closing notes).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _readme_line(command: str) -> list[str]:
    """The README's line that runs ``manage.py <command>``, as argv (its trailing comment dropped)."""
    line = next(text for text in README.splitlines() if text.startswith(".venv/bin/python manage.py " + command))
    words = line.split("#", 1)[0].split()
    return [sys.executable, *words[1:]]


@pytest.fixture
def sqlite_env(tmp_path):
    env = {**os.environ, "DJANGO_DEBUG": "1", "DATABASE_URL": f"sqlite:///{tmp_path}/readme.db"}
    env.pop("DJANGO_SECRET_KEY", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_createsuperuser_as_written(sqlite_env):
    env = {**sqlite_env, "DJANGO_SUPERUSER_PASSWORD": "a-long-readme-password"}
    done = subprocess.run([*_readme_line("createsuperuser"), "--username", "operator", "--email", "op@example.com",
                           "--noinput"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Superuser created successfully" in done.stdout, done.stderr


def test_runserver_as_written_serves_the_admin(sqlite_env):
    port = _free_port()
    server = subprocess.Popen([*_readme_line("runserver"), f"127.0.0.1:{port}", "--noreload"], cwd=ROOT,
                              env=sqlite_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(60):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=2) as page:
                    assert page.status == 200 and "Django" in page.read().decode()
                    return
            except OSError:
                time.sleep(0.5)
        pytest.fail("runserver did not answer within 30 s")
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_qcluster_as_written_runs_a_queued_task(sqlite_env):
    queue = ("import django; django.setup(); from django_q.tasks import async_task; "
             "print(async_task('math.floor', 2.5))")
    env = {**sqlite_env, "Q_SYNC": "0", "DJANGO_SETTINGS_MODULE": "config.settings"}
    task_id = subprocess.run([sys.executable, "-c", queue], cwd=ROOT, env=env, capture_output=True, text=True,
                             check=True, timeout=120).stdout.strip()
    cluster = subprocess.Popen(_readme_line("qcluster"), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = cluster.stdout.readline() if cluster.stdout else ""
            lines.append(line)
            if "Processed" in line or "processed" in line:
                break
    finally:
        cluster.terminate()
        cluster.wait(timeout=60)
    output = "".join(lines)
    assert "running." in output, output  # it says what it does, at INFO
    check = ("import django; django.setup(); from django_q.models import Success; "
             f"print(Success.objects.filter(id='{task_id}').values_list('result', flat=True).first())")
    result = subprocess.run([sys.executable, "-c", check], cwd=ROOT, env=env, capture_output=True, text=True,
                            check=True, timeout=120).stdout.strip()
    assert result == "2", output


@pytest.mark.postgres
def test_the_postgresql_migrate_line_on_a_database_of_its_own(requires_postgres):
    import psycopg

    name = f"readme_{os.getpid()}_{int(time.time())}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        env = {**os.environ, "DJANGO_DEBUG": "1", "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{name}"}
        done = subprocess.run(_readme_line("migrate"), cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "Applying analytics.0006_one_holdout_lock_per_strategy... OK" in done.stdout
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
