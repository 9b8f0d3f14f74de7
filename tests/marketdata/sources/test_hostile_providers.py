"""Hostile providers, served by a local server from the real recorded payloads, each distorted one way: the
client either fails with its own error naming provider, symbol and request, or repairs and reports it. Never
a silent success with missing data, never a traceback from the transport, never an unbounded wait."""

from __future__ import annotations

import copy
import json
import socket
import threading
import time

import pandas as pd
import pytest
from werkzeug import Response

from marketdata.sources.base import MalformedPayloadError, RateLimitedError, SourceError
from marketdata.sources.binance import BinanceSource
from marketdata.sources.coingecko import CoinGeckoSource
from tests.marketdata.sources.payloads import FakeBinanceKlines, btc_daily_klines, load_json, to_wire

KLINES = "/api/v3/klines"
JAN_1 = pd.Timestamp("2021-01-01", tz="UTC")
LATER = pd.Timestamp("2023-01-01", tz="UTC")
CHART = load_json("coingecko/market_chart_range_bitcoin_eur_2020_03_01-2021_08_01.json")
CHART_PATH = "/coins/bitcoin/market_chart/range"


def binance(server, sleeps=None, **kwargs) -> BinanceSource:
    options = dict(max_retries=2, backoff_base=0.01, sleep=(sleeps.append if sleeps is not None else lambda s: None),
                   now=lambda: LATER, timeout=2.0)
    options.update(kwargs)
    return BinanceSource(server.url_for(""), **options)


def fetch(client, start=JAN_1, days=30, symbol="BTC") -> pd.DataFrame:
    pages = list(client.fetch_ohlcv(symbol, "1d", start, start + pd.Timedelta(days=days)))
    return pd.concat(pages, ignore_index=True) if pages else pd.DataFrame()


# --------------------------------------------------------------------------- Binance
def test_microsecond_open_times_are_refused(httpserver):
    rows = to_wire(btc_daily_klines().head(30))
    for row in rows:
        row[0] *= 1000
    httpserver.expect_request(KLINES).respond_with_json(rows)
    with pytest.raises(MalformedPayloadError, match=r"binance BTCUSDT 1d: timestamp .*looks like microseconds"):
        fetch(binance(httpserver))


def test_a_server_capping_pages_below_the_limit_is_walked_to_the_end(httpserver):
    klines = btc_daily_klines()
    fake = FakeBinanceKlines(klines)
    capped = lambda request: fake(_with_limit(request, 7))  # noqa: E731 - asks 1000, the server gives 7
    httpserver.expect_request(KLINES).respond_with_handler(capped)
    frame = fetch(binance(httpserver), days=30)
    assert len(frame) == 30 and frame["open_time"].is_unique  # not 7


def _with_limit(request, limit):
    from werkzeug.datastructures import ImmutableMultiDict

    args = dict(request.args)
    args["limit"] = str(limit)
    request.args = ImmutableMultiDict(args)
    return request


def test_a_server_ignoring_start_time_is_an_error(httpserver):
    rows = to_wire(btc_daily_klines().head(10))
    httpserver.expect_request(KLINES).respond_with_json(rows)  # the same first page, whatever startTime
    with pytest.raises(SourceError, match="the server ignored startTime"):
        fetch(binance(httpserver, page_limit=10), start=JAN_1 + pd.Timedelta(days=20), days=30)


def test_retry_after_is_capped_and_the_deadline_holds(httpserver):
    sleeps: list[float] = []
    httpserver.expect_request(KLINES).respond_with_response(Response("slow down", status=429,
                                                                      headers={"Retry-After": "86400"}))
    with pytest.raises(RateLimitedError):
        fetch(binance(httpserver, sleeps, max_retry_after=60.0))
    assert sleeps == [60.0, 60.0]  # not 86,400 s each


def test_a_trickling_server_is_cut_off_at_the_deadline():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def trickle():
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n[")
        for _ in range(40):  # a byte every 0.2 s: each read is fast, the body never ends
            time.sleep(0.2)
            try:
                conn.sendall(b" ")
            except OSError:
                break
        conn.close()

    threading.Thread(target=trickle, daemon=True).start()
    client = BinanceSource(f"http://127.0.0.1:{port}", max_retries=0, timeout=1.0, deadline=1.5,
                           now=lambda: LATER)
    started = time.monotonic()
    with pytest.raises(SourceError, match="deadline"):
        fetch(client)
    assert time.monotonic() - started < 5
    listener.close()


def test_a_connection_closed_mid_body_is_the_clients_error():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    port = listener.getsockname()[1]

    def cut_off():
        for _ in range(3):
            conn, _ = listener.accept()
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"10\r\n[[1609459200000,")  # a chunk promised 16 bytes, then the line goes dead
            conn.close()

    threading.Thread(target=cut_off, daemon=True).start()
    client = BinanceSource(f"http://127.0.0.1:{port}", max_retries=2, backoff_base=0.0, sleep=lambda s: None,
                           now=lambda: LATER)
    with pytest.raises(SourceError, match="failed after 3 attempts: ChunkedEncodingError"):
        fetch(client)
    listener.close()


# --------------------------------------------------------------------------- CoinGecko
def coingecko(server) -> CoinGeckoSource:
    return CoinGeckoSource(server.url_for(""), sleep=lambda s: None, now=lambda: pd.Timestamp("2024-01-01", tz="UTC"),
                           max_retries=1)


def cg_fetch(client) -> pd.DataFrame:
    pages = list(client.fetch_ohlcv("BTC", "1d", pd.Timestamp("2020-06-01", tz="UTC"),
                                    pd.Timestamp("2020-06-11", tz="UTC")))
    return pd.concat(pages, ignore_index=True) if pages else pd.DataFrame()


def test_coingecko_timestamps_in_seconds_are_refused(httpserver):
    chart = copy.deepcopy(CHART)
    for key in ("prices", "total_volumes", "market_caps"):
        chart[key] = [[ms // 1000, value] for ms, value in chart[key]]
    httpserver.expect_request(CHART_PATH).respond_with_json(chart)
    with pytest.raises(MalformedPayloadError, match=r"coingecko bitcoin market_chart/range .*looks like seconds"):
        cg_fetch(coingecko(httpserver))


def test_coingecko_null_prices_are_dropped_and_reported(httpserver):
    chart = copy.deepcopy(CHART)
    june_3 = int(pd.Timestamp("2020-06-03", tz="UTC").value // 1_000_000)
    chart["prices"] = [[ms, None if ms == june_3 else value] for ms, value in chart["prices"]]
    httpserver.expect_request(CHART_PATH).respond_with_json(chart)
    client = coingecko(httpserver)
    frame = cg_fetch(client)
    assert len(frame) == 9  # 10 days, the one closed by the null point is missing
    assert any("1 point(s) without a usable price dropped (2020-06-03)" in issue for issue in client.issues)


def test_coingecko_a_field_that_is_not_a_number_names_the_coin(httpserver):
    chart = copy.deepcopy(CHART)
    chart["prices"][100][1] = "abc"
    httpserver.expect_request(CHART_PATH).respond_with_json(chart)
    with pytest.raises(MalformedPayloadError, match=r"coingecko bitcoin market_chart/range .*prices\[100\]"):
        cg_fetch(coingecko(httpserver))


def test_coingecko_volume_stamps_a_second_off_still_match(httpserver):
    chart = copy.deepcopy(CHART)
    chart["total_volumes"] = [[ms + 1000, value] for ms, value in chart["total_volumes"]]
    httpserver.expect_request(CHART_PATH).respond_with_json(chart)
    frame = cg_fetch(coingecko(httpserver))
    assert len(frame) == 10 and frame["quote_volume"].notna().all()


def test_coingecko_empty_prices_give_no_rows(httpserver):
    httpserver.expect_request(CHART_PATH).respond_with_json({"prices": [], "market_caps": [], "total_volumes": []})
    client = coingecko(httpserver)
    assert cg_fetch(client).empty and client.raw_rows == 0  # the ingestion turns this into an error


def test_json_of_the_fixture_is_unchanged():
    assert json.dumps(CHART)[:1] == "{"


# --------------------------------------------------------------------------- through the ingestion service
@pytest.mark.django_db
def test_one_symbols_bad_payload_never_abandons_the_others(httpserver, settings):
    from marketdata.ingestion import ohlcv_ingest
    from marketdata.models import Candle

    settings.BINANCE_BASE_URL = httpserver.url_for("")
    good = FakeBinanceKlines(btc_daily_klines())

    def by_symbol(request):
        if request.args["symbol"] == "BTCUSDT":
            return Response(json.dumps([[1609459200000, "abc", "1", "1", "1", "1", 0, "1", 1, "1", "1", "0"]]),
                            content_type="application/json")
        return good(request)

    httpserver.expect_request(KLINES).respond_with_handler(by_symbol)
    result = ohlcv_ingest(symbols=["BTC", "ETH"], timeframe="1d", start=JAN_1, end=JAN_1 + pd.Timedelta(days=10))
    btc, eth = result.symbols
    assert "MalformedPayloadError: binance BTC 1d 2021-01-01" in btc.error and "not a number" in btc.error
    assert eth.error is None and eth.inserted == 10
    assert not result.ok and Candle.objects.filter(symbol="BTC").count() == 0


@pytest.mark.django_db
def test_a_provider_answering_nothing_forever_is_an_error_not_an_empty_success(httpserver, settings):
    from marketdata.ingestion import ohlcv_ingest

    settings.BINANCE_BASE_URL = httpserver.url_for("")
    httpserver.expect_request(KLINES).respond_with_json([])
    result = ohlcv_ingest(symbols=["BTC"], timeframe="1d", start=JAN_1, end=JAN_1 + pd.Timedelta(days=10))
    assert not result.ok and result.symbols[0].error.startswith("NoData: binance BTC 1d")
