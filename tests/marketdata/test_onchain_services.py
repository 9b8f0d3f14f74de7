"""On-chain (DefiLlama -> OnchainMetric) and social (LunarCrush -> SocialMetric) ingest services.

DefiLlama payloads are built from the documented shapes (see tests/marketdata/sources/test_defillama.py);
the social payload is the recorded LunarCrush v2 response.
"""

from __future__ import annotations

import copy
from datetime import date

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from marketdata.models import OnchainMetric, SocialMetric
from marketdata.onchain_services import onchain_ingest, social_ingest
from marketdata.sources.defillama import DefiLlamaSource
from marketdata.sources.lunarcrush import LunarCrushSource
from tests.marketdata.sources.payloads import load_json

pytestmark = pytest.mark.django_db

FEES = load_json("defillama/summary_fees_dailyFees_DOCS_SHAPE.json")
V2_DOGE = load_json("lunarcrush/v2_assets_DOGE_day365.json")


@pytest.fixture
def llama(httpserver) -> DefiLlamaSource:
    return DefiLlamaSource(httpserver.url_for(""), httpserver.url_for("/stablecoins"), sleep=lambda s: None,
                           max_retries=0)


def serve(httpserver, fees=FEES):
    httpserver.clear()
    httpserver.expect_request("/protocol/aave").respond_with_json(load_json("defillama/protocol_aave_DOCS_SHAPE.json"))
    httpserver.expect_request("/summary/fees/aave", query_string={"dataType": "dailyFees"}).respond_with_json(fees)
    httpserver.expect_request("/summary/fees/aave", query_string={"dataType": "dailyRevenue"}).respond_with_json(
        load_json("defillama/summary_fees_dailyRevenue_DOCS_SHAPE.json"))
    httpserver.expect_request("/stablecoins/stablecoin/5").respond_with_json(
        load_json("defillama/stablecoin_DOCS_SHAPE.json"))


def test_onchain_ingest_writes_days_and_a_rerun_adds_nothing(httpserver, llama):
    serve(httpserver)

    first = onchain_ingest(protocols=["AAVE", "DAI"], client=llama)
    second = onchain_ingest(protocols=["AAVE", "DAI"], client=llama)

    assert first["created"] == 6 and first["failed"] == []
    assert (second["created"], second["updated"], second["unchanged"]) == (0, 0, 6)
    assert OnchainMetric.objects.count() == 6
    day = OnchainMetric.objects.get(protocol="aave", date=date(2021, 1, 1))
    assert (day.fees, day.source) == (FEES["totalDataChart"][0][1], "defillama")
    assert day.tvl == 3000000000 + 1500000000 and day.supply is None
    assert OnchainMetric.objects.get(protocol="dai", date=date(2021, 1, 3)).supply == 50000000000 + 2e8


def test_a_changed_value_updates_its_row(httpserver, llama):
    serve(httpserver)
    onchain_ingest(protocols=["aave"], client=llama)
    revised = copy.deepcopy(FEES)
    revised["totalDataChart"][1][1] = 1234.5
    serve(httpserver, fees=revised)

    summary = onchain_ingest(protocols=["aave"], client=llama)

    assert (summary["created"], summary["updated"], summary["unchanged"]) == (0, 1, 2)
    assert OnchainMetric.objects.get(protocol="aave", date=date(2021, 1, 2)).fees == 1234.5


def test_date_window_is_inclusive(httpserver, llama):
    serve(httpserver)

    onchain_ingest(protocols=["aave"], start=date(2021, 1, 2), end=date(2021, 1, 2), client=llama)

    assert list(OnchainMetric.objects.values_list("date", flat=True)) == [date(2021, 1, 2)]


def test_a_malformed_payload_writes_nothing_for_that_protocol_only(httpserver, llama):
    serve(httpserver, fees={"totalDataChart": [[1609459200, "lots"]]})

    summary = onchain_ingest(protocols=["aave", "dai"], client=llama)

    assert summary["failed"] == ["aave"]
    assert "MalformedPayloadError" in summary["protocols"]["aave"]["error"]
    assert not OnchainMetric.objects.filter(protocol="aave").exists()
    assert OnchainMetric.objects.filter(protocol="dai").count() == 3


def test_a_row_the_database_rejects_rolls_back_the_whole_protocol(httpserver, llama):
    negative = copy.deepcopy(FEES)
    negative["totalDataChart"][2][1] = -5.0  # fees must be >= 0 (database constraint)
    serve(httpserver, fees=negative)

    summary = onchain_ingest(protocols=["aave"], client=llama)

    assert summary["failed"] == ["aave"]
    assert OnchainMetric.objects.count() == 0


def test_ingest_onchain_command_prints_a_summary(httpserver, settings, capsys):
    serve(httpserver)
    settings.DEFILLAMA_BASE_URL = httpserver.url_for("")

    call_command("ingest_onchain", "--protocol", "aave")

    assert "aave: 3 created, 0 updated, 0 unchanged" in capsys.readouterr().out
    assert OnchainMetric.objects.count() == 3


def test_ingest_onchain_takes_the_readme_spelling_and_fails_loudly_when_a_protocol_fails(httpserver, settings,
                                                                                          capsys, caplog):
    negative = copy.deepcopy(FEES)
    negative["totalDataChart"][2][1] = -5.0  # fees must be >= 0: this protocol fails, the other is kept
    serve(httpserver, fees=negative)
    settings.DEFILLAMA_BASE_URL = httpserver.url_for("")
    settings.DEFILLAMA_STABLECOINS_BASE_URL = httpserver.url_for("/stablecoins")

    with pytest.raises(CommandError, match=r"on-chain: .*1 of 2 protocol\(s\) failed: aave"):
        call_command("ingest_onchain", "--protocols", "aave,dai")

    err = capsys.readouterr().err
    assert err.count("aave: FAILED, nothing written") == 1  # reported once, not also by the logger
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert OnchainMetric.objects.filter(protocol="dai").exists()


class RecordedLunarCrush(LunarCrushSource):
    """Serves the recorded v2 DOGE payload through the real parser, whatever token is asked."""

    def __init__(self, payload) -> None:
        super().__init__("http://unused", api_key="k", sleep=lambda s: None)
        self.payload = payload

    def get_json(self, path, params=None, *, weight=1):
        return self.payload


def test_social_ingest_is_idempotent():
    client = RecordedLunarCrush(V2_DOGE)
    window = dict(tokens=["BTC"], start=date(2021, 3, 1), end=date(2021, 4, 1), client=client)

    first = social_ingest(**window)
    second = social_ingest(**window)

    assert first["created"] == 31 and second["created"] == 0 and second["unchanged"] == 31
    point = SocialMetric.objects.get(timestamp=pd.Timestamp("2021-03-01", tz="UTC"))
    recorded = next(p for p in V2_DOGE["data"][0]["timeSeries"] if p["time"] == 1614556800)
    assert (point.token, point.sentiment, point.galaxy_score, point.alt_rank) == (
        "BTC", recorded["sentiment_relative"], recorded["galaxy_score"], recorded["alt_rank"])


def test_social_malformed_payload_writes_nothing():
    summary = social_ingest(tokens=["BTC"], start=date(2021, 3, 1), end=date(2021, 4, 1),
                            client=RecordedLunarCrush({"data": [{"sentiment": 50}]}))

    assert summary["failed"] == ["BTC"] and SocialMetric.objects.count() == 0


def test_without_an_api_key_social_ingest_says_so(settings, capsys):
    settings.LUNARCRUSH_API_KEY = ""

    summary = social_ingest(tokens=["BTC"], start=date(2023, 1, 1), end=date(2023, 2, 1))
    with pytest.raises(CommandError, match="LUNARCRUSH_API_KEY is not set"):  # nothing done is not a success
        call_command("ingest_social", "--tokens", "BTC,ETH", "--start", "2023-01-01", "--end", "2023-02-01")

    assert summary["skipped"] and "LUNARCRUSH_API_KEY is not set" in summary["message"]
    assert SocialMetric.objects.count() == 0


def test_ingest_social_refuses_an_unknown_token_before_any_call(settings):
    settings.LUNARCRUSH_API_KEY = "k"
    with pytest.raises(CommandError, match="--tokens: unknown symbol 'DOGE'"):
        call_command("ingest_social", "--tokens", "BTC,DOGE", "--start", "2023-01-01", "--end", "2023-02-01")


def test_new_rows_read_back_as_the_orms_own_bulk_create_writes_them():
    """On SQLite new rows go in by one ``executemany``: the same values, NULLs and timestamps as ``bulk_create``."""
    from marketdata.onchain_services import onchain_upsert

    days = [date(2024, 1, 1), date(2024, 1, 2)]
    frame = pd.DataFrame({"tvl": [1.5e9, float("nan")], "fees": [float("nan"), 2.25]}, index=days)
    assert onchain_upsert("aave", frame, "defillama") == {"created": 2, "updated": 0, "unchanged": 0}
    OnchainMetric.objects.bulk_create([
        OnchainMetric(protocol="reference", date=days[0], tvl=1.5e9, fees=None, source="defillama"),
        OnchainMetric(protocol="reference", date=days[1], tvl=None, fees=2.25, source="defillama")])

    def stored(protocol: str) -> list[tuple]:
        return list(OnchainMetric.objects.filter(protocol=protocol).order_by("date").values_list(
            "date", "tvl", "fees", "volume", "source"))

    assert stored("aave") == stored("reference") == [(days[0], 1.5e9, None, None, "defillama"),
                                                     (days[1], None, 2.25, None, "defillama")]
    assert all(row.fetched_at is not None for row in OnchainMetric.objects.filter(protocol="aave"))
    assert onchain_upsert("aave", frame, "defillama") == {"created": 0, "updated": 0, "unchanged": 2}
