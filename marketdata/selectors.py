"""Reads of market data as pandas frames."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from marketdata.models import Candle

CANDLE_COLUMNS = ["open", "high", "low", "close", "volume", "quote_volume", "trade_count"]


def candles_df(
    *, symbol: str, timeframe: str, start: datetime | None = None, end: datetime | None = None
) -> pd.DataFrame:
    """Candles of one symbol and timeframe with ``start <= open_time < end``.

    Returns a frame indexed by a UTC ``DatetimeIndex`` named ``open_time``, sorted, with float
    columns ``open high low close volume quote_volume trade_count`` (NaN where unknown).
    """
    qs = Candle.objects.filter(symbol=symbol, timeframe=timeframe)
    if start is not None:
        qs = qs.filter(open_time__gte=start)
    if end is not None:
        qs = qs.filter(open_time__lt=end)
    rows = list(qs.order_by("open_time").values_list("open_time", *CANDLE_COLUMNS))
    frame = pd.DataFrame(rows, columns=["open_time", *CANDLE_COLUMNS])
    frame["open_time"] = pd.to_datetime(frame["open_time"], utc=True)
    frame = frame.set_index("open_time")
    return frame.astype("float64")
