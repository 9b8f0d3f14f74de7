"""CoinGecko client against a local server replaying a real saved ``market_chart/range`` body
(bitcoin, daily points 2020-03-01..2021-08-01; it was recorded in EUR, the server replays it whatever
``vs_currency`` we ask for) and CoinGecko's documented ``/ohlc`` example."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from marketdata.sources.base import MalformedPayloadError, derive_quote_volume
from marketdata.sources.coingecko import API_KEY_HEADER, CoinGeckoSource, ohlc_candle_size
from tests.marketdata.sources.payloads import load_json

CHART = load_json("coingecko/market_chart_range_bitcoin_eur_2020_03_01-2021_08_01.json")
CHART_PATH = "/coins/bitcoin/market_chart/range"
NOW = pd.Timestamp("2024-01-01", tz="UTC")


@pytest.fixture
def client(httpserver) -> CoinGeckoSource:
    return CoinGeckoSource(httpserver.url_for(""), api_key="test-key", sleep=lambda s: None, now=lambda: NOW)


def fetch(client: CoinGeckoSource, start: str, end: str) -> pd.DataFrame:
    pages = list(client.fetch_ohlcv("BTC", "1d", pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")))
    return pd.concat(pages, ignore_index=True)


def test_api_key_header_is_sent_and_range_is_long_enough_for_daily_points(httpserver, client):
    httpserver.expect_request(CHART_PATH, headers={API_KEY_HEADER: "test-key"}).respond_with_json(CHART)

    fetch(client, "2020-06-01", "2020-06-10")

    request = httpserver.log[0][0]
    assert request.args["vs_currency"] == "usd"
    span_days = (int(request.args["to"]) - int(request.args["from"])) / 86400
    assert span_days > 90  # CoinGecko answers daily points only for ranges above 90 days


def test_no_key_no_header(httpserver):
    httpserver.expect_request(CHART_PATH).respond_with_json(CHART)
    keyless = CoinGeckoSource(httpserver.url_for(""), sleep=lambda s: None, now=lambda: NOW)

    fetch(keyless, "2020-06-01", "2020-06-10")

    assert API_KEY_HEADER not in httpserver.log[0][0].headers


def test_daily_candles_from_price_points_never_invent_intrabar_ranges(httpserver, client):
    httpserver.expect_request(CHART_PATH).respond_with_json(CHART)

    frame = fetch(client, "2020-06-01", "2020-06-10")

    assert frame.open_time.tolist() == list(pd.date_range("2020-06-01", periods=9, freq="D", tz="UTC"))
    assert (frame.open == frame.close).all() and (frame.high == frame.close).all() and (frame.low == frame.close).all()
    # The point at 2020-06-02 00:00 closes the 2020-06-01 candle; its 24h volume is that day's volume.
    closing_ms = int(pd.Timestamp("2020-06-02", tz="UTC").value // 1_000_000)
    price = dict(map(tuple, CHART["prices"]))[closing_ms]
    volume = dict(map(tuple, CHART["total_volumes"]))[closing_ms]
    first = frame.iloc[0]
    assert first.close == price
    assert first.quote_volume == volume and not first.quote_volume_derived
    assert first.volume == pytest.approx(volume / price)
    assert math.isnan(first.trade_count)


def test_long_windows_are_fetched_in_chunks(httpserver, client):
    httpserver.expect_request(CHART_PATH).respond_with_json(CHART)

    frame = fetch(client, "2020-03-01", "2021-07-31")

    assert len(httpserver.log) == 2  # 517 days in chunks of at most 365
    assert frame.open_time.is_unique and frame.open_time.is_monotonic_increasing
    assert frame.open_time.iloc[0] == pd.Timestamp("2020-03-01", tz="UTC")
    assert frame.open_time.iloc[-1] == pd.Timestamp("2021-07-30", tz="UTC")


def test_the_still_open_day_is_dropped(httpserver):
    now = pd.Timestamp("2020-06-05 13:00", tz="UTC")
    source = CoinGeckoSource(httpserver.url_for(""), sleep=lambda s: None, now=lambda: now)
    httpserver.expect_request(CHART_PATH).respond_with_json(CHART)

    frame = fetch(source, "2020-06-01", "2020-06-10")

    assert frame.open_time.max() == pd.Timestamp("2020-06-04", tz="UTC")


@pytest.mark.parametrize("payload", [[], {"prices": "nope"}, {"prices": [[1, 2, 3]]}])
def test_unexpected_shape(httpserver, client, payload):
    httpserver.expect_request(CHART_PATH).respond_with_json(payload)

    with pytest.raises(MalformedPayloadError):
        fetch(client, "2020-06-01", "2020-06-10")


def test_ohlc_docs_example_timestamps_are_close_times(httpserver, client):
    rows = load_json("coingecko/coins_bitcoin_ohlc_DOCS_EXAMPLE.json")
    httpserver.expect_request("/coins/bitcoin/ohlc", query_string={"vs_currency": "usd", "days": "7"}).respond_with_json(rows)

    frame = client.fetch_ohlc("bitcoin", days=7)

    assert ohlc_candle_size(7) == pd.Timedelta(hours=4)
    assert frame.open_time.iloc[0] == pd.Timestamp(rows[0][0], unit="ms", tz="UTC") - pd.Timedelta(hours=4)
    assert frame[["open", "high", "low", "close"]].iloc[1].tolist() == rows[1][1:]


def test_derived_quote_volume_uses_typical_price_and_is_flagged():
    frame = pd.DataFrame({
        "high": [110.0, 220.0], "low": [90.0, 180.0], "close": [100.0, 200.0], "volume": [2.0, 3.0],
        "quote_volume": [float("nan"), 555.0], "quote_volume_derived": [False, False],
    })

    derived = derive_quote_volume(frame)

    assert derived.quote_volume.tolist() == pytest.approx([2.0 * (110 + 90 + 100) / 3, 555.0])
    assert derived.quote_volume_derived.tolist() == [True, False]
