"""The bundled real fundamentals and sentiment: loaded under their vendors, idempotently, point in time."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from marketdata.models import OnchainMetric, SentimentIndex, Source
from marketdata.pointintime import align_daily_to_bars
from marketdata.sample_fundamentals import FUNDAMENTALS_FILES, fundamentals_load, read_aave_reserves

pytestmark = pytest.mark.django_db


def test_every_file_loads_under_its_vendor_and_a_reload_changes_nothing():
    first = fundamentals_load()
    again = fundamentals_load()

    assert first["created"] == OnchainMetric.objects.count() + SentimentIndex.objects.count() > 19_000
    assert (again["created"], again["updated"]) == (0, 0) and again["unchanged"] == first["created"]
    vendors = dict(OnchainMetric.objects.values_list("protocol", "source").distinct().order_by())
    assert {key: vendors.get(key) for key in ("arbitrum", "optimism", "aave", "compound-finance", "makerdao")} == {
        "arbitrum": Source.DEFILLAMA, "optimism": Source.DEFILLAMA, "aave": Source.TOKEN_TERMINAL,
        "compound-finance": Source.TOKEN_TERMINAL, "makerdao": Source.TOKEN_TERMINAL}
    usdc_sources = set(OnchainMetric.objects.filter(protocol="usd-coin").values_list("source", flat=True))
    assert usdc_sources == {Source.DEFILLAMA, Source.AAVE_SUBGRAPH}  # supply, and the lending APY
    assert len(FUNDAMENTALS_FILES) == len(first["files"])


def _stored_rows() -> list[list[tuple]]:
    """Every stored fundamentals row but its id and its time of writing."""
    kept = {model: [f.attname for f in model._meta.concrete_fields if f.name not in ("id", "fetched_at")]
            for model in (OnchainMetric, SentimentIndex)}
    return [list(model.objects.order_by(*columns).values_list(*columns)) for model, columns in kept.items()]


def test_reading_the_next_files_in_another_process_stores_the_rows_of_the_one_process_load(monkeypatch):
    monkeypatch.setenv("RESEARCH_WORKERS", "1")  # the files read here, one after another
    alone = fundamentals_load()
    rows_alone = _stored_rows()
    OnchainMetric.objects.all().delete()
    SentimentIndex.objects.all().delete()
    monkeypatch.setenv("RESEARCH_WORKERS", "2")  # read ahead by a forked process
    beside = fundamentals_load()
    assert beside == alone and _stored_rows() == rows_alone


def test_token_terminal_zero_market_caps_are_missing_not_zero():
    fundamentals_load()
    maker = OnchainMetric.objects.filter(protocol="makerdao", source=Source.TOKEN_TERMINAL)
    assert not maker.filter(market_cap=0).exists()
    assert maker.filter(market_cap__isnull=True).count() == 28
    # MakerDAO's second Token Terminal column is gross merchandise value, not borrows: not loaded.
    assert not maker.filter(borrowed__isnull=False).exists()


def test_aave_apy_is_the_supplied_weighted_daily_mean_of_the_hourly_rates():
    frames, dropped = read_aave_reserves()
    usdc = frames["usd-coin"]
    assert dropped == 4  # each market's partial first/last day
    # Real USDC lending yields on Aave stayed between 0 and 40% a year (the 2021 peaks were about 15%).
    assert usdc["supply_apy"].between(0, 0.4).all()
    # Borrowers pay more than lenders earn on all but a few early-2021 days (stable-rate loans then).
    assert (usdc["borrow_apy"] >= usdc["supply_apy"]).mean() > 0.97
    assert 0.02 < usdc.loc["2024-06-01", "supply_apy"] < 0.15


def test_a_daily_value_is_visible_only_after_its_day_ends_plus_the_lag():
    fundamentals_load()
    row = SentimentIndex.objects.get(index="fear_greed", date=date(2022, 11, 9))  # FTX week
    daily = pd.DataFrame({"fear_greed": [row.value]}, index=pd.DatetimeIndex([pd.Timestamp("2022-11-09", tz="UTC")]))
    bars = pd.date_range("2022-11-09 00:00", "2022-11-10 03:00", freq="1h", tz="UTC")
    aligned = align_daily_to_bars(daily, bars, pd.Timedelta(hours=1))
    # The bar closing at 2022-11-10 01:00 is the first to know the 9th's reading (end of day + 1 h lag).
    assert aligned["fear_greed"].first_valid_index() == pd.Timestamp("2022-11-10 00:00", tz="UTC")
