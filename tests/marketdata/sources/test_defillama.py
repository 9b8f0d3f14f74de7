"""DefiLlama client against a local server.

No live DefiLlama payload could be recorded, so the ``*_DOCS_SHAPE.json`` fixtures were BUILT from the
documented response schemas and field examples in DefiLlama's official OpenAPI file
(tests/data/fixtures/defillama/defillama-openapi-free.json); ``summary_fees_hyperliquid_DOCS_EXAMPLE.json``
is that file's own fees example, verbatim.
"""

from __future__ import annotations

from datetime import date

import pytest

from marketdata.sources.base import MalformedPayloadError, SourceError
from marketdata.sources.defillama import PROTOCOLS, DefiLlamaSource, ProtocolSpec, resolve_protocols
from tests.marketdata.sources.payloads import load_json

DAYS = [date(2021, 1, 1), date(2021, 1, 2), date(2021, 1, 3)]


def docs(name: str):
    return load_json(f"defillama/{name}")


@pytest.fixture
def client(httpserver) -> DefiLlamaSource:
    return DefiLlamaSource(httpserver.url_for(""), httpserver.url_for("/stablecoins"), sleep=lambda s: None,
                           max_retries=1)


def serve_aave(httpserver, fees=None):
    httpserver.expect_request("/protocol/aave").respond_with_json(docs("protocol_aave_DOCS_SHAPE.json"))
    httpserver.expect_request("/summary/fees/aave", query_string={"dataType": "dailyFees"}).respond_with_json(
        fees if fees is not None else docs("summary_fees_dailyFees_DOCS_SHAPE.json"))
    httpserver.expect_request("/summary/fees/aave", query_string={"dataType": "dailyRevenue"}).respond_with_json(
        docs("summary_fees_dailyRevenue_DOCS_SHAPE.json"))


def test_documented_fees_example_parses(httpserver, client):
    example = docs("summary_fees_hyperliquid_DOCS_EXAMPLE.json")
    httpserver.expect_request("/summary/fees/hyperliquid").respond_with_json(example)

    fees = client.fees("hyperliquid")

    assert fees.to_dict() == {date(2024, 12, 23): 1472923.0}


def test_protocol_tvl_sums_plain_chains_only(httpserver, client):
    httpserver.expect_request("/protocol/aave").respond_with_json(docs("protocol_aave_DOCS_SHAPE.json"))

    tvl = client.tvl("aave")

    payload = docs("protocol_aave_DOCS_SHAPE.json")["chainTvls"]
    expected = [eth["totalLiquidityUSD"] + poly["totalLiquidityUSD"]
                for eth, poly in zip(payload["Ethereum"]["tvl"], payload["Polygon"]["tvl"], strict=True)]
    assert list(tvl.index) == DAYS
    assert tvl.tolist() == expected  # "Ethereum-borrowed" is not TVL


def test_protocol_metrics_joins_series_by_day(httpserver, client):
    serve_aave(httpserver)

    frame, missing = client.protocol_metrics(PROTOCOLS["aave"], start=date(2021, 1, 2))

    assert missing == []
    assert list(frame.index) == DAYS[1:]
    fees = [point[1] for point in docs("summary_fees_dailyFees_DOCS_SHAPE.json")["totalDataChart"]]
    assert frame["fees"].tolist() == fees[1:]
    assert frame["volume"].isna().all() and frame["supply"].isna().all()


def test_a_series_defillama_does_not_have_is_reported_missing(httpserver, client):
    httpserver.expect_request("/protocol/aave").respond_with_json(docs("protocol_aave_DOCS_SHAPE.json"))
    httpserver.expect_request("/summary/fees/aave").respond_with_data("Not found", status=404)

    frame, missing = client.protocol_metrics(PROTOCOLS["aave"])

    assert missing == ["fees", "revenue"]
    assert frame["tvl"].notna().all()


def test_volume_chain_tvl_and_stablecoin_supply(httpserver, client):
    httpserver.expect_request("/summary/dexs/curve-dex").respond_with_json(docs("summary_dexs_DOCS_SHAPE.json"))
    httpserver.expect_request("/v2/historicalChainTvl/Arbitrum").respond_with_json(
        docs("historicalChainTvl_DOCS_SHAPE.json"))
    httpserver.expect_request("/stablecoins/stablecoin/2").respond_with_json(docs("stablecoin_DOCS_SHAPE.json"))

    volume = client.volume("dexs", "curve-dex")
    chain = client.chain_tvl("Arbitrum")
    supply = client.stablecoin_supply("2")

    assert volume.iloc[0] == 1500000000 and list(volume.index) == DAYS
    assert chain.iloc[0] == 45000000000
    assert supply.iloc[-1] == 50000000000 + 2e8


def test_live_stablecoin_shape_is_read_too(httpserver, client):
    live_shape = {"id": "2", "tokens": [{"date": 1609459200, "circulating": {"peggedUSD": 3.9e9}}]}
    httpserver.expect_request("/stablecoins/stablecoin/2").respond_with_json(live_shape)

    assert client.stablecoin_supply("2").to_dict() == {date(2021, 1, 1): 3.9e9}


@pytest.mark.parametrize("payload", [{"totalDataChart": [[1609459200]]}, {"name": "x"}, [1, 2],
                                     {"totalDataChart": [[1609459200, "lots"]]}])
def test_malformed_fees_payload(httpserver, client, payload):
    httpserver.expect_request("/summary/fees/aave").respond_with_json(payload)

    with pytest.raises(MalformedPayloadError, match="summary/fees/aave"):
        client.fees("aave")


def test_retried_like_every_source(httpserver, client):
    httpserver.expect_oneshot_request("/summary/dexs/gmx").respond_with_data("", status=429,
                                                                             headers={"Retry-After": "1"})
    httpserver.expect_request("/summary/dexs/gmx").respond_with_data("", status=503)

    with pytest.raises(SourceError, match="HTTP 503 after 2 attempts"):
        client.volume("dexs", "gmx")


def test_protocols_resolve_from_keys_and_token_symbols():
    assert resolve_protocols(["GMX", "aave", "FXS", "FRAX"]) == [PROTOCOLS["gmx"], PROTOCOLS["aave"],
                                                                 PROTOCOLS["frax"]]
    assert len(resolve_protocols(None)) == len(PROTOCOLS)
    with pytest.raises(ValueError, match="unknown protocol 'BTC'"):
        resolve_protocols(["BTC"])


def test_every_token_with_a_slug_has_a_protocol():
    from marketdata.symbols import TOKENS

    for token in TOKENS:
        if token.defillama_slug:
            assert isinstance(PROTOCOLS[token.defillama_slug], ProtocolSpec)
