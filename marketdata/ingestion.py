"""Ingest candles from the providers (``marketdata.sources``) into the database.

``ohlcv_ingest`` fetches page by page and writes each page in its own transaction through
``candles_upsert``, so an interrupted run keeps what it wrote. Re-running resumes: when the stored
candles cover ``[start, last]`` without a hole, fetching starts at ``last + 1 bar``; otherwise the
whole range is fetched again and the unique constraint skips what is already there (which also
fills holes when the provider has the bars now).
"""

from __future__ import annotations

from collections.abc import Callable
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
    ``{"event": "page", "symbol", "rows", "inserted", "last"}``, ``{"event": "done", "symbol", ...}``.
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
    empty success would hide a broken or misconfigured source."""
    window = f"{item.source} {item.symbol} {timeframe} {start.isoformat()}..{end.isoformat()}"
    client = None
    try:
        client = get_source(item.source)
        for page in client.fetch_ohlcv(item.symbol, timeframe, start.to_pydatetime(), end.to_pydatetime()):
            loaded = candles_upsert(page, symbol=item.symbol, timeframe=timeframe, source=item.source)
            item.pages += 1
            item.fetched += loaded.received
            item.inserted += loaded.inserted
            item.skipped += loaded.skipped
            last = page["open_time"].max() if len(page) else None
            _emit(progress, event="page", symbol=item.symbol, rows=loaded.received, inserted=loaded.inserted,
                  last=None if last is None else last.isoformat())
        if getattr(client, "raw_rows", None) == 0:
            item.error = f"NoData: {window}: the provider returned no candles"
    except (SourceError, CandleValidationError, ValueError) as error:
        item.error = f"{type(error).__name__}: {window}: {error}"
    finally:
        item.repairs = list(getattr(client, "issues", []) or [])


def _emit(progress: ProgressCallback | None, **event) -> None:
    if progress is not None:
        progress(event)
