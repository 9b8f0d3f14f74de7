"""The bundled dataset: it loads idempotently and the quality report finds its known caveats."""

from __future__ import annotations

import pytest

from marketdata.models import Candle
from marketdata.quality import assess_candles
from marketdata.quality_services import data_quality_report
from marketdata.sample import SAMPLE_FILES, read_sample_file, sample_load

pytestmark = pytest.mark.django_db


def test_every_bundled_file_exists():
    assert all(f.path.is_file() for f in SAMPLE_FILES)


def test_usdc_load_is_idempotent_and_the_report_finds_the_listing_gap():
    first = sample_load(symbols=["USDC"], timeframes=["1h"])
    again = sample_load(symbols=["USDC"], timeframes=["1h"])

    assert first["inserted"] == first["received"] > 19_000
    assert again["inserted"] == 0 and again["skipped"] == first["received"]
    report = data_quality_report(symbols=["USDC"], timeframe="1h")
    (usdc,) = report["series"]
    listing = [gap for gap in usdc["gaps"] if gap["start"].startswith("2022-09-26")]
    assert [gap["end"] for gap in listing] == ["2023-03-11T14:00:00+00:00"]
    # Between the 2021-2023 file and the 2025 one nothing is bundled: a year-long gap, reported too.
    assert any(gap["start"].startswith("2023-12-30") and gap["end"].startswith("2025-01-01") for gap in usdc["gaps"])
    assert usdc["score"] < 0.85
    assert set(Candle.objects.values_list("source", flat=True)) == {"bundled"}


def test_long_btc_file_has_its_28_exchange_gaps_and_loses_its_open_candle():
    (sample,) = [f for f in SAMPLE_FILES if f.symbol == "BTC" and f.drop_last]

    frame, adjustments = read_sample_file(sample)
    report = assess_candles(frame, "1h")

    assert adjustments["dropped"] == 1
    assert report["last"] == "2023-08-02T12:00:00+00:00"  # 13:00 was still open
    assert len(report["gaps"]) == 28
    assert report["invalid_ohlc"] == 0


def test_price_only_and_repaired_files_load():
    result = sample_load(symbols=["DAI", "USDC"], timeframes=["1d", "15m"])

    assert {(e["symbol"], e["timeframe"]) for e in result["files"]} == {("DAI", "1d"), ("USDC", "15m")}
    assert result["repaired"] == 434
    dai = data_quality_report(symbols=["DAI"], timeframe="1d")["series"][0]
    assert dai["flat"] == dai["rows"] == 365
