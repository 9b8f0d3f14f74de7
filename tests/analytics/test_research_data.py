"""The research run's staged data load: each strategy is declared ready once all it reads is stored."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db.models import Count

from analytics.research import ResearchOptions, _quickest_first, _staged_samples, ensure_data
from marketdata.models import Candle, OnchainMetric

pytestmark = pytest.mark.django_db


def test_staged_samples_put_each_stage_after_the_previous_and_the_rest_last():
    files = [SimpleNamespace(symbol=s, name=f"{s}{i}") for i, s in enumerate(["BTC", "AAVE", "SOL", "CRV", "BTC"])]
    ordered, ends = _staged_samples(files, [("curve", {"CRV", "BTC"}), ("lending", {"AAVE", "BTC"}),
                                            ("none", {"XYZ"})])
    assert [f.name for f in ordered] == ["BTC0", "CRV3", "BTC4", "AAVE1", "SOL2"]
    assert ends == [("curve", 3), ("lending", 4), ("none", 4)]


SYMBOLS = ["GNS", "DAI", "FRAX", "USDC", "UST"]


def test_the_stage_with_the_fewest_bytes_to_load_goes_first_the_others_keep_their_order():
    from marketdata.sample import SAMPLE_FILES

    stages = [("defi", {"SNX", "PERP", "GMX", "LYRA", "GNS", "BTC"}), ("lending", {"AAVE", "COMP", "MKR", "BTC"}),
              ("stable", {"USDC", "DAI", "FRAX", "BTC"}), ("layer2", {"ARB", "OP", "BTC"})]
    assert [name for name, _ in _quickest_first(stages, list(SAMPLE_FILES))] == ["stable", "defi", "lending",
                                                                                 "layer2"]
    assert _quickest_first([], list(SAMPLE_FILES)) == []


def _stored(symbols) -> dict[tuple[str, str], int]:
    rows = Candle.objects.filter(symbol__in=symbols).values("symbol", "timeframe").annotate(n=Count("id"))
    return {(row["symbol"], row["timeframe"]): row["n"] for row in rows}


def test_each_strategy_is_ready_once_its_candles_and_the_fundamentals_are_in(monkeypatch):
    """Small real files stand in for the whole sample: DAI and FRAX (of stable_lp_yield: the fewest bytes, so
    loaded first), USDC's 15m depeg (the stress scenarios' quote coin, read by every strategy), GNS (of
    defi_derivatives_momentum) and UST (no strategy's, loaded last)."""
    from marketdata import sample

    chosen = [f for f in sample.SAMPLE_FILES
              if f.symbol in {"UST", "DAI", "FRAX", "GNS"} or (f.symbol, f.timeframe) == ("USDC", "15m")]
    monkeypatch.setattr(sample, "sample_files", lambda **_: chosen)
    options = ResearchOptions(strategies=["stable_lp_yield", "defi_derivatives_momentum"])
    seen: dict[str, dict] = {}

    def ready(name: str) -> None:
        seen[name] = {"candles": _stored(SYMBOLS), "onchain": OnchainMetric.objects.count()}

    data = ensure_data(options, ready)

    assert list(seen) == ["stable_lp_yield", "defi_derivatives_momentum"]
    final = _stored(SYMBOLS)
    stable, defi = seen["stable_lp_yield"], seen["defi_derivatives_momentum"]
    assert stable["candles"] == {key: n for key, n in final.items() if key[0] in ("DAI", "FRAX", "USDC")}
    assert ("USDC", "15m") in stable["candles"]
    assert defi["candles"] == {key: n for key, n in final.items() if key[0] != "UST"}
    assert ("GNS", "4h") in defi["candles"]  # its own timeframe derived before it starts
    assert ("UST", "1h") in final
    assert defi["onchain"] == stable["onchain"] == OnchainMetric.objects.count() > 0
    assert data["files"] == len(chosen) and data["loaded_sample"] and data["loaded_fundamentals"]
    assert [(r["symbol"], r["to"]) for r in data["resampled"]] == [("GNS", "4h")]


def test_with_candles_stored_every_strategy_is_ready_after_its_timeframe_is_derived():
    from marketdata.sample import sample_load

    sample_load(symbols=["GNS"], timeframes=["1h"])
    seen: list[tuple[str, bool]] = []
    ensure_data(ResearchOptions(strategies=["lending_value", "defi_derivatives_momentum"]),
                lambda name: seen.append((name, Candle.objects.filter(symbol="GNS", timeframe="4h").exists())))
    assert seen == [("defi_derivatives_momentum", True), ("lending_value", True)]
