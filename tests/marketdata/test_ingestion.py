"""ohlcv_ingest: page-by-page writes, resumption, validation; one run through the real Binance client."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest
from werkzeug import Response

import marketdata.ingestion as ingestion
from marketdata.ingestion import ohlcv_ingest
from marketdata.models import Candle
from marketdata.sources import SourceError
from tests.marketdata.test_loading import make_candles

pytestmark = pytest.mark.django_db

START = datetime(2022, 1, 1, tzinfo=UTC)
END = datetime(2022, 1, 6, tzinfo=UTC)  # 120 hourly bars


class FakeSource:
    """Serves ``make_candles`` in pages of ``page_size``; fails after ``fail_after_pages`` pages."""

    def __init__(self, *, page_size: int = 50, fail_after_pages: int | None = None) -> None:
        self.page_size = page_size
        self.fail_after_pages = fail_after_pages
        self.fail_symbols: set[str] = set()
        self.calls: list[tuple[str, str, datetime, datetime]] = []
        self.data = make_candles(24 * 30)  # from 2022-01-01, hourly

    def fetch_ohlcv(self, symbol, timeframe, start, end):
        self.calls.append((symbol, timeframe, start, end))
        if symbol in self.fail_symbols:
            raise SourceError(f"HTTP 404 for {symbol}", 404)
        rows = self.data[(self.data["open_time"] >= start) & (self.data["open_time"] < end)]
        for number, offset in enumerate(range(0, len(rows), self.page_size)):
            if self.fail_after_pages is not None and number >= self.fail_after_pages:
                raise SourceError("connection reset by peer")
            yield rows.iloc[offset:offset + self.page_size].reset_index(drop=True)


@pytest.fixture
def fake(monkeypatch) -> FakeSource:
    source = FakeSource()
    monkeypatch.setattr(ingestion, "get_source", lambda name: source)
    return source


def test_ingest_writes_every_page_and_reports_counts(fake):
    events = []

    result = ohlcv_ingest(symbols=["btc"], timeframe="1h", start=START, end=END, progress=events.append)

    (item,) = result.symbols
    assert (item.symbol, item.source, item.fetched, item.inserted, item.skipped, item.pages) == \
        ("BTC", "binance", 120, 120, 0, 3)
    assert result.ok and result.totals() == {"fetched": 120, "inserted": 120, "skipped": 0}
    assert Candle.objects.filter(symbol="BTC", timeframe="1h").count() == 120
    assert [e["event"] for e in events] == ["start", "page", "page", "page", "done"]
    assert events[0]["expected_bars"] == 120
    json.dumps(result.as_dict())


def test_cut_off_run_keeps_its_pages_and_the_rerun_resumes_after_the_last_candle(fake):
    fake.fail_after_pages = 1

    cut = ohlcv_ingest(symbols=["BTC"], timeframe="1h", start=START, end=END)

    assert "connection reset" in cut.symbols[0].error
    assert Candle.objects.count() == 50
    fake.fail_after_pages = None
    resumed = ohlcv_ingest(symbols=["BTC"], timeframe="1h", start=START, end=END)

    assert fake.calls[-1][2] == datetime(2022, 1, 3, 2, tzinfo=UTC)  # bar 50
    assert resumed.symbols[0].resumed_from == "2022-01-03T02:00:00+00:00"
    assert (resumed.symbols[0].fetched, resumed.symbols[0].inserted) == (70, 70)
    assert Candle.objects.count() == 120


def test_complete_range_fetches_nothing_again(fake):
    ohlcv_ingest(symbols=["BTC"], timeframe="1h", start=START, end=END)
    calls = len(fake.calls)

    again = ohlcv_ingest(symbols=["BTC"], timeframe="1h", start=START, end=END)

    assert len(fake.calls) == calls
    assert again.symbols[0].fetched == 0


def test_a_hole_in_stored_data_refetches_the_range_and_fills_it(fake):
    ohlcv_ingest(symbols=["BTC"], timeframe="1h", start=START, end=END)
    Candle.objects.filter(open_time=datetime(2022, 1, 2, 5, tzinfo=UTC)).delete()

    again = ohlcv_ingest(symbols=["BTC"], timeframe="1h", start=START, end=END)

    assert fake.calls[-1][2] == START
    assert (again.symbols[0].inserted, again.symbols[0].skipped) == (1, 119)


def test_source_failure_of_one_symbol_does_not_stop_the_others(fake):
    fake.fail_symbols = {"SOL"}

    result = ohlcv_ingest(symbols=["SOL", "ETH"], timeframe="1h", start=START, end=END)

    assert [s.symbol for s in result.symbols] == ["SOL", "ETH"]
    assert "HTTP 404 for SOL" in result.symbols[0].error
    assert result.symbols[1].error is None and result.symbols[1].inserted == 120
    assert not result.ok


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"symbols": ["DOGE"]}, "unknown symbol 'DOGE'"),
        ({"timeframe": "7m"}, "unknown timeframe '7m'"),
        ({"start": END, "end": START}, "end must be after start"),
        ({"symbols": ["DAI"], "source": "binance"}, "cannot serve DAI"),
        ({"symbols": []}, "no symbols"),
    ],
)
def test_bad_input_is_refused_before_fetching(fake, kwargs, message):
    arguments = {"symbols": ["BTC"], "timeframe": "1h", "start": START, "end": END, **kwargs}

    with pytest.raises(ValueError, match=message):
        ohlcv_ingest(**arguments)
    assert fake.calls == []


def binance_kline_handler(candles: pd.DataFrame):
    """A /api/v3/klines endpoint over ``candles`` honouring startTime, endTime and limit."""
    millis = candles["open_time"].dt.as_unit("ms").astype("int64").to_numpy()

    def handler(request):
        start, end = int(request.args["startTime"]), int(request.args["endTime"])
        limit = int(request.args.get("limit", 500))
        rows = candles[(millis >= start) & (millis <= end)].iloc[:limit]
        payload = [[int(t.value // 10**6), str(o), str(h), str(lo), str(c), str(v), int(t.value // 10**6) + 3599999,
                    str(q), int(n), "0", "0", "0"]
                   for t, o, h, lo, c, v, q, n in rows[["open_time", "open", "high", "low", "close", "volume",
                                                       "quote_volume", "trade_count"]].itertuples(index=False)]
        return Response(json.dumps(payload), content_type="application/json")

    return handler


def test_ingest_through_the_real_binance_client(httpserver, settings):
    candles = make_candles(1500, start="2022-01-01")
    httpserver.expect_request("/api/v3/klines").respond_with_handler(binance_kline_handler(candles))
    settings.BINANCE_BASE_URL = httpserver.url_for("").rstrip("/")
    end = datetime(2022, 2, 1, tzinfo=UTC)  # 744 bars, one page of 1000

    result = ohlcv_ingest(symbols=["BTC"], timeframe="1h", start=START, end=end, source="binance")
    again = ohlcv_ingest(symbols=["BTC"], timeframe="1h", start=START, end=datetime(2022, 2, 15, tzinfo=UTC))

    assert result.ok, result.symbols[0].error
    assert result.symbols[0].inserted == 744
    assert again.symbols[0].resumed_from == "2022-02-01T00:00:00+00:00"
    assert again.symbols[0].inserted == 14 * 24
    stored = Candle.objects.get(symbol="BTC", open_time=datetime(2022, 1, 10, tzinfo=UTC))
    expected = candles.set_index("open_time").loc[pd.Timestamp("2022-01-10", tz="UTC")]
    assert (stored.close, stored.quote_volume, stored.trade_count) == \
        (pytest.approx(expected["close"]), pytest.approx(expected["quote_volume"]), int(expected["trade_count"]))
