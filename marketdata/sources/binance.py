"""Binance spot klines: ``GET /api/v3/klines`` walked page by page with ``startTime``.

Wire format (one candle): a 12-field array ``[open_time_ms, "open", "high", "low", "close", "volume",
close_time_ms, "quote_asset_volume", number_of_trades, "taker_buy_base", "taker_buy_quote", "ignore"]``;
prices and volumes are strings. Quote volume and trade count are kept.

Rate limiting: Binance limits each IP by request weight per minute (``REQUEST_WEIGHT`` in
``/api/v3/exchangeInfo``; 6000 today, 1200 historically). We budget 1200 a minute by default, which is
safe under either, charge each klines request the documented weight (2 since the 2023 weight change,
whatever the ``limit``; before it the weight grew with ``limit``: 1/2/5/10), and adopt the server's own
count from the ``X-MBX-USED-WEIGHT-1M`` header. ``429``/``418`` are honoured with ``Retry-After``.

Paging: each request asks for candles from ``startTime`` (the bar after the last one received) to the end of
the window. A page shorter than ``limit`` is not taken as the end (a server may cap pages below the limit);
only an empty page, or reaching the end of the window, ends the walk. A page that does not move past the
cursor, or that starts before the requested ``startTime`` (a server ignoring it), is an error, as are open
times that are not milliseconds (microsecond timestamps, as in Binance's 2025 spot data dumps).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import requests

from marketdata.sources.base import (
    HTTPSource,
    MalformedPayloadError,
    OHLCVSource,
    RateLimiter,
    SourceError,
    check_epoch_ms,
    clean_page,
    to_millis,
    utc_timestamp,
)
from marketdata.symbols import TOKENS_BY_SYMBOL, pair_base
from marketdata.timeframes import timeframe_delta

#: Platform timeframe -> Binance ``interval`` parameter.
BINANCE_INTERVALS: dict[str, str] = {"1m": "1m", "5m": "5m", "15m": "15m", "1h": "1h", "4h": "4h",
                                     "1d": "1d", "1w": "1w"}
MAX_KLINES_LIMIT = 1000
DEFAULT_WEIGHT_LIMIT = 1200
KLINES_FIELDS = 12


def klines_weight(limit: int) -> int:
    """Request weight of one ``/api/v3/klines`` call (current Binance docs: 2 for any limit)."""
    return 2


def binance_pair(symbol: str) -> str | None:
    """The Binance spot pair for a platform symbol (``BTC`` -> ``BTCUSDT``), a pair given as is
    (``LUNAUSDT``), or ``None`` when Binance spot does not list the token."""
    key = symbol.strip().upper()
    token = TOKENS_BY_SYMBOL.get(key)
    if token is not None:
        return token.binance_pair
    if pair_base(key) is not None:
        return key
    return None


class BinanceSource(HTTPSource, OHLCVSource):
    name = "binance"
    timeframes = frozenset(BINANCE_INTERVALS)

    def __init__(
        self,
        base_url: str = "https://api.binance.com",
        *,
        page_limit: int = MAX_KLINES_LIMIT,
        weight_limit: int = DEFAULT_WEIGHT_LIMIT,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_base: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], pd.Timestamp] = lambda: pd.Timestamp.now(tz="UTC"),
        session: requests.Session | None = None,
        **http_options: Any,
    ) -> None:
        if not 1 <= page_limit <= MAX_KLINES_LIMIT:
            raise ValueError(f"page_limit must be within 1..{MAX_KLINES_LIMIT}")
        super().__init__(
            base_url, timeout=timeout, max_retries=max_retries, backoff_base=backoff_base,
            rate_limiter=RateLimiter(weight_limit, 60.0, clock=clock, sleep=sleep), sleep=sleep,
            session=session, **http_options,
        )
        self.page_limit = page_limit
        self.now = now
        self.issues: list[str] = []
        self.server_used_weight: int | None = None

    def _after_response(self, response: requests.Response) -> None:
        used = response.headers.get("X-MBX-USED-WEIGHT-1M")
        if used is not None and used.isdigit():
            self.server_used_weight = int(used)
            self.rate_limiter.observe_used(int(used))

    def supports(self, symbol: str, timeframe: str) -> bool:
        return timeframe in BINANCE_INTERVALS and binance_pair(symbol) is not None

    def fetch_ohlcv(
        self, symbol: str, timeframe: str, start: datetime, end: datetime
    ) -> Iterator[pd.DataFrame]:
        pair = binance_pair(symbol)
        if pair is None or timeframe not in BINANCE_INTERVALS:
            raise ValueError(f"binance cannot serve {symbol} {timeframe}")
        length = timeframe_delta(timeframe)
        start_ts, end_ts = utc_timestamp(start), utc_timestamp(end)
        cursor = start_ts
        self.raw_rows = 0
        label = f"binance {pair} {timeframe}"
        while cursor < end_ts:
            rows = self.get_json(
                "/api/v3/klines",
                {"symbol": pair, "interval": BINANCE_INTERVALS[timeframe], "startTime": to_millis(cursor),
                 "endTime": to_millis(end_ts) - 1, "limit": self.page_limit},
                weight=klines_weight(self.page_limit),
            )
            raw = parse_klines(rows, label)
            if raw.empty:
                return
            self.raw_rows += len(raw)
            first_open, last_open = raw["open_time"].min(), raw["open_time"].max()
            if first_open < cursor - length:  # a bar of slack: the candle containing startTime is fine
                raise SourceError(f"{label}: asked for candles from {cursor.isoformat()}, got a page starting "
                                  f"{first_open.isoformat()}: the server ignored startTime")
            if last_open + length <= cursor:
                raise SourceError(f"{label}: the page for {cursor.isoformat()} did not advance (last candle "
                                  f"{last_open.isoformat()})")
            page = clean_page(raw, start=start_ts, end=end_ts, candle_length=length, now=self.now(),
                              issues=self.issues, label=label)
            if not page.empty:
                yield page
            cursor = last_open + length


def parse_klines(rows: Any, label: str = "binance klines") -> pd.DataFrame:
    """Wire-format klines -> a frame of :data:`~marketdata.sources.base.OHLCV_COLUMNS` (not yet cleaned)."""
    if not isinstance(rows, list):
        raise MalformedPayloadError(f"{label}: expected a JSON array, got {type(rows).__name__}")
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) < 9:
            raise MalformedPayloadError(f"{label}: row {index} is not a {KLINES_FIELDS}-field array: {str(row)[:80]}")
    if not rows:
        return pd.DataFrame(columns=["open_time"])
    try:
        open_ms = np.array([row[0] for row in rows], dtype="int64")
        numbers = np.array([[*row[1:6], row[7], row[8]] for row in rows], dtype=float)
    except (TypeError, ValueError, OverflowError) as exc:
        raise MalformedPayloadError(f"{label}: a field is not a number: {exc}") from exc
    check_epoch_ms(open_ms, label)
    return pd.DataFrame({
        "open_time": pd.to_datetime(open_ms, unit="ms", utc=True),
        "open": numbers[:, 0], "high": numbers[:, 1], "low": numbers[:, 2], "close": numbers[:, 3],
        "volume": numbers[:, 4], "quote_volume": numbers[:, 5], "quote_volume_derived": False,
        "trade_count": numbers[:, 6],
    })


def from_settings(**kwargs: Any) -> BinanceSource:
    from django.conf import settings

    return BinanceSource(kwargs.pop("base_url", settings.BINANCE_BASE_URL), **kwargs)
