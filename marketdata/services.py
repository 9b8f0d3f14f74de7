"""Writes of derived market data."""

from __future__ import annotations

from marketdata.loading import candles_upsert
from marketdata.resampling import resample_candles
from marketdata.selectors import candles_df

RESAMPLED_SOURCE = "resampled"


def candles_resample(*, symbol: str, source_timeframe: str, target_timeframe: str) -> dict:
    """Build and store ``target_timeframe`` candles of ``symbol`` from its stored shorter candles.

    Idempotent (existing candles are skipped); incomplete buckets are dropped and counted, not invented.
    """
    frame = candles_df(symbol=symbol, timeframe=source_timeframe)
    result = resample_candles(frame, source_timeframe, target_timeframe)
    rows = result.frame.reset_index().rename(columns={"index": "open_time"})
    rows = rows.rename(columns={rows.columns[0]: "open_time"})
    loaded = candles_upsert(rows, symbol=symbol, timeframe=target_timeframe, source=RESAMPLED_SOURCE) \
        if len(rows) else None
    return {"symbol": symbol, "from": source_timeframe, "to": target_timeframe, "buckets": len(rows),
            "inserted": loaded.inserted if loaded else 0, "skipped": loaded.skipped if loaded else 0,
            "dropped_incomplete": len(result.dropped)}
