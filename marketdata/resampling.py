"""Aggregate candles to a longer timeframe (pure module, no Django).

A bucket (one longer candle) is built only from complete data: all of its shorter candles must exist,
otherwise the bucket is dropped and reported, never filled in (``min_coverage`` relaxes this). Buckets are
aligned to UTC: 4h at 00/04/08/..., 1d at midnight, 1w on Monday 00:00 (Binance's convention).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from marketdata.timeframes import timeframe_delta

RULES = {"5m": "5min", "15m": "15min", "1h": "1h", "4h": "4h", "1d": "1D", "1w": "W-MON"}


@dataclass
class ResampleResult:
    frame: pd.DataFrame
    dropped: list[pd.Timestamp] = field(default_factory=list)


def resample_candles(candles: pd.DataFrame, source_timeframe: str, target_timeframe: str, *,
                     min_coverage: float = 1.0) -> ResampleResult:
    """``candles`` (UTC index of open times) -> candles of ``target_timeframe`` from complete buckets."""
    source, target = timeframe_delta(source_timeframe), timeframe_delta(target_timeframe)
    if target <= source or target % source != pd.Timedelta(0):
        raise ValueError(f"cannot build {target_timeframe} candles from {source_timeframe} candles")
    if target_timeframe not in RULES:
        raise ValueError(f"no resampling rule for {target_timeframe}")
    empty = pd.DataFrame(columns=["open", "high", "low", "close", "volume", "quote_volume", "trade_count"])
    if candles.empty:
        return ResampleResult(frame=empty)
    per_bucket = target // source
    rule = RULES[target_timeframe]
    kwargs = {"label": "left", "closed": "left"}
    grouped = candles.resample(rule, **kwargs)
    out = pd.DataFrame({
        "open": grouped["open"].first(), "high": grouped["high"].max(), "low": grouped["low"].min(),
        "close": grouped["close"].last(), "volume": grouped["volume"].sum(min_count=1),
    })
    for optional in ("quote_volume", "trade_count"):
        if optional in candles.columns:
            out[optional] = grouped[optional].sum(min_count=1)
    count = grouped["close"].count()
    complete = count >= per_bucket * min_coverage
    last_open = candles.index[-1]
    # The last bucket is unfinished when the data stops before it closes.
    unfinished = out.index + target > last_open + source
    keep = complete & ~unfinished & (count > 0)
    dropped = list(out.index[(count > 0) & ~keep])
    return ResampleResult(frame=out.loc[keep], dropped=dropped)
