"""alternative.me: the Crypto Fear & Greed index (free, no key), the keyless sentiment source.

``GET {base}/fng/?limit=0`` returns the whole history (``limit=0``), newest first::

    {"name": "Fear and Greed Index",
     "data": [{"value": "40", "value_classification": "Fear", "timestamp": "1551157200",
               "time_until_update": "68499"}, ...],
     "metadata": {"error": null}}

``value`` (0 = extreme fear, 100 = extreme greed) and ``timestamp`` (Unix seconds, the UTC midnight that
starts the reading's day) are strings on the wire. Only the newest point carries ``time_until_update``: it
is today's still-changing reading and is dropped, so a stored day never changes later. A non-null
``metadata.error`` is the API saying it failed, whatever the HTTP status.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from marketdata.sources.base import PLAUSIBLE_MS, HTTPSource, MalformedPayloadError, RateLimiter, SourceError

INDEX_NAME = "fear_greed"
COLUMNS: tuple[str, ...] = ("date", "value", "classification")


class FearGreedSource(HTTPSource):
    name = "alternative.me"

    def __init__(
        self,
        base_url: str = "https://api.alternative.me",
        *,
        calls_per_minute: int = 60,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        **http_options: Any,
    ) -> None:
        """``http_options``: :class:`HTTPSource`'s (timeout, retries, backoff, session, deadline...)."""
        super().__init__(base_url, rate_limiter=RateLimiter(calls_per_minute, 60.0, clock=clock, sleep=sleep),
                         sleep=sleep, **http_options)

    def history(self) -> pd.DataFrame:
        """Every completed daily reading: columns :data:`COLUMNS`, one row per UTC date, oldest first."""
        return parse_fng(self.get_json("/fng/", {"limit": 0, "format": "json"}))


def parse_fng(payload: Any) -> pd.DataFrame:
    """An ``/fng/`` payload -> one row per completed UTC day (the still-open newest reading dropped)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise MalformedPayloadError("alternative.me fng: expected an object with a 'data' array")
    error = (payload.get("metadata") or {}).get("error") if isinstance(payload.get("metadata"), dict) else None
    if error:
        raise SourceError(f"alternative.me fng: the API reported an error: {error}")
    rows = []
    for position, point in enumerate(payload["data"]):
        if not isinstance(point, dict) or "timestamp" not in point or "value" not in point:
            raise MalformedPayloadError(f"alternative.me fng: point {position} has no timestamp or value")
        if point.get("time_until_update") not in (None, ""):
            continue  # today's reading, still changing
        try:
            seconds = int(point["timestamp"])
            value = float(point["value"])
        except (TypeError, ValueError) as exc:
            raise MalformedPayloadError(
                f"alternative.me fng: point {position} has a non-numeric timestamp or value: {exc}") from exc
        if not PLAUSIBLE_MS[0] <= seconds * 1000 <= PLAUSIBLE_MS[1]:
            raise MalformedPayloadError(
                f"alternative.me fng: point {position} timestamp {seconds} is not Unix seconds between 2009 and "
                "2100 (milliseconds?)")
        stamp = pd.Timestamp(seconds, unit="s", tz="UTC")
        if stamp != stamp.normalize():
            raise MalformedPayloadError(
                f"alternative.me fng: point {position} is stamped {stamp}, not at a UTC midnight "
                "(timestamps must be Unix seconds of the day's start)")
        if not 0 <= value <= 100:
            raise MalformedPayloadError(f"alternative.me fng: point {position} value {value:g} is outside 0..100")
        rows.append((stamp.date(), value, str(point.get("value_classification") or "")))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.sort_values("date").drop_duplicates("date", keep="last").reset_index(drop=True)


def from_settings(**kwargs: Any) -> FearGreedSource:
    from django.conf import settings

    return FearGreedSource(kwargs.pop("base_url", settings.FEAR_GREED_BASE_URL), **kwargs)
