"""Migrations apply on SQLite (a fresh file) and on the test database (PostgreSQL in CI)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
RESEARCH_TABLES = {
    "backtest_configs", "backtest_trades", "backtest_metrics", "market_data_ohlcv",
    "technical_indicators", "onchain_metrics", "social_metrics", "walkforward_periods",
}


def test_migrations_apply_on_a_fresh_sqlite_file(tmp_path):
    db_file = tmp_path / "fresh.sqlite3"
    env = {**os.environ, "DJANGO_DEBUG": "1", "DATABASE_URL": f"sqlite:///{db_file}"}
    result = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    tables = {row[0] for row in sqlite3.connect(db_file).execute("select name from sqlite_master where type='table'")}
    assert tables >= RESEARCH_TABLES


@pytest.mark.django_db
def test_research_tables_exist_in_the_test_database():
    assert set(connection.introspection.table_names()) >= RESEARCH_TABLES


@pytest.mark.django_db
def test_stress_events_are_seeded():
    from analytics.models import StressEvent

    assert set(StressEvent.objects.values_list("slug", flat=True)) >= {
        "covid-2020", "luna-2022", "ftx-2022", "svb-2023"}
