"""LunarCrush client: the recorded v2 ``assets`` payload (DOGE, 366 daily points) and the v4
``/public/coins/{coin}/time-series/v2`` shape. No v4 recording exists here: the v4 payload below is
built from LunarCrush's documented response fields (time, sentiment, posts_created, posts_active,
galaxy_score, alt_rank, social_dominance, ...)."""

from __future__ import annotations

import pandas as pd
import pytest

from marketdata.sources.base import MalformedPayloadError
from marketdata.sources.lunarcrush import LunarCrushSource, parse_time_series
from tests.marketdata.sources.payloads import load_json

V2 = load_json("lunarcrush/v2_assets_DOGE_day365.json")
V4 = {
    "config": {"coin": "btc", "bucket": "day"},
    "data": [
        {"time": 1672617600, "open": 16625.5, "close": 16688.4, "high": 16759.3, "low": 16572.2,
         "volume_24h": 1.2e10, "market_cap": 3.2e11, "contributors_active": 51234, "contributors_created": 9876,
         "posts_active": 98765, "posts_created": 12345, "interactions": 45678901, "sentiment": 79,
         "spam": 4321, "galaxy_score": 64, "alt_rank": 120, "social_dominance": 21.5},
        {"time": 1672531200, "open": 16540.1, "close": 16625.5, "high": 16630.0, "low": 16490.0,
         "posts_active": 87654, "posts_created": 11111, "sentiment": 81, "galaxy_score": 59, "alt_rank": 210,
         "social_dominance": 19.75},
    ],
}


def test_recorded_v2_assets_payload_parses():
    frame = parse_time_series(V2)

    series = V2["data"][0]["timeSeries"]
    assert len(frame) == len(series) == 366
    first = frame.iloc[0]
    assert first.timestamp == pd.Timestamp(series[0]["time"], unit="s", tz="UTC")
    assert (first.sentiment, first.social_volume, first.mentions) == (
        series[0]["sentiment_relative"], series[0]["social_volume"], series[0]["tweets"])
    assert (first.galaxy_score, first.alt_rank, first.social_dominance) == (
        series[0]["galaxy_score"], series[0]["alt_rank"], series[0]["social_dominance"])
    assert frame.sentiment.between(0, 100).all()


def test_v4_shape_parses_sorted():
    frame = parse_time_series(V4)

    assert frame.timestamp.tolist() == [pd.Timestamp("2023-01-01", tz="UTC"), pd.Timestamp("2023-01-02", tz="UTC")]
    assert frame.iloc[1][["sentiment", "social_volume", "mentions", "alt_rank"]].tolist() == [79, 12345, 98765, 120]


@pytest.mark.parametrize("payload", [[], {"data": "x"}, {"data": [{"sentiment": 3}]},
                                     {"data": [{"time": 1672531200, "sentiment": "high"}]}])
def test_malformed(payload):
    with pytest.raises(MalformedPayloadError):
        parse_time_series(payload)


def test_client_sends_bearer_key_and_filters_the_window(httpserver):
    httpserver.expect_request("/public/coins/btc/time-series/v2",
                              headers={"Authorization": "Bearer k3y"}).respond_with_json(V4)
    client = LunarCrushSource(httpserver.url_for(""), api_key="k3y", sleep=lambda s: None)

    frame = client.time_series("BTC", pd.Timestamp("2023-01-02", tz="UTC"), pd.Timestamp("2023-01-03", tz="UTC"))

    assert frame.timestamp.tolist() == [pd.Timestamp("2023-01-02", tz="UTC")]
    request = httpserver.log[0][0]
    assert request.args["bucket"] == "day" and int(request.args["start"]) == 1672617600


def test_a_key_is_required():
    with pytest.raises(ValueError, match="LUNARCRUSH_API_KEY"):
        LunarCrushSource("http://localhost", api_key="")
