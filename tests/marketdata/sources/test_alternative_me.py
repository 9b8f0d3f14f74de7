"""Fear & Greed client (alternative.me ``/fng/?limit=0``) against a local server.

The payload is REBUILT from the real readings bundled in marketdata/sample_data (see the fixtures'
PROVENANCE.md): the documented envelope around the real values, not a recording.
"""

from __future__ import annotations

from datetime import date

import pytest

from marketdata.sources.alternative_me import FearGreedSource, parse_fng
from marketdata.sources.base import MalformedPayloadError, SourceError
from tests.marketdata.sources.payloads import load_json

FNG = load_json("alternative_me/fng_limit0_REBUILT.json")


@pytest.fixture
def client(httpserver) -> FearGreedSource:
    return FearGreedSource(httpserver.url_for(""), sleep=lambda s: None, max_retries=1)


def test_whole_history_oldest_first_without_todays_open_reading(httpserver, client):
    httpserver.expect_request("/fng/", query_string={"limit": "0", "format": "json"}).respond_with_json(FNG)

    frame = client.history()

    assert len(frame) == len(FNG["data"]) - 1 == 2858  # the newest point (time_until_update) is still open
    assert frame["date"].iloc[0] == date(2018, 2, 1) and frame["date"].iloc[-1] == date(2025, 12, 2)
    assert frame["date"].is_monotonic_increasing and frame["date"].is_unique
    # 2020-03-12, the COVID crash day: extreme fear in the real series.
    covid = frame.set_index("date").loc[date(2020, 3, 12)]
    assert covid["value"] < 15 and covid["classification"] == "Extreme Fear"


@pytest.mark.parametrize("payload, problem", [
    ({"data": "x"}, "'data' array"),
    ({"data": [{"value": "40"}]}, "no timestamp"),
    ({"data": [{"value": "abc", "timestamp": "1551157200"}]}, "non-numeric"),
    ({"data": [{"value": "40", "timestamp": "1551157201"}]}, "not at a UTC midnight"),
    ({"data": [{"value": "140", "timestamp": "1551139200"}]}, "outside 0..100"),
    ({"data": [{"value": "40", "timestamp": "1551139200000"}]}, "milliseconds"),
])
def test_malformed_payloads_are_refused_with_the_reason(payload, problem):
    with pytest.raises(MalformedPayloadError, match=problem):
        parse_fng(payload)


def test_an_error_in_the_metadata_is_a_failure_whatever_the_status(httpserver, client):
    httpserver.expect_request("/fng/").respond_with_json({"data": [], "metadata": {"error": "limit too high"}})
    with pytest.raises(SourceError, match="limit too high"):
        client.history()
