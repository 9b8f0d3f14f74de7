"""The ingest_ohlcv command: summary on success, CommandError (no traceback) on bad input."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

import marketdata.ingestion as ingestion
from tests.marketdata.test_ingestion import FakeSource

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(monkeypatch) -> FakeSource:
    source = FakeSource()
    monkeypatch.setattr(ingestion, "get_source", lambda name: source)
    return source


def test_summary_lists_fetched_inserted_skipped(fake):
    out = StringIO()

    call_command("ingest_ohlcv", "--symbols", "BTC,ETH", "--timeframe", "1h", "--start", "2022-01-01",
                 "--end", "2022-01-02", stdout=out)

    text = out.getvalue()
    assert "BTC    binance    fetched       24  inserted       24  skipped        0" in text
    assert "total: fetched 48, inserted 48, skipped 0" in text


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--symbols", "DOGE"], "unknown symbol 'DOGE'"),
        (["--timeframe", "2h"], "unknown timeframe '2h'"),
        (["--start", "yesterday-ish"], "--start: 'yesterday-ish' is not a date"),
        (["--end", "2021-01-01"], "end must be after start"),
    ],
)
def test_bad_input_is_a_command_error(fake, arguments, message):
    options = {"--symbols": "BTC", "--timeframe": "1h", "--start": "2022-01-01", "--end": "2022-01-02"}
    options.update(dict(zip(arguments[::2], arguments[1::2], strict=True)))

    with pytest.raises(CommandError, match=message):
        call_command("ingest_ohlcv", *[item for pair in options.items() for item in pair], stdout=StringIO())


def test_provider_failure_is_reported_after_the_summary(fake):
    fake.fail_after_pages = 0
    out = StringIO()

    with pytest.raises(CommandError, match="ingestion failed for BTC"):
        call_command("ingest_ohlcv", "--symbols", "BTC", "--timeframe", "1h", "--start", "2022-01-01",
                     "--end", "2022-01-02", stdout=out)
    assert "ERROR SourceError: binance BTC 1h 2022-01-01T00:00:00+00:00..2022-01-02T00:00:00+00:00: connection reset by peer" in out.getvalue()
