"""The provider contract: errors, a weight-aware rate limiter, a retrying JSON HTTP client, and
``OHLCVSource`` with the candle hygiene every OHLCV source applies at the boundary.

Pure module: no Django. Sources *return* data; services in ``marketdata`` persist it.

Retry policy of :meth:`HTTPSource.get_json` (one policy for every provider):

- ``429`` (rate limited) and ``418`` (Binance IP ban after ignoring 429s): wait ``Retry-After`` seconds, at
  most ``max_retry_after`` (or the exponential backoff when the header is missing), then retry;
  :class:`RateLimitedError` once the retries are spent.
- ``5xx``, timeouts and transport errors (refused or dropped connections, a body cut off mid-stream,
  undecodable compression): exponential backoff (``backoff_base * 2**attempt``), retry; :class:`SourceError`
  once the retries are spent.
- any other ``4xx``: :class:`SourceError` at once (retrying a bad request cannot help).
- a body that is not JSON, or larger than ``max_body_bytes``: :class:`MalformedPayloadError` at once.

Every call has an overall ``deadline`` (seconds, retries and waits included): ``timeout`` bounds each socket
read only, so a server trickling a byte every few seconds would otherwise hold a request forever.

``sleep`` and ``clock`` are injectable so tests run without real waiting.
"""

from __future__ import annotations

import json
import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import requests
import urllib3

from core.timeutil import EARLIEST, LATEST, epoch_unit, utc_timestamp
from marketdata.quote_volume import derived_quote_volume

logger = logging.getLogger(__name__)

#: Columns (in this order) of every page ``OHLCVSource.fetch_ohlcv`` yields.
OHLCV_COLUMNS: tuple[str, ...] = (
    "open_time", "open", "high", "low", "close", "volume", "quote_volume", "quote_volume_derived", "trade_count",
)


class SourceError(Exception):
    """A provider could not deliver the data (base class of every source error).

    ``status`` is the HTTP status when the provider answered with an error status (404: no such data).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RateLimitedError(SourceError):
    """The provider kept answering 429/418 after all retries."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message, 429)
        self.retry_after = retry_after


class MalformedPayloadError(SourceError):
    """The body is not JSON, or its JSON does not have the documented shape."""


class BadRowError(SourceError):
    """One row is impossible (high < low, negative volume, ...); the message names the row."""

    def __init__(self, index: int, open_time: Any, problem: str) -> None:
        super().__init__(f"bad row {index} (open_time={open_time}): {problem}")
        self.index = index
        self.open_time = open_time
        self.problem = problem


class RateLimiter:
    """Request-weight budget over a fixed window (Binance: 1200 weight a minute by default here).

    ``acquire(weight)`` sleeps until the window resets when the request would exceed the budget.
    ``observe_used(used)`` adopts the server's own count (``X-MBX-USED-WEIGHT-1M``) when it is higher,
    so requests made by other processes from the same IP are accounted for too.
    """

    def __init__(
        self,
        limit: int,
        window_seconds: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit <= 0:
            raise ValueError("rate limit must be positive")
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._sleep = sleep
        self._window_start = clock()
        self.used = 0
        self.total_weight = 0
        self.waits: list[float] = []

    def _roll(self) -> None:
        now = self._clock()
        if now - self._window_start >= self.window_seconds:
            self._window_start = now
            self.used = 0

    def acquire(self, weight: int = 1) -> None:
        if weight > self.limit:
            raise ValueError(f"a request of weight {weight} can never fit a budget of {self.limit}")
        self._roll()
        if self.used + weight > self.limit:
            wait = max(0.0, self.window_seconds - (self._clock() - self._window_start))
            logger.info("rate limit budget spent (%s/%s): waiting %.1fs", self.used, self.limit, wait)
            self.waits.append(wait)
            self._sleep(wait)
            self._window_start = self._clock()
            self.used = 0
        self.used += weight
        self.total_weight += weight

    def observe_used(self, used: int) -> None:
        self._roll()
        self.used = max(self.used, used)


class HTTPSource:
    """Shared HTTP plumbing: base URL, headers, timeout, rate limiting and the retry policy above."""

    name: str = "http"

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_base: float = 1.0,
        rate_limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
        deadline: float = 300.0,
        max_retry_after: float = 120.0,
        max_body_bytes: int = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.deadline = deadline
        self.max_retry_after = max_retry_after
        self.max_body_bytes = max_body_bytes
        self.clock = clock
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.rate_limiter = rate_limiter
        self.sleep = sleep
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": "application/json", **(headers or {})})
        self.request_count = 0

    def _backoff(self, attempt: int) -> float:
        return self.backoff_base * (2**attempt)

    def _after_response(self, response: requests.Response) -> None:
        """Hook for provider-specific headers (Binance: used weight)."""

    def get_json(self, path: str, params: Mapping[str, Any] | None = None, *, weight: int = 1) -> Any:
        is_absolute = path.startswith(("http://", "https://"))
        url = path if is_absolute else f"{self.base_url}/{path.lstrip('/')}"
        give_up_at = self.clock() + self.deadline
        for attempt in range(self.max_retries + 1):
            last_try = attempt == self.max_retries
            if self.rate_limiter is not None:
                self.rate_limiter.acquire(weight)
            self.request_count += 1
            try:
                response, body = self._fetch(url, params, give_up_at)
            except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError) as exc:
                if last_try or self.clock() >= give_up_at:
                    raise SourceError(
                        f"{self.name}: {path} failed after {attempt + 1} attempts: {exc.__class__.__name__}"
                    ) from exc
                self._wait(self._backoff(attempt), give_up_at, path)
                continue
            except requests.RequestException as exc:  # an invalid URL, too many redirects, ...
                raise SourceError(f"{self.name}: {path} failed: {exc.__class__.__name__}: {exc}") from exc
            self._after_response(response)
            status = response.status_code
            if status in (429, 418):
                retry_after = _retry_after_seconds(response)
                if last_try:
                    raise RateLimitedError(
                        f"{self.name}: {path} still rate limited (HTTP {status}) after {attempt + 1} attempts",
                        retry_after,
                    )
                wait = self._backoff(attempt) if retry_after is None else min(retry_after, self.max_retry_after)
                self._wait(wait, give_up_at, path, f"rate limited (HTTP {status}, Retry-After {retry_after})")
                continue
            if status >= 500:
                if last_try:
                    raise SourceError(f"{self.name}: {path} HTTP {status} after {attempt + 1} attempts", status)
                self._wait(self._backoff(attempt), give_up_at, path, f"HTTP {status}")
                continue
            text = body.decode(response.encoding or "utf-8", errors="replace")
            if status >= 400:
                raise SourceError(f"{self.name}: {path} HTTP {status}: {text[:200]}", status)
            try:
                return json.loads(text)
            except ValueError as exc:
                raise MalformedPayloadError(
                    f"{self.name}: {path} returned a body that is not JSON: {text[:80]!r}"
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _fetch(self, url: str, params: Mapping[str, Any] | None, give_up_at: float) -> tuple[requests.Response, bytes]:
        """GET ``url`` and read its body in chunks, within the overall deadline and the body size limit."""
        with self.session.get(url, params=params, timeout=self.timeout, stream=True) as response:
            chunks, size = [], 0
            while True:
                try:
                    # read1 returns as soon as some bytes arrived (read(n) would wait for all n of them)
                    chunk = response.raw.read1(65536, decode_content=True)
                except urllib3.exceptions.ReadTimeoutError as exc:
                    raise requests.Timeout(str(exc)) from exc
                except urllib3.exceptions.DecodeError as exc:
                    raise requests.exceptions.ContentDecodingError(str(exc)) from exc
                except (urllib3.exceptions.ProtocolError, urllib3.exceptions.SSLError) as exc:
                    raise requests.exceptions.ChunkedEncodingError(str(exc)) from exc
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise MalformedPayloadError(
                        f"{self.name}: {url} sent more than {self.max_body_bytes} bytes: refused")
                if self.clock() >= give_up_at:
                    raise SourceError(f"{self.name}: {url} still sending after the {self.deadline:g} s deadline")
            return response, b"".join(chunks)

    def _wait(self, seconds: float, give_up_at: float, path: str, why: str = "transport error") -> None:
        if self.clock() + seconds > give_up_at:
            raise SourceError(f"{self.name}: {path} {why}: giving up, a retry would pass the {self.deadline:g} s "
                              "deadline")
        self.sleep(seconds)


#: Unix milliseconds of ``core.timeutil.EARLIEST`` and ``LATEST``: a provider's time outside them is in another
#: unit (or a mistake).
PLAUSIBLE_MS = (EARLIEST.value // 1_000_000, LATEST.value // 1_000_000)
_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds outside that range", "us": "microseconds", "ns": "nanoseconds"}


def check_epoch_ms(values: Any, label: str) -> None:
    """``MalformedPayloadError`` unless every value is a Unix time in milliseconds (2009..2100)."""
    array = np.asarray(values, dtype="float64")
    if array.size == 0:
        return
    bad = ~((array >= PLAUSIBLE_MS[0]) & (array <= PLAUSIBLE_MS[1]))
    if bad.any():
        first = array[bad][0]
        raise MalformedPayloadError(f"{label}: timestamp {first:.0f} is not Unix milliseconds between 2009 and 2100 "
                                    f"(looks like {_UNIT_NAMES[epoch_unit(abs(first))]})")


def _retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class OHLCVSource(ABC):
    """A provider of candles. ``fetch_ohlcv`` yields clean pages so a loader can write and resume per page."""

    name: str
    timeframes: frozenset[str]

    @abstractmethod
    def supports(self, symbol: str, timeframe: str) -> bool:
        """Whether this source can serve ``symbol`` at ``timeframe``."""

    @abstractmethod
    def fetch_ohlcv(
        self, symbol: str, timeframe: str, start: datetime, end: datetime
    ) -> Iterator[pd.DataFrame]:
        """Pages of candles with ``start <= open_time < end``, columns :data:`OHLCV_COLUMNS`."""


def to_millis(value: datetime | pd.Timestamp) -> int:
    return int(utc_timestamp(value).value // 1_000_000)


def validate_rows(frame: pd.DataFrame) -> None:
    """Raise :class:`BadRowError` naming the first impossible row (positions as received)."""
    checks = (
        (~np.isfinite(frame[["open", "high", "low", "close", "volume"]].to_numpy(float)).all(axis=1),
         "non-finite price or volume"),
        (frame["low"] <= 0, "low <= 0"),
        (frame["high"] < frame["low"], "high < low"),
        ((frame["open"] < frame["low"]) | (frame["open"] > frame["high"]), "open outside [low, high]"),
        ((frame["close"] < frame["low"]) | (frame["close"] > frame["high"]), "close outside [low, high]"),
        (frame["volume"] < 0, "negative volume"),
        (frame["quote_volume"] < 0, "negative quote volume"),
        (frame["trade_count"] < 0, "negative trade count"),
    )
    for mask, problem in checks:
        bad = np.flatnonzero(np.asarray(mask, dtype=bool))
        if bad.size:
            row = int(bad[0])
            raise BadRowError(row, frame["open_time"].iloc[row], _describe(frame.iloc[row], problem))


def _describe(row: pd.Series, problem: str) -> str:
    values = ", ".join(f"{key}={row[key]}" for key in ("open", "high", "low", "close", "volume"))
    return f"{problem} ({values})"


def clean_page(
    frame: pd.DataFrame,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    candle_length: pd.Timedelta,
    now: pd.Timestamp,
    issues: list[str] | None = None,
    label: str = "",
) -> pd.DataFrame:
    """Validate, sort, de-duplicate, keep ``start <= open_time < end`` and drop the still-open candle.

    Out-of-order and duplicated candles are not errors (providers and retries produce them) but are
    reported: a line is appended to ``issues`` and logged as a warning.
    """
    frame = frame.reset_index(drop=True)
    validate_rows(frame)
    notes = []
    if not frame["open_time"].is_monotonic_increasing:
        notes.append("candles out of order (sorted)")
    duplicated = int(frame["open_time"].duplicated().sum())
    if duplicated:
        notes.append(f"{duplicated} duplicated candle(s) dropped (kept the last)")
    frame = frame.sort_values("open_time", kind="stable").drop_duplicates("open_time", keep="last")
    frame = frame[(frame["open_time"] >= start) & (frame["open_time"] < end)]
    still_open = frame["open_time"] + candle_length > now
    if still_open.any():
        notes.append(f"{int(still_open.sum())} still-open candle(s) dropped")
        frame = frame[~still_open]
    for note in notes:
        message = f"{label}: {note}" if label else note
        logger.warning(message)
        if issues is not None:
            issues.append(message)
    return frame.reset_index(drop=True)[list(OHLCV_COLUMNS)]


def empty_page() -> pd.DataFrame:
    frame = pd.DataFrame({column: [] for column in OHLCV_COLUMNS})
    frame["open_time"] = pd.to_datetime(frame["open_time"], utc=True)
    for column in ("open", "high", "low", "close", "volume", "quote_volume", "trade_count"):
        frame[column] = frame[column].astype(float)
    frame["quote_volume_derived"] = frame["quote_volume_derived"].astype(bool)
    return frame


def derive_quote_volume(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill missing quote volume with base volume x typical price ((high + low + close) / 3) and flag it.

    For candles that carry base volume only (some CSV dumps, ...). Rows that have a real quote volume
    keep it and keep ``quote_volume_derived`` as it was.
    """
    frame = frame.copy()
    if "quote_volume" not in frame:
        frame["quote_volume"] = math.nan
    if "quote_volume_derived" not in frame:
        frame["quote_volume_derived"] = False
    derived = derived_quote_volume(frame["high"], frame["low"], frame["close"], frame["volume"])
    filled = frame["quote_volume"].isna().to_numpy() & ~np.isnan(derived)  # no base volume: stays unknown
    frame.loc[filled, "quote_volume"] = derived[filled]
    frame["quote_volume_derived"] = frame["quote_volume_derived"].astype(bool) | filled
    return frame
