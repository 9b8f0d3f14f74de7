"""The stress windows side by side (``core.parallel`` with a connection per process) equal one loop, and the
holdout touches their results make are counted in window order as the loop counts them (PostgreSQL: forked
workers on their own connections need committed data)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics import stress_services
from analytics.models import HoldoutLock, StressEvent
from core import parallel
from tests.markers import committed_db

pytestmark = [committed_db, pytest.mark.postgres, pytest.mark.slow]


def _without_touches(result: dict) -> dict:
    return {**result, "windows": [{k: v for k, v in w.items() if k not in ("holdout_touch", "summary")}
                                  for w in result["windows"]]}


def test_portfolio_stress_side_by_side_equals_one_loop(requires_postgres, monkeypatch):
    from marketdata.sample import sample_load

    sample_load(symbols=["BTC", "ETH", "USDC", "AAVE", "COMP", "MKR"], timeframes=["1h"])
    sample_load(symbols=["USDC"], timeframes=["15m"])
    HoldoutLock.objects.create(strategy="stable_lp_yield", dataset_key="USDC|1h", fraction=0.3,
                               holdout_start=datetime(2023, 3, 1, tzinfo=UTC), holdout_end=datetime(2023, 4, 1, tzinfo=UTC))
    events = [StressEvent.objects.get(slug=slug) for slug in ("ftx-2022", "svb-2023")]  # seeded, even after a flush
    members = {"stable_lp_yield": {}, "lending_value": {}}
    monkeypatch.setenv("RESEARCH_WORKERS", "1")
    alone = stress_services.portfolio_stress(members, events)
    monkeypatch.setenv("RESEARCH_WORKERS", "2")
    assert parallel.database_reachable_from_workers()  # so the windows do go to two processes
    together = stress_services.portfolio_stress(members, events)
    assert len(together["windows"]) == 3 and all(w["status"] == "ok" for w in together["windows"])
    assert _without_touches(together) == _without_touches(alone)
    touched = [w["slug"] for w in alone["windows"] if "holdout_touch" in w]
    assert touched == ["svb-2023", "svb-2023-quote-depeg"] == [w["slug"] for w in together["windows"]
                                                               if "holdout_touch" in w]
    counts = [w["holdout_touch"]["stable_lp_yield"]["evaluations"] for run in (alone, together)
              for w in run["windows"] if "holdout_touch" in w]
    assert counts == [1, 2, 3, 4]  # one after the other, in window order, in both runs
