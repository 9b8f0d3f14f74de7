"""Ingest candles from the providers (``marketdata.sources``) into the database.

``ohlcv_ingest`` fetches page by page and writes the pages ``FLUSH_ROWS`` rows at a time (and at the
end), each write in its own transaction through ``candles_upsert``, so an interrupted run keeps what
it wrote; a provider failure or a bad row first writes the good pages fetched before it (a process
killed outright loses at most the buffered pages, which the next run fetches again). Re-running
resumes: when the stored candles cover ``[start, last]`` without a hole, fetching starts at ``last + 1 bar``; otherwise the
whole range is fetched again and the unique constraint skips what is already there (which also
fills holes when the provider has the bars now).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime

import pandas as pd
from django.db.models import Max

from core.timeutil import check_period
from core.timeutil import utc_timestamp as _utc
from marketdata.loading import CandleValidationError, candles_upsert
from marketdata.models import Candle
from marketdata.sources import SourceError, get_source, select_source
from marketdata.symbols import get_token
from marketdata.timeframes import timeframe_delta

ProgressCallback = Callable[[dict], None]
#: Most candles one request may ask for per symbol (eight years of 1m candles): a larger range is a mistake
#: (1m candles from 1900 to 2100) or belongs in several runs.
MAX_BARS_PER_SYMBOL = 5_000_000
#: Provider pages are buffered and written this many rows at a time (one transaction each).
FLUSH_ROWS = 50_000


@dataclass
class SymbolIngest:
    symbol: str
    source: str
    fetched: int = 0
    inserted: int = 0
    skipped: int = 0
    pages: int = 0
    resumed_from: str | None = None  # ISO time fetching started at when a previous run is resumed
    error: str | None = None
    repairs: list[str] = field(default_factory=list)  # what the provider's data needed (sorted, dropped...)


@dataclass
class IngestResult:
    timeframe: str
    start: str
    end: str
    symbols: list[SymbolIngest] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(item.error is None for item in self.symbols)

    def totals(self) -> dict[str, int]:
        return {key: sum(getattr(item, key) for item in self.symbols) for key in ("fetched", "inserted", "skipped")}

    def as_dict(self) -> dict:
        """JSON-safe (task results, API)."""
        return {**asdict(self), "totals": self.totals(), "ok": self.ok}


def ohlcv_ingest(
    *,
    symbols: list[str],
    timeframe: str,
    start: datetime,
    end: datetime,
    source: str | None = None,
    progress: ProgressCallback | None = None,
) -> IngestResult:
    """Fetch and store candles with ``start <= open_time < end`` for each of ``symbols``.

    ``source`` forces a provider ('binance', 'coingecko'); by default the registry picks one per
    symbol. Bad input (unknown symbol or timeframe, a source that cannot serve a symbol, an empty
    range) raises ``ValueError`` before anything is fetched. A provider failure or a bad row stops
    that symbol only: its error is in the result, pages already written stay.
    ``progress(event)`` receives dicts: ``{"event": "start", "symbol", "expected_bars"}``,
    ``{"event": "page", "symbol", "rows", "inserted", "last"}`` (one per page received; ``inserted``
    is what the write made at that page stored, 0 while the page is only buffered; the pages' ``inserted``
    add up to the symbol's unless a bad row stopped it), ``{"event": "done", "symbol", ...}`` with the
    symbol's totals.
    """
    delta = timeframe_delta(timeframe)
    start_ts, end_ts = _utc(start), _utc(end)
    check_period(start_ts, end_ts)
    bars = int((end_ts - start_ts) / delta)
    if bars > MAX_BARS_PER_SYMBOL:
        raise ValueError(f"{start_ts:%Y-%m-%d}..{end_ts:%Y-%m-%d} is {bars} {timeframe} candles per symbol, more than "
                         f"the {MAX_BARS_PER_SYMBOL} one ingestion may fetch: split the range")
    if not symbols:
        raise ValueError("no symbols given")
    plan = []
    for raw_symbol in symbols:
        token = get_token(raw_symbol)
        plan.append((token.symbol, select_source(token.symbol, timeframe, prefer=source)))
    first_bar = start_ts.ceil(delta) if delta <= pd.Timedelta(days=1) else start_ts
    result = IngestResult(timeframe=timeframe, start=start_ts.isoformat(), end=end_ts.isoformat())
    for symbol, source_name in plan:
        item = SymbolIngest(symbol=symbol, source=source_name)
        result.symbols.append(item)
        fetch_start = resume_point(symbol=symbol, timeframe=timeframe, first_bar=first_bar, end=end_ts)
        if fetch_start > first_bar:
            item.resumed_from = fetch_start.isoformat()
        _emit(progress, event="start", symbol=symbol, expected_bars=max(0, int((end_ts - fetch_start) / delta)))
        if fetch_start < end_ts:
            _ingest_symbol(item, timeframe=timeframe, start=fetch_start, end=end_ts, progress=progress)
        _emit(progress, event="done", **asdict(item))
    return result


def resume_point(*, symbol: str, timeframe: str, first_bar: pd.Timestamp, end: pd.Timestamp) -> pd.Timestamp:
    """Where fetching must start: after the last stored candle if ``[first_bar, last]`` has no hole."""
    delta = timeframe_delta(timeframe)
    stored = Candle.objects.filter(symbol=symbol, timeframe=timeframe, open_time__gte=first_bar, open_time__lt=end)
    last = stored.aggregate(last=Max("open_time"))["last"]
    if last is None:
        return first_bar
    last_ts = pd.Timestamp(last)
    expected = int((last_ts - first_bar) / delta) + 1
    if stored.filter(open_time__lte=last_ts).count() == expected:
        return last_ts + delta
    return first_bar


def _ingest_symbol(item: SymbolIngest, *, timeframe: str, start: pd.Timestamp, end: pd.Timestamp,
                   progress: ProgressCallback | None) -> None:
    """One symbol's pages; any failure is this symbol's error (named with provider, symbol and window) and the
    other symbols go on. A provider that answers with no candles at all for the window is an error too: an
    empty success would hide a broken or misconfigured source.

    Pages are buffered and written ``FLUSH_ROWS`` rows at a time (and at the end): one ``candles_upsert`` per
    page costs a fixed ~30 ms of queries and transaction, more than the rows of a 1,000-row page. When the
    provider fails, the pages fetched before the failure are written first, so what was fetched is kept as
    when every page was written on arrival. Each page's progress event is sent once the page is taken in,
    after the write it completed, if any (the next page is fetched first, to know whether this is the last)."""
    window = f"{item.source} {item.symbol} {timeframe} {start.isoformat()}..{end.isoformat()}"
    client = None
    buffer: list[pd.DataFrame] = []
    buffered = 0
    try:
        client = get_source(item.source)
        pages = client.fetch_ohlcv(item.symbol, timeframe, start.to_pydatetime(), end.to_pydatetime())
        for page, last in _with_last(pages):
            buffer.append(page)
            buffered += len(page)
            inserted = 0
            if last or buffered >= FLUSH_ROWS:
                inserted = _flush(item, buffer, timeframe=timeframe)
                buffer, buffered = [], 0
            newest = page["open_time"].max() if len(page) else None
            _emit(progress, event="page", symbol=item.symbol, rows=len(page), inserted=inserted,
                  last=None if newest is None else newest.isoformat())
        if getattr(client, "raw_rows", None) == 0:
            item.error = f"NoData: {window}: the provider returned no candles"
    except (SourceError, CandleValidationError, ValueError) as error:
        item.error = f"{type(error).__name__}: {window}: {error}"
    finally:
        item.repairs = list(getattr(client, "issues", []) or [])


def _with_last(pages: Iterable[pd.DataFrame]) -> Iterator[tuple[pd.DataFrame, bool]]:
    """``(page, is_last)`` for each page, reading one page ahead. When fetching the next page fails, the
    current one is handed out as the last (to be written) before the failure is raised."""
    iterator = iter(pages)
    try:
        current = next(iterator)
    except StopIteration:
        return
    while True:
        try:
            following = next(iterator)
        except StopIteration:
            yield current, True
            return
        except Exception as error:
            yield current, True
            raise error
        yield current, False
        current = following


def _flush(item: SymbolIngest, pages: list[pd.DataFrame], *, timeframe: str) -> int:
    """Write the buffered ``pages`` in one ``candles_upsert`` and count them into ``item``; the rows inserted.

    A bad row anywhere rejects that whole write, so then the pages are written one by one as they came: the
    pages before the bad one are stored and counted, and the bad page's error is raised (as if each page had
    been written on arrival)."""
    if not pages:
        return 0
    frame = pages[0] if len(pages) == 1 else pd.concat(pages, ignore_index=True)
    try:
        loaded = candles_upsert(frame, symbol=item.symbol, timeframe=timeframe, source=item.source)
    except CandleValidationError:
        if len(pages) == 1:
            raise
        return sum(_flush(item, [page], timeframe=timeframe) for page in pages)
    item.pages += len(pages)
    item.fetched += loaded.received
    item.inserted += loaded.inserted
    item.skipped += loaded.skipped
    return loaded.inserted


def _emit(progress: ProgressCallback | None, **event) -> None:
    if progress is not None:
        progress(event)
