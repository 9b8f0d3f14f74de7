"""The one UTC helper: every timestamp the platform stores or compares is timezone-aware UTC.

Pure (no Django). Naive values are taken to be UTC; aware ones are converted.

>>> utc_timestamp("2024-01-01 02:00+02:00")
Timestamp('2024-01-01 00:00:00+0000', tz='UTC')
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd


def utc_timestamp(value: str | date | datetime | pd.Timestamp | Any) -> pd.Timestamp:
    """``value`` as a UTC ``pd.Timestamp``; ``ValueError`` (with the value) for what cannot be one."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"not a date-time: {value!r}") from exc
    if stamp is pd.NaT:
        raise ValueError(f"not a date-time: {value!r}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def utc_datetime(value: str | date | datetime | pd.Timestamp | Any) -> datetime:
    """``value`` as an aware ``datetime`` in UTC (what the ORM stores)."""
    return utc_timestamp(value).to_pydatetime()


def utc_index(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """A ``DatetimeIndex`` in UTC (naive ones are taken to be UTC)."""
    return index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")


#: No crypto market data exists before the first Bitcoin block; nothing is scheduled after 2100. Dates
#: outside this range are input mistakes (0001-01-01, 9999-12-31), refused before any work.
EARLIEST = pd.Timestamp("2009-01-03", tz="UTC")
LATEST = pd.Timestamp("2100-01-01", tz="UTC")


def market_timestamp(value: Any, what: str = "date") -> pd.Timestamp:
    """``value`` as a UTC timestamp within :data:`EARLIEST` .. :data:`LATEST`; ``ValueError`` naming ``what``."""
    stamp = utc_timestamp(value)
    if not EARLIEST <= stamp <= LATEST:
        day = f"{stamp.year:04d}-{stamp.month:02d}-{stamp.day:02d}"
        raise ValueError(f"{what} {day} is outside {EARLIEST:%Y-%m-%d} .. {LATEST:%Y-%m-%d}")
    return stamp


def epoch_unit(magnitude: float) -> str:
    """Unit of epoch timestamps of this size: 's', 'ms', 'us' (Binance 2025+ dumps) or 'ns'."""
    if magnitude < 1e11:
        return "s"
    if magnitude < 1e14:
        return "ms"
    if magnitude < 1e17:
        return "us"
    return "ns"


PERIOD_ORDER_MESSAGE = "end must be after start."


def check_period(start: Any, end: Any) -> None:
    """``ValueError`` unless both ends lie in :data:`EARLIEST` .. :data:`LATEST` and ``end`` is after ``start``
    (either may be ``None``: nothing to check)."""
    start = market_timestamp(start, "start") if start is not None else None
    end = market_timestamp(end, "end") if end is not None else None
    if start is not None and end is not None and end <= start:
        raise ValueError(PERIOD_ORDER_MESSAGE)
