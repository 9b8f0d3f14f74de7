"""Writes of derived market data."""

from __future__ import annotations

import pandas as pd

from marketdata.loading import candles_upsert
from marketdata.models import Candle
from marketdata.reconciliation import reconcile
from marketdata.selectors import candles_resampled

RESAMPLED_SOURCE = "resampled"


def candles_resample(*, symbol: str, source_timeframe: str, target_timeframe: str) -> dict:
    """Build and store ``target_timeframe`` candles of ``symbol`` from its stored shorter candles.

    Idempotent (existing candles are skipped); incomplete buckets are dropped and counted, not invented.
    """
    result = candles_resampled(symbol=symbol, source_timeframe=source_timeframe, timeframe=target_timeframe)
    rows = result.frame.reset_index().rename(columns={"index": "open_time"})
    rows = rows.rename(columns={rows.columns[0]: "open_time"})
    loaded = candles_upsert(rows, symbol=symbol, timeframe=target_timeframe, source=RESAMPLED_SOURCE) \
        if len(rows) else None
    return {"symbol": symbol, "from": source_timeframe, "to": target_timeframe, "buckets": len(rows),
            "inserted": loaded.inserted if loaded else 0, "skipped": loaded.skipped if loaded else 0,
            "dropped_incomplete": len(result.dropped)}


BINANCE_SOURCES = ("binance", "binance_csv", "bundled")
COINGECKO_SOURCES = ("coingecko", "bundled_coingecko")


def _stored_daily(symbol: str, sources: tuple[str, ...], start=None, end=None) -> pd.DataFrame:
    rows = Candle.objects.filter(symbol=symbol, timeframe="1d", source__in=sources)
    if start is not None:
        rows = rows.filter(open_time__gte=start)
    if end is not None:
        rows = rows.filter(open_time__lt=end)
    frame = pd.DataFrame(list(rows.order_by("open_time").values_list("open_time", "close")),
                         columns=["open_time", "close"])
    frame["open_time"] = pd.to_datetime(frame["open_time"], utc=True)
    return frame.set_index("open_time")


def binance_daily(symbol: str, start=None, end=None) -> pd.DataFrame:
    """Binance daily candles of ``symbol``: stored 1d ones, else built from complete stored 1h buckets."""
    stored = _stored_daily(symbol, BINANCE_SOURCES, start, end)
    if not stored.empty:
        return stored
    return candles_resampled(symbol=symbol, source_timeframe="1h", timeframe="1d", start=start, end=end).frame


def coingecko_daily(symbol: str, start=None, end=None, *, fetch: bool = False) -> pd.DataFrame:
    """CoinGecko daily candles: stored ones, or fetched from the API (``COINGECKO_BASE_URL``) when asked."""
    if not fetch:
        return _stored_daily(symbol, COINGECKO_SOURCES, start, end)
    from marketdata.sources import get_source

    pages = list(get_source("coingecko").fetch_ohlcv(symbol, "1d", start, end))
    frame = pd.concat(pages) if pages else pd.DataFrame(columns=["open_time", "close"])
    return frame.set_index("open_time")[["close"]]


def sources_reconcile(*, symbols: list[str], start=None, end=None, fetch: bool = False) -> dict:
    """Binance against CoinGecko, symbol by symbol, over the days both cover (see ``reconciliation``)."""
    results = {}
    for symbol in symbols:
        primary = binance_daily(symbol, start, end)
        secondary = coingecko_daily(symbol, start, end, fetch=fetch)
        results[symbol] = {"primary": "binance", "secondary": "coingecko",
                           **reconcile(primary, secondary)}
    return results
