"""CoinGecko Pro: daily candles from ``/coins/{id}/market_chart/range``; ``/coins/{id}/ohlc`` parsed too.

Authentication: the API key goes in the ``x-cg-pro-api-key`` header. Budget: 500 calls a minute.

CoinGecko's granularity rules (from its docs), which decide what we can honestly build:

- ``/coins/{id}/ohlc?days=N`` returns candles whose size depends on ``N`` only: 1-2 days -> 30-minute,
  3-30 days -> 4-hour, 31 days and more -> 4-day candles, always counted back from *now*, without volume.
  Its timestamps are the candle *close* times. Useless for historical daily bars; :meth:`fetch_ohlc`
  parses it (open_time = close time - candle size) for recent windows.
- ``/coins/{id}/market_chart/range?from&to`` returns *point* samples ``[ms, value]`` of ``prices``,
  ``market_caps`` and ``total_volumes`` with automatic granularity: a range within 1 day -> ~5-minute points,
  1-90 days -> hourly points, above 90 days -> daily points at 00:00 UTC.

How a daily candle is built (``fetch_ohlcv(symbol, "1d", ...)``): we always request ranges longer than
90 days, so points are daily at 00:00 UTC. A point at ``D+1 00:00`` closes day ``D``: its price is day
``D``'s close and its ``total_volume`` (a trailing 24h volume) is day ``D``'s volume. Each point is
assigned to the day that ends at (or contains the instant just before) its timestamp; when several
points fall in one day, the last one wins. CoinGecko gives no intraday extremes, so we do NOT invent them:
``open = high = low = close = the closing price snapshot``. Strategies needing real OHLC ranges should use
Binance symbols.

Volume units: ``total_volumes`` is already quoted in ``vs_currency`` (USD), aggregated over all venues.
It is stored as ``quote_volume`` (given, so ``quote_volume_derived=False``) and the base ``volume`` is
``quote_volume / close``. (Where a source gives base volume only, ``base.derive_quote_volume`` computes
quote volume as volume x typical price and sets ``quote_volume_derived=True``.) ``trade_count`` is NaN.

Hostile payloads: times that are not milliseconds, or a value that is not a number, are a
:class:`MalformedPayloadError` naming the coin and the request. A point with a null or NaN price is dropped and
counted in ``issues`` (a reported repair). A volume point is matched to the price point nearest in time within
:data:`VOLUME_MATCH_TOLERANCE_MS` (the two series' stamps can differ by a second or so).
"""

from __future__ import annotations

import math
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
    check_epoch_ms,
    clean_page,
    utc_timestamp,
)
from marketdata.symbols import TOKENS_BY_SYMBOL

COINGECKO_TIMEFRAMES: frozenset[str] = frozenset({"1d"})
API_KEY_HEADER = "x-cg-pro-api-key"
CALLS_PER_MINUTE = 500
#: Longest range per request; every request spans more than 90 days so points are daily.
CHUNK_DAYS = 365
MIN_DAILY_RANGE_DAYS = 91
DAY = pd.Timedelta(days=1)
VOLUME_MATCH_TOLERANCE_MS = 5 * 60 * 1000


def coingecko_id(symbol: str) -> str | None:
    token = TOKENS_BY_SYMBOL.get(symbol.strip().upper())
    return token.coingecko_id if token is not None else None


def ohlc_candle_size(days: int) -> pd.Timedelta:
    """Candle size of ``/coins/{id}/ohlc?days=N`` (CoinGecko's automatic granularity)."""
    if days <= 2:
        return pd.Timedelta(minutes=30)
    if days <= 30:
        return pd.Timedelta(hours=4)
    return pd.Timedelta(days=4)


class CoinGeckoSource(HTTPSource, OHLCVSource):
    name = "coingecko"
    timeframes = COINGECKO_TIMEFRAMES

    def __init__(
        self,
        base_url: str = "https://pro-api.coingecko.com/api/v3",
        api_key: str = "",
        *,
        vs_currency: str = "usd",
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_base: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], pd.Timestamp] = lambda: pd.Timestamp.now(tz="UTC"),
        session: requests.Session | None = None,
        **http_options: Any,
    ) -> None:
        super().__init__(
            base_url, headers={API_KEY_HEADER: api_key} if api_key else None, timeout=timeout,
            max_retries=max_retries, backoff_base=backoff_base,
            rate_limiter=RateLimiter(CALLS_PER_MINUTE, 60.0, clock=clock, sleep=sleep), sleep=sleep,
            session=session, **http_options,
        )
        self.vs_currency = vs_currency
        self.now = now
        self.issues: list[str] = []

    def supports(self, symbol: str, timeframe: str) -> bool:
        return timeframe in COINGECKO_TIMEFRAMES and coingecko_id(symbol) is not None

    def market_chart_range(self, coin_id: str, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, Any]:
        payload = self.get_json(
            f"/coins/{coin_id}/market_chart/range",
            {"vs_currency": self.vs_currency, "from": int(start.timestamp()), "to": int(end.timestamp())},
        )
        return check_market_chart(payload, f"coingecko {coin_id} market_chart/range {start:%Y-%m-%d}..{end:%Y-%m-%d}")

    def fetch_ohlcv(
        self, symbol: str, timeframe: str, start: datetime, end: datetime
    ) -> Iterator[pd.DataFrame]:
        coin = coingecko_id(symbol)
        if coin is None or timeframe not in COINGECKO_TIMEFRAMES:
            raise ValueError(f"coingecko cannot serve {symbol} {timeframe}")
        start_ts = utc_timestamp(start).floor("D")
        end_ts = utc_timestamp(end)
        chunk_start = start_ts
        self.raw_rows = 0
        while chunk_start < end_ts:
            chunk_end = min(chunk_start + CHUNK_DAYS * DAY, end_ts)
            # Candle D closes at D+1 00:00: ask for points up to the chunk's last close, and at least
            # 91 days back so CoinGecko answers with daily points.
            request_to = chunk_end.ceil("D")
            request_from = min(chunk_start + pd.Timedelta(seconds=1), request_to - MIN_DAILY_RANGE_DAYS * DAY)
            payload = self.market_chart_range(coin, request_from, request_to)
            raw = daily_candles_from_market_chart(payload, self.issues, f"coingecko {coin} 1d")
            self.raw_rows += len(raw)
            page = clean_page(raw, start=max(chunk_start, utc_timestamp(start)), end=chunk_end,
                              candle_length=DAY, now=self.now(), issues=self.issues,
                              label=f"coingecko {coin} 1d")
            if not page.empty:
                yield page
            chunk_start = chunk_end

    def fetch_ohlc(self, coin_id: str, days: int) -> pd.DataFrame:
        """Recent OHLC candles (no volume) from ``/coins/{id}/ohlc``; see the granularity rules above."""
        rows = self.get_json(f"/coins/{coin_id}/ohlc", {"vs_currency": self.vs_currency, "days": days})
        return parse_ohlc(rows, ohlc_candle_size(days))


def check_market_chart(payload: Any, label: str = "coingecko market_chart") -> dict[str, Any]:
    """The payload with its ``[ms, value]`` pairs checked: numeric (or null) values, millisecond times."""
    if not isinstance(payload, dict) or not isinstance(payload.get("prices"), list):
        raise MalformedPayloadError(f"{label}: expected an object with a 'prices' array")
    for key in ("prices", "total_volumes"):
        points = payload.get(key, [])
        for index, point in enumerate(points):
            if not (isinstance(point, list) and len(point) == 2):
                raise MalformedPayloadError(f"{label}: {key}[{index}] is not a [ms, value] pair")
            stamp, value = point
            if not isinstance(stamp, int | float) or isinstance(stamp, bool) or not (
                    value is None or (isinstance(value, int | float) and not isinstance(value, bool))):
                raise MalformedPayloadError(f"{label}: {key}[{index}] = {str(point)[:60]} is not a number pair")
        check_epoch_ms([point[0] for point in points], f"{label} {key}")
    return payload


def daily_candles_from_market_chart(payload: dict[str, Any], issues: list[str] | None = None,
                                    label: str = "coingecko") -> pd.DataFrame:
    """Daily candles (see the module docstring) from a ``market_chart/range`` payload."""
    prices = pd.DataFrame(payload["prices"], columns=["ms", "close"]).astype({"ms": "int64", "close": "float64"})
    volumes = pd.DataFrame(payload.get("total_volumes", []), columns=["ms", "quote_volume"])
    volumes = volumes.astype({"ms": "int64", "quote_volume": "float64"}).sort_values("ms")
    unusable = ~np.isfinite(prices["close"]) | (prices["close"] <= 0)
    if unusable.any():
        days = pd.to_datetime(prices.loc[unusable, "ms"], unit="ms", utc=True).dt.strftime("%Y-%m-%d")
        message = (f"{label}: {int(unusable.sum())} point(s) without a usable price dropped "
                   f"({', '.join(days.head(5))}{'...' if unusable.sum() > 5 else ''})")
        if issues is not None:
            issues.append(message)
    prices = prices[~unusable].sort_values("ms")
    points = pd.merge_asof(prices, volumes, on="ms", direction="nearest", tolerance=VOLUME_MATCH_TOLERANCE_MS)
    no_volume = ~np.isfinite(points["quote_volume"])
    if no_volume.any() and issues is not None:
        issues.append(f"{label}: {int(no_volume.sum())} point(s) without a volume within "
                      f"{VOLUME_MATCH_TOLERANCE_MS // 60000} minutes dropped")
    points = points[~no_volume]
    closes_at = pd.to_datetime(points["ms"], unit="ms", utc=True)
    # The day ending at (or containing the instant just before) each point.
    points["open_time"] = (closes_at - pd.Timedelta(milliseconds=1)).dt.floor("D")
    points = points.drop_duplicates("open_time", keep="last")
    close = points["close"].to_numpy()
    quote = points["quote_volume"].to_numpy()
    return pd.DataFrame({
        "open_time": points["open_time"].to_numpy(), "open": close, "high": close, "low": close,
        "close": close, "volume": quote / close, "quote_volume": quote, "quote_volume_derived": False,
        "trade_count": math.nan,
    }).assign(open_time=lambda f: pd.to_datetime(f["open_time"], utc=True))


def parse_ohlc(rows: Any, candle_size: pd.Timedelta) -> pd.DataFrame:
    """``[[close_ms, o, h, l, c], ...]`` -> open_time, open, high, low, close (volume unknown: NaN)."""
    if not isinstance(rows, list) or any(not isinstance(r, list) or len(r) != 5 for r in rows):
        raise MalformedPayloadError("coingecko ohlc: expected an array of [ms, open, high, low, close]")
    frame = pd.DataFrame(rows, columns=["ms", "open", "high", "low", "close"], dtype=float)
    frame.insert(0, "open_time", pd.to_datetime(frame.pop("ms").astype("int64"), unit="ms", utc=True) - candle_size)
    return frame


def from_settings(**kwargs: Any) -> CoinGeckoSource:
    from django.conf import settings

    kwargs.setdefault("api_key", settings.COINGECKO_API_KEY)
    return CoinGeckoSource(kwargs.pop("base_url", settings.COINGECKO_BASE_URL), **kwargs)
