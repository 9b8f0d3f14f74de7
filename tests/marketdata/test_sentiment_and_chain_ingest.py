"""Fear & Greed and DefiLlama chain-TVL / stablecoin ingestion through the real clients, against a local
server replaying payloads rebuilt from the bundled real files; the stored rows equal the bundled load's."""

from __future__ import annotations

import pandas as pd
import pytest

from marketdata import sample_fundamentals
from marketdata.models import OnchainMetric, SentimentIndex, Source
from marketdata.onchain_services import onchain_ingest, sentiment_ingest
from marketdata.sources.alternative_me import FearGreedSource
from marketdata.sources.defillama import DefiLlamaSource
from tests.marketdata.sources.payloads import load_json

pytestmark = pytest.mark.django_db


def test_fear_greed_ingest_is_idempotent_and_nothing_is_written_on_failure(httpserver):
    client = FearGreedSource(httpserver.url_for(""), sleep=lambda s: None, max_retries=1)
    httpserver.expect_request("/fng/").respond_with_json(load_json("alternative_me/fng_limit0_REBUILT.json"))

    first = sentiment_ingest(client=client)
    again = sentiment_ingest(client=client)

    assert (first["created"], first["failed"], first["first"], first["last"]) == (2858, [], "2018-02-01", "2025-12-02")
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2858)
    assert set(SentimentIndex.objects.values_list("source", flat=True)) == {Source.ALTERNATIVE_ME}

    httpserver.clear()
    httpserver.expect_request("/fng/").respond_with_data("<html>maintenance</html>", status=503)
    SentimentIndex.objects.all().delete()
    failed = sentiment_ingest(client=client)
    assert failed["failed"] == ["fear_greed"] and "503" in failed["error"]
    assert SentimentIndex.objects.count() == 0


def test_chain_tvl_and_stablecoin_supply_through_the_client_equal_the_bundled_files(httpserver):
    client = DefiLlamaSource(httpserver.url_for(""), httpserver.url_for("/stablecoins"), sleep=lambda s: None,
                             max_retries=1)
    httpserver.expect_request("/v2/historicalChainTvl/Arbitrum").respond_with_json(
        load_json("defillama/historicalChainTvl_Arbitrum_REBUILT.json"))
    httpserver.expect_request("/summary/fees/arbitrum").respond_with_data("not found", status=404)
    httpserver.expect_request("/stablecoins/stablecoin/2").respond_with_json(
        load_json("defillama/stablecoin_2_USDC_REBUILT.json"))

    summary = onchain_ingest(protocols=["ARB", "USDC"], client=client)

    assert summary["failed"] == []
    assert summary["protocols"]["arbitrum"]["missing"] == ["fees", "revenue"]  # DefiLlama has no such series
    stored = pd.DataFrame(list(OnchainMetric.objects.filter(protocol="arbitrum").values("date", "tvl")))
    assert len(stored) == 1447
    bundled, _ = sample_fundamentals.read_chain_tvl()
    expected = bundled["arbitrum"]["tvl"]
    expected.index = expected.index.date
    assert stored.set_index("date")["tvl"].sort_index().equals(expected.sort_index())

    supply = pd.DataFrame(list(OnchainMetric.objects.filter(protocol="usd-coin").values("date", "supply")))
    files, _ = sample_fundamentals.read_stablecoin_supply()
    usdc = files["usd-coin"]["supply"]
    usdc.index = usdc.index.date
    # The live response also carries today's intraday point (the export's last day), which the bundled load drops.
    assert len(supply) == len(usdc) + 1
    assert supply.set_index("date")["supply"].sort_index().loc[usdc.index].equals(usdc.sort_index())


def test_ingest_sentiment_command_succeeds_and_fails_loudly(httpserver, settings):
    from io import StringIO

    from django.core.management import CommandError, call_command

    settings.FEAR_GREED_BASE_URL = httpserver.url_for("")
    httpserver.expect_request("/fng/").respond_with_json(load_json("alternative_me/fng_limit0_REBUILT.json"))
    out = StringIO()
    call_command("ingest_sentiment", stdout=out)
    assert "fear_greed 2018-02-01..2025-12-02: 2858 created" in out.getvalue()

    httpserver.clear()
    httpserver.expect_request("/fng/").respond_with_json({"data": [{"value": "x", "timestamp": "1"}]})
    with pytest.raises(CommandError, match="nothing written: MalformedPayloadError"):
        call_command("ingest_sentiment")
