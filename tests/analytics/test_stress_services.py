"""The stress service on stored candles: real or proxy evidence in every window, labelled; the scenarios; the
candidates together; holdout counting of windows and of the data a proxy's beta was estimated on."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from analytics import stress_services
from analytics.models import HoldoutLock, StressEvent
from analytics.stress_events import DEFAULT_OUTAGE_HOURS, STRESS_SCENARIOS
from strategies.registry import RESEARCH_STRATEGIES

pytestmark = pytest.mark.django_db

BUNDLED_1H = ["BTC", "ETH", "SNX", "PERP", "GMX", "GNS", "USDC", "CRV", "CVX", "FXS", "ARB", "OP", "AAVE", "COMP",
              "MKR"]


@pytest.fixture
def bundled_candles(db):
    """The bundled candles the five strategies and their references need (no fundamentals: price-only rules)."""
    from marketdata.sample import sample_load

    sample_load(symbols=BUNDLED_1H, timeframes=["1h"])
    sample_load(symbols=["BTC", "ETH", "USDC"], timeframes=["1m", "15m"])


def _window(slug: str) -> StressEvent:
    return StressEvent.objects.get(slug=slug)


def test_the_default_windows_include_the_2024_crash_and_each_scenario_follows_its_window():
    event = _window("yen-carry-2024")
    assert (event.start, event.end) == (datetime(2024, 8, 2, tzinfo=UTC), datetime(2024, 8, 12, tzinfo=UTC))
    windows = stress_services.stress_windows(list(StressEvent.objects.all()))
    slugs = [w.slug for w in windows]
    assert slugs.index("svb-2023-quote-depeg") == slugs.index("svb-2023") + 1
    outage = next(w for w in windows if w.kind == "outage")
    assert outage.outage_hours == DEFAULT_OUTAGE_HOURS and outage.outage_start == pd.Timestamp("2024-08-05",
                                                                                                tz="UTC")
    assert next(w for w in stress_services.stress_windows([event], outage_hours=3) if w.kind == "outage"
                ).outage_hours == 3
    assert [w.slug for w in stress_services.stress_windows([event], scenarios=False)] == ["yen-carry-2024"]
    assert {s["event"] for s in STRESS_SCENARIOS} <= set(StressEvent.objects.values_list("slug", flat=True))


def test_every_bundled_universe_has_evidence_in_every_window(bundled_candles):
    events = list(StressEvent.objects.all())
    results = {}
    for cls in RESEARCH_STRATEGIES:
        results[cls.name] = {r["slug"]: r for r in stress_services.stress_test(cls.name, {}, events,
                                                                                timeframe=cls.timeframe)}
    for name, by_slug in results.items():
        assert len(by_slug) == len(events) + len(STRESS_SCENARIOS), name
        for slug, result in by_slug.items():
            assert result["status"] == "ok", (name, slug, result.get("message"))
            assert result["basis"] in ("real", "proxy") and result["summary"], (name, slug)
            assert len(result["equity"]["equity"]) >= 2 and result["max_drawdown"] is not None
    # COVID: no universe token has 2020 candles: all proxied
    for name, by_slug in results.items():
        covid = by_slug["covid-2020"]
        assert covid["basis"] == "proxy" and not covid["real_symbols"], name
        assert all(p["reference"] in ("BTC", "ETH") for p in covid["proxies"])
    # LUNA: ARB and OP had no candles yet; FTX: no USDC 1h after 2022-09-26, no DAI/FRAX 1h at all
    assert set(results["layer2_growth"]["luna-2022"]["proxied_symbols"]) == {"ARB", "OP"}
    assert set(results["stable_lp_yield"]["ftx-2022"]["proxied_symbols"]) == {"USDC", "DAI", "FRAX"}
    # a window with some real tokens says which were proxied
    luna = results["defi_derivatives_momentum"]["luna-2022"]
    assert set(luna["real_symbols"]) == {"SNX", "PERP"} and set(luna["proxied_symbols"]) == {"GMX", "LYRA", "GNS"}
    assert "real candles for SNX, PERP" in " ".join(luna["summary"])
    for proxy in luna["proxies"]:
        assert proxy["beta"] >= 0 and proxy["reference"] and proxy["beta_source"]
        assert (proxy["fit"] is None) == (proxy["symbol"] == "LYRA")  # LYRA has no candles of its own at all
    # SVB: USDC has candles from 2023-03-09 (the stored 15m ones, then Binance's from 03-11 14:00): DAI and FRAX
    # follow its depeg
    svb = results["stable_lp_yield"]["svb-2023"]
    assert svb["real_symbols"] == ["USDC"] and {p["reference"] for p in svb["proxies"]} == {"USDC"}
    assert any("built from stored 15m candles" in note for note in svb["notes"])
    # the 2024-08 crash: the references' 4h candles come from the stored 1m ones, their warm-up is bridged
    yen = results["curve_wars"]["yen-carry-2024"]
    assert any(note.startswith("BTC: ") and "built from stored 1m candles" in note for note in yen["notes"])
    assert {"BTC", "ETH"} <= set(yen["bridged"])
    assert yen["bridged"]["BTC"]["in_run_in"] == 0  # the run-in starts on real bars
    # the outage removes the bars of its hours; the quote-coin depeg adds USD figures
    outage = results["curve_wars"]["yen-carry-2024-outage"]["outage"]
    assert outage["hours"] == DEFAULT_OUTAGE_HOURS and outage["bars_removed"] == 2  # two 4h bars
    usd = results["stable_lp_yield"]["svb-2023-quote-depeg"]  # at 1h: the depeg's low close (0.90) is seen
    assert usd["usd"]["quote_low"] < 0.92 and usd["usd"]["max_drawdown"] > 0.05 > usd["max_drawdown"]
    assert "in USD" in " ".join(usd["summary"])
    daily = results["lending_value"]["svb-2023-quote-depeg"]["usd"]  # at 1d: only the daily closes
    assert 0.92 < daily["quote_low"] < 0.99


def test_a_token_without_candles_is_proxied_from_a_reference_and_labelled(btc_candles_in_db):
    event = StressEvent.objects.create(slug="test-window", name="Test window", start=datetime(2022, 3, 1, tzinfo=UTC),
                                       end=datetime(2022, 3, 15, tzinfo=UTC), warmup_days=5)
    real, = stress_services.stress_test("sma_crossover", {"stop_pct": 0.05}, [event], symbols=["BTC"])
    proxy, = stress_services.stress_test("sma_crossover", {"stop_pct": 0.05}, [event], symbols=["ETH"])
    assert real["basis"] == "real" and real["proxies"] == [] and "basis: real" in " ".join(real["summary"])
    assert proxy["basis"] == "proxy" and proxy["proxied_symbols"] == ["ETH"]
    spec, = proxy["proxies"]
    assert spec["reference"] == "BTC" and spec["beta"] == 1.0 and spec["fit"] is None  # no ETH history at all
    assert "ETH follows BTC's path: ETH with beta 1.00 (too little common history" in " ".join(proxy["summary"])
    # ETH indexed at 1.0 with beta 1 is BTC's path scaled: the same trades, the same return
    assert proxy["return"] == pytest.approx(real["return"], abs=1e-9)
    assert proxy["activity"]["opened"] == real["activity"]["opened"]


def test_the_candidates_together_are_stressed_like_a_strategy(bundled_candles):
    events = [_window("svb-2023"), _window("yen-carry-2024")]
    members = {"stable_lp_yield": {}, "lending_value": {}}
    result = stress_services.portfolio_stress(members, events)
    assert result["status"] == "ok" and result["members"] == list(members)
    by_slug = {w["slug"]: w for w in result["windows"]}
    assert set(by_slug) == {"svb-2023", "svb-2023-quote-depeg", "yen-carry-2024", "yen-carry-2024-outage"}
    for window in by_slug.values():
        assert window["status"] == "ok" and window["basis"] == "proxy" and window["summary"]
        assert set(window["member_activity"]) == set(members)
    assert set(by_slug["svb-2023"]["real_symbols"]) >= {"USDC", "AAVE", "COMP", "MKR"}
    assert by_slug["yen-carry-2024-outage"]["outage"]["bars_removed"] == 8  # eight 1h grid bars
    assert by_slug["svb-2023-quote-depeg"]["usd"]["max_drawdown"] > 0.05


def test_a_window_or_a_beta_estimated_on_the_holdout_is_counted_on_the_lock(db):
    lock = HoldoutLock.objects.create(strategy="sma_crossover", dataset_key="BTC|1h", fraction=0.3,
                                      holdout_start=datetime(2022, 3, 20, tzinfo=UTC),
                                      holdout_end=datetime(2022, 5, 1, tzinfo=UTC))
    ts = pd.Timestamp
    before = (ts("2022-01-01", tz="UTC"), ts("2022-02-01", tz="UTC"))
    inside = (ts("2022-04-01", tz="UTC"), ts("2022-04-20", tz="UTC"))

    def touch(ranges):
        request = ("sma_crossover", {"stop_pct": 0.05}, ["BTC"], "1h", ranges, {"total_return": 0.0})
        return stress_services._touch(request, "stress window", "test")

    assert touch([before]) is None
    assert touch([before, inside])["evaluations"] == 1  # the window is before the lock, the beta's data inside
    lock.refresh_from_db()
    assert lock.history[-1]["start"] == inside[0].isoformat() and lock.evaluations == 1
