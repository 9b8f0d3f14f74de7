"""ohlcv_ingest buffers provider pages into large writes: the same rows and counts as writing every page on
arrival, and a failure after some pages keeps (and counts) what was fetched before it."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

import marketdata.ingestion as ingestion
from marketdata.ingestion import ohlcv_ingest
from marketdata.models import Candle
from marketdata.selectors import candles_df
from tests.marketdata.test_ingestion import END, START, FakeSource

pytestmark = pytest.mark.django_db

MONTH_END = datetime(2022, 1, 31, tzinfo=UTC)  # 720 hourly bars


class OverlappingSource(FakeSource):
    """Pages that repeat the previous page's last rows and, once, a row within the page (as providers do)."""

    def fetch_ohlcv(self, symbol, timeframe, start, end):
        self.calls.append((symbol, timeframe, start, end))
        rows = self.data[(self.data["open_time"] >= start) & (self.data["open_time"] < end)]
        for offset in range(0, len(rows), self.page_size):
            page = rows.iloc[max(0, offset - 7):offset + self.page_size]
            if offset == self.page_size:
                page = pd.concat([page, page.iloc[:3]])
            yield page.reset_index(drop=True)


def ingest(source, monkeypatch, *, flush_rows: int, symbols=("BTC", "ETH"), end=MONTH_END):
    monkeypatch.setattr(ingestion, "get_source", lambda name: source)
    monkeypatch.setattr(ingestion, "FLUSH_ROWS", flush_rows)
    events: list[dict] = []
    result = ohlcv_ingest(symbols=list(symbols), timeframe="1h", start=START, end=end, progress=events.append)
    return result, events


def stored_frames(symbols=("BTC", "ETH")) -> dict[str, pd.DataFrame]:
    return {symbol: candles_df(symbol=symbol, timeframe="1h") for symbol in symbols}


def counts(result) -> list[tuple]:
    return [(s.symbol, s.fetched, s.inserted, s.skipped, s.pages, s.error) for s in result.symbols]


@pytest.mark.parametrize("source_class", [FakeSource, OverlappingSource])
def test_buffered_writes_store_the_same_rows_and_counts_as_writing_every_page(monkeypatch, source_class):
    page_by_page, page_events = ingest(source_class(page_size=50), monkeypatch, flush_rows=1)
    expected = stored_frames()
    Candle.objects.all().delete()

    buffered, events = ingest(source_class(page_size=50), monkeypatch, flush_rows=200)

    assert counts(buffered) == counts(page_by_page)
    assert buffered.symbols[0].inserted == 720 and buffered.symbols[0].pages == 15
    for symbol, frame in stored_frames().items():
        pd.testing.assert_frame_equal(frame, expected[symbol])
    assert [(e["event"], e.get("rows"), e.get("last")) for e in events] == \
        [(e["event"], e.get("rows"), e.get("last")) for e in page_events]
    for item in buffered.symbols:  # one event per page, and the pages' inserted add up to the symbol's
        pages = [e for e in events if e["event"] == "page" and e["symbol"] == item.symbol]
        assert len(pages) == item.pages
        assert sum(e["inserted"] for e in pages) == item.inserted
        assert [e["inserted"] > 0 for e in pages] == [n % 4 == 3 or n == item.pages - 1 for n in range(item.pages)]


def test_re_ingesting_with_a_hole_counts_skipped_rows_like_page_writes(monkeypatch):
    ingest(FakeSource(page_size=50), monkeypatch, flush_rows=200)
    Candle.objects.filter(open_time__in=[datetime(2022, 1, 2, 5, tzinfo=UTC),
                                         datetime(2022, 1, 20, 7, tzinfo=UTC)]).delete()

    again, _ = ingest(FakeSource(page_size=50), monkeypatch, flush_rows=200, symbols=("BTC",))

    assert counts(again) == [("BTC", 720, 2, 718, 15, None)]
    assert Candle.objects.filter(symbol="BTC").count() == 720


def test_a_provider_failure_after_good_pages_keeps_and_counts_every_fetched_page(monkeypatch):
    source = FakeSource(page_size=50, fail_after_pages=5)  # pages 0..4 arrive, then the connection breaks

    result, events = ingest(source, monkeypatch, flush_rows=100, symbols=("BTC",), end=END + pd.Timedelta(days=10))

    (item,) = result.symbols
    assert "SourceError" in item.error and "connection reset by peer" in item.error
    assert (item.fetched, item.inserted, item.skipped, item.pages) == (250, 250, 0, 5)
    assert Candle.objects.filter(symbol="BTC").count() == 250  # two flushes of 100, then the 5th page on failure
    pages = [e for e in events if e["event"] == "page"]
    assert [e["inserted"] for e in pages] == [0, 100, 0, 100, 50]
    assert pages[-1]["last"] == "2022-01-11T09:00:00+00:00"
    assert not result.ok


def test_a_bad_row_in_a_buffered_page_keeps_the_pages_before_it_and_names_the_row(monkeypatch):
    source = FakeSource(page_size=50)
    source.data.loc[160, "high"] = 1.0  # page 3 (rows 150..199): high below open and close
    result, events = ingest(source, monkeypatch, flush_rows=100, symbols=("BTC",))

    (btc,) = result.symbols
    assert btc.error.startswith("CandleValidationError: binance BTC 1h")
    assert "row 10 (open_time 2022-01-07 16:00:00+00:00): high must be >= open and close" in btc.error
    assert (btc.fetched, btc.inserted, btc.skipped, btc.pages) == (150, 150, 0, 3)
    stored = candles_df(symbol="BTC", timeframe="1h")
    assert len(stored) == 150 and stored.index[-1] == pd.Timestamp("2022-01-07 05:00", tz="UTC")
    # pages 0, 1 (written: 100), 2 (buffered); page 3 fails the write of pages 2 and 3, which then stores page 2
    assert [e["inserted"] for e in events if e["event"] == "page"] == [0, 100, 0]
    assert events[-1]["event"] == "done" and events[-1]["inserted"] == 150

    source.data.loc[160, "high"] = source.data.loc[160, ["open", "close"]].max() * 1.01
    fixed, _ = ingest(source, monkeypatch, flush_rows=100, symbols=("BTC",))
    assert fixed.symbols[0].resumed_from == "2022-01-07T06:00:00+00:00"
    assert (fixed.symbols[0].inserted, fixed.symbols[0].error) == (570, None)


def test_a_failure_on_the_first_page_writes_nothing_and_says_so(monkeypatch):
    source = FakeSource(page_size=50, fail_after_pages=0)

    result, events = ingest(source, monkeypatch, flush_rows=100, symbols=("BTC",))

    assert (result.symbols[0].fetched, result.symbols[0].pages) == (0, 0)
    assert "connection reset" in result.symbols[0].error
    assert [e["event"] for e in events] == ["start", "done"]
    assert Candle.objects.count() == 0
