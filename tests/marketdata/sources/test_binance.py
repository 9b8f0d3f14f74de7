"""Binance klines client against a local HTTP server replaying real klines.

Pages are built in Binance's wire format (12-field arrays of strings, exactly like the verbatim
recording binance/api_v3_klines_1m_limit500_verbatim.json) from the real BTCUSDT daily klines.
"""

from __future__ import annotations

import time

import pandas as pd
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from marketdata.sources.base import BadRowError, MalformedPayloadError, RateLimitedError, SourceError
from marketdata.sources.binance import BinanceSource, parse_klines
from tests.marketdata.sources.payloads import FakeBinanceKlines, btc_daily_klines, load_json, to_wire

KLINES = "/api/v3/klines"
JAN_1 = pd.Timestamp("2021-01-01", tz="UTC")
LATER = pd.Timestamp("2023-01-01", tz="UTC")
JAN_21 = JAN_1 + pd.Timedelta(days=20)


@pytest.fixture
def klines() -> pd.DataFrame:
    return btc_daily_klines()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(httpserver, sleeps):
    def make(**kwargs) -> BinanceSource:
        options = dict(max_retries=3, backoff_base=0.5, sleep=sleeps.append, now=lambda: LATER, timeout=2.0)
        options.update(kwargs)
        return BinanceSource(httpserver.url_for(""), **options)

    return make


@pytest.fixture
def threaded_server():
    """Its own threaded server: a handler sleeping past the client timeout blocks neither the retry
    nor the shared server of the next test."""
    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def collect(client: BinanceSource, start=JAN_1, end=JAN_21, symbol="BTC") -> pd.DataFrame:
    return pd.concat(list(client.fetch_ohlcv(symbol, "1d", start, end)), ignore_index=True)


def test_verbatim_recording_parses_to_the_contract_columns():
    rows = load_json("binance/api_v3_klines_1m_limit500_verbatim.json")
    frame = parse_klines(rows)
    assert len(frame) == 500
    first = frame.iloc[0]
    assert first.open_time == pd.Timestamp(rows[0][0], unit="ms", tz="UTC")
    assert (first.open, first.high, first.volume) == (float(rows[0][1]), float(rows[0][2]), float(rows[0][5]))
    assert first.quote_volume == float(rows[0][7]) and first.trade_count == rows[0][8]
    assert not frame.quote_volume_derived.any()


def test_pagination_walks_start_time_across_pages(httpserver, make_client, klines):
    fake = FakeBinanceKlines(klines)
    httpserver.expect_request(KLINES).respond_with_handler(fake)
    client = make_client(page_limit=7)

    pages = list(client.fetch_ohlcv("BTC", "1d", JAN_1, JAN_1 + pd.Timedelta(days=20)))

    assert [len(page) for page in pages] == [7, 7, 6]
    frame = pd.concat(pages, ignore_index=True)
    expected = klines.head(20)
    assert list(frame.open_time) == list(pd.to_datetime(expected.open_time, unit="ms", utc=True))
    assert frame.close.tolist() == pytest.approx(expected.close.tolist())
    assert frame.quote_volume.tolist() == pytest.approx(expected.quote_asset_volume.tolist())
    assert frame.trade_count.tolist() == expected.number_of_trades.astype(float).tolist()
    starts = [int(request["startTime"]) for request in fake.requests]
    assert starts == [int(expected.open_time.iloc[i]) for i in (0, 7, 14)]
    assert all(request["symbol"] == "BTCUSDT" and request["interval"] == "1d" for request in fake.requests)


def test_only_candles_inside_the_window_and_never_the_still_open_one(httpserver, make_client, klines):
    httpserver.expect_request(KLINES).respond_with_handler(FakeBinanceKlines(klines))
    now = JAN_1 + pd.Timedelta(days=9, hours=5)  # the 2021-01-10 candle is still open
    client = make_client(page_limit=50, now=lambda: now)

    frame = collect(client, start=JAN_1 + pd.Timedelta(days=2), end=JAN_1 + pd.Timedelta(days=20))

    assert frame.open_time.min() == JAN_1 + pd.Timedelta(days=2)
    assert frame.open_time.max() == JAN_1 + pd.Timedelta(days=8)
    assert any("still-open" in issue for issue in client.issues)


def test_429_honours_retry_after_then_succeeds(httpserver, make_client, klines, sleeps):
    httpserver.expect_oneshot_request(KLINES).respond_with_data("", status=429, headers={"Retry-After": "7"})
    httpserver.expect_request(KLINES).respond_with_json(to_wire(klines.head(3)))

    frame = collect(make_client(), end=JAN_1 + pd.Timedelta(days=3))

    assert len(frame) == 3
    assert sleeps == [7.0]


def test_418_ban_is_waited_out_and_gives_up_after_max_retries(httpserver, make_client, sleeps):
    httpserver.expect_request(KLINES).respond_with_data("", status=418, headers={"Retry-After": "120"})

    with pytest.raises(RateLimitedError, match="418") as raised:
        collect(make_client(max_retries=2))

    assert raised.value.retry_after == 120.0
    assert sleeps == [120.0, 120.0]
    assert len(httpserver.log) == 3


def test_5xx_is_retried_with_exponential_backoff_then_succeeds(httpserver, make_client, klines, sleeps):
    httpserver.expect_oneshot_request(KLINES).respond_with_data("busy", status=503)
    httpserver.expect_oneshot_request(KLINES).respond_with_data("oops", status=500)
    httpserver.expect_request(KLINES).respond_with_json(to_wire(klines.head(2)))

    frame = collect(make_client(), end=JAN_1 + pd.Timedelta(days=2))

    assert len(frame) == 2
    assert sleeps == [0.5, 1.0]


def test_5xx_gives_up_after_max_retries(httpserver, make_client, sleeps):
    httpserver.expect_request(KLINES).respond_with_data("down", status=502)

    with pytest.raises(SourceError, match="HTTP 502 after 4 attempts"):
        collect(make_client(max_retries=3))

    assert sleeps == [0.5, 1.0, 2.0]


def test_timeout_is_retried(threaded_server, make_client, klines, sleeps):
    def slow(request):
        time.sleep(0.5)
        return Response("[]", content_type="application/json")

    threaded_server.expect_oneshot_request(KLINES).respond_with_handler(slow)
    threaded_server.expect_request(KLINES).respond_with_json(to_wire(klines.head(2)))
    client = make_client(timeout=0.1)
    client.base_url = threaded_server.url_for("").rstrip("/")

    frame = collect(client, end=JAN_1 + pd.Timedelta(days=2))

    assert len(frame) == 2
    assert sleeps == [0.5]


def test_timeouts_give_up(threaded_server, make_client, sleeps):
    def slow(request):
        time.sleep(0.3)
        return Response("[]", content_type="application/json")

    threaded_server.expect_request(KLINES).respond_with_handler(slow)
    client = make_client(timeout=0.1, max_retries=1)
    client.base_url = threaded_server.url_for("").rstrip("/")

    with pytest.raises(SourceError, match="failed after 2 attempts: ReadTimeout"):
        collect(client)
    assert sleeps == [0.5]


def test_malformed_json_stops_the_request_without_retrying(httpserver, make_client):
    httpserver.expect_request(KLINES).respond_with_data('[[1609459200000, "29000.0", ', content_type="application/json")

    client = make_client()
    with pytest.raises(MalformedPayloadError, match="not JSON"):
        collect(client)

    assert client.request_count == 1


@pytest.mark.parametrize("payload", [
    {"code": -1121, "msg": "Invalid symbol."},
    [{"open_time": 1609459200000}],
    [[1609459200000, "29000", "29600"]],
    [[1609459200000, "abc", "1", "1", "1", "1", 1609545599999, "1", 1, "1", "1", "0"]],
])
def test_unexpected_shape_is_a_malformed_payload(httpserver, make_client, payload):
    httpserver.expect_request(KLINES).respond_with_json(payload)

    with pytest.raises(MalformedPayloadError):
        collect(make_client())


def test_out_of_order_and_duplicated_candles_are_sorted_deduplicated_and_reported(httpserver, make_client, klines):
    rows = to_wire(klines.head(5))
    shuffled = [rows[3], rows[0], rows[2], rows[1], rows[2], rows[4]]
    httpserver.expect_request(KLINES).respond_with_json(shuffled)
    client = make_client()

    frame = collect(client, end=JAN_1 + pd.Timedelta(days=5))

    assert list(frame.open_time) == list(pd.to_datetime(klines.open_time.head(5), unit="ms", utc=True))
    assert any("out of order" in issue for issue in client.issues)
    assert any("1 duplicated" in issue for issue in client.issues)


def test_bad_row_is_named(httpserver, make_client, klines):
    rows = to_wire(klines.head(4))
    rows[2][2], rows[2][3] = rows[2][3], rows[2][2]  # swap high and low: high < low
    httpserver.expect_request(KLINES).respond_with_json(rows)

    with pytest.raises(BadRowError, match=r"bad row 2 \(open_time=2021-01-03 00:00:00\+00:00\): high < low") as bad:
        collect(make_client(), end=JAN_1 + pd.Timedelta(days=4))

    assert bad.value.index == 2


def test_negative_volume_is_a_bad_row(httpserver, make_client, klines):
    rows = to_wire(klines.head(3))
    rows[1][5] = "-1.0"
    httpserver.expect_request(KLINES).respond_with_json(rows)

    with pytest.raises(BadRowError, match=r"bad row 1 .*negative volume"):
        collect(make_client(), end=JAN_1 + pd.Timedelta(days=3))


def test_each_request_is_charged_its_weight_and_the_server_count_is_adopted(httpserver, klines, sleeps):
    fake = FakeBinanceKlines(klines, used_weight_header=1199)
    httpserver.expect_request(KLINES).respond_with_handler(fake)
    clock = [0.0]
    client = BinanceSource(httpserver.url_for(""), page_limit=5, sleep=sleeps.append, clock=lambda: clock[0],
                           now=lambda: LATER)

    frame = collect(client, end=JAN_1 + pd.Timedelta(days=15))

    assert len(frame) == 15 and len(fake.requests) == 3
    assert client.rate_limiter.total_weight == 3 * 2
    assert client.server_used_weight == 1199
    # After the first answer the server says 1199/1200 are used: each later request waits for the window.
    assert sleeps == [60.0, 60.0]


def test_symbols_binance_does_not_list_are_refused(make_client):
    with pytest.raises(ValueError, match="cannot serve LYRA"):
        next(make_client().fetch_ohlcv("LYRA", "1d", JAN_1, LATER))
