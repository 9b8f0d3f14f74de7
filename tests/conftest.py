"""Shared fixtures. Test data is built with the factories in ``tests/factories.py``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from django.db import connection


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def requires_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://...")


DATA = Path(__file__).resolve().parent / "data"


def real_candles(start: str, end: str) -> pd.DataFrame:
    frame = pd.read_csv(DATA / "BTCUSDT_1h.csv.gz", parse_dates=["date"])
    frame["open_time"] = pd.to_datetime(frame["date"], utc=True)
    frame = frame[(frame["open_time"] >= start) & (frame["open_time"] < end)]
    return frame[["open_time", "open", "high", "low", "close", "volume"]].reset_index(drop=True)


def _store_btc_candles() -> pd.DataFrame:
    from marketdata.loading import candles_upsert

    frame = real_candles("2021-12-01", "2022-05-01")
    result = candles_upsert(frame, symbol="BTC", timeframe="1h", source="bundled")
    assert result.inserted == len(frame)
    return frame


@pytest.fixture
def btc_candles_in_db(db):
    """BTC 1h candles 2021-12-01 .. 2022-05-01 (real Binance data) in the candle table."""
    return _store_btc_candles()


@pytest.fixture(scope="session")
def _walkforward_rows(django_db_setup, django_db_blocker, tmp_path_factory, worker_id) -> dict:
    """The rows ``factories.executed_walkforward()`` adds on ``btc_candles_in_db``, once per test session."""
    from django.db import transaction

    from tests import factories as f
    from tests.session_shared import once_per_session, rows_snapshot

    def compute() -> dict:
        with django_db_blocker.unblock(), transaction.atomic():
            _store_btc_candles()
            pk, rows = rows_snapshot(lambda: f.executed_walkforward().pk)
            transaction.set_rollback(True)
        return {"pk": pk, "rows": rows}

    return once_per_session("walkforward", compute, tmp_path_factory, worker_id)


@pytest.fixture
def executed_walkforward(btc_candles_in_db, _walkforward_rows):
    """``factories.executed_walkforward()`` as it left the database (the run, its periods, backtests and the
    holdout lock), computed once per test session and restored here with its keys."""
    from analytics.models import WalkForwardRun
    from tests.session_shared import rows_restore

    rows_restore(_walkforward_rows["rows"])
    return WalkForwardRun.objects.get(pk=_walkforward_rows["pk"])


@pytest.fixture
def clean_registry():
    """The strategy registry as it was before the test (tests that register folder strategies use it)."""
    import sys

    from strategies.registry import STRATEGIES, USER_STRATEGIES

    before, users = dict(STRATEGIES), dict(USER_STRATEGIES)
    yield
    STRATEGIES.clear()
    STRATEGIES.update(before)
    USER_STRATEGIES.clear()
    USER_STRATEGIES.update(users)
    for name in [m for m in sys.modules if m.startswith("user_strategies.")]:
        del sys.modules[name]
