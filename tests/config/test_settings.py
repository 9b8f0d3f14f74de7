"""Settings come from the environment, with safe production defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _settings_in_subprocess(env: dict[str, str], expr: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    clean.update(env)
    code = f"import config.settings as s; print(repr(({expr})))"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True)


def test_missing_secret_key_in_production_is_a_clear_error():
    result = _settings_in_subprocess({}, "s.DEBUG")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_debug_is_off_unless_asked():
    result = _settings_in_subprocess({"DJANGO_SECRET_KEY": "x" * 50}, "s.DEBUG, s.SESSION_COOKIE_SECURE")
    assert result.stdout.strip() == "(False, True)"


def test_debug_mode_runs_without_secret_key():
    result = _settings_in_subprocess({"DJANGO_DEBUG": "1"}, "s.DEBUG")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_database_defaults_to_embedded_sqlite():
    result = _settings_in_subprocess({"DJANGO_DEBUG": "1"}, "s.DATABASES['default']['ENGINE']")
    assert result.stdout.strip() == "'django.db.backends.sqlite3'"


def test_postgres_url_selects_postgresql_backend():
    result = _settings_in_subprocess(
        {"DJANGO_DEBUG": "1", "DATABASE_URL": "postgres://bob@db.example:5433/research"},
        "s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'], s.DATABASES['default']['PORT']",
    )
    assert result.stdout.strip() == "('django.db.backends.postgresql', 'research', 5433)"


def test_q_cluster_uses_orm_broker_by_default_and_redis_when_configured():
    orm = _settings_in_subprocess({"DJANGO_DEBUG": "1"}, "s.Q_CLUSTER.get('orm'), s.Q_CLUSTER.get('redis')")
    assert orm.stdout.strip() == "('default', None)"
    redis = _settings_in_subprocess(
        {"DJANGO_DEBUG": "1", "REDIS_URL": "redis://127.0.0.1:6379/3"},
        "s.Q_CLUSTER.get('orm'), s.Q_CLUSTER.get('redis')",
    )
    assert redis.stdout.strip() == "(None, 'redis://127.0.0.1:6379/3')"


def test_allowed_hosts_from_environment():
    result = _settings_in_subprocess(
        {"DJANGO_SECRET_KEY": "x" * 50, "DJANGO_ALLOWED_HOSTS": "a.example, b.example"}, "s.ALLOWED_HOSTS"
    )
    assert result.stdout.strip() == "['a.example', 'b.example']"


def test_deploy_checks_are_clean_with_production_settings():
    """``manage.py check --deploy`` with production settings (debug off, real secret key) reports nothing."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    clean.update(DJANGO_SECRET_KEY="k" * 20 + "-production-like-secret-0123456789-abcdefghijklmnop",
                 DJANGO_ALLOWED_HOSTS="research.example.com")
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                            env=clean, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
