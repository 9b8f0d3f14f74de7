"""LunarCrush social metrics: sentiment, social volume, mentions, galaxy score, alt rank, dominance.

Requests go to API v4 ``GET {base}/public/coins/{coin}/time-series/v2?bucket=day|hour&start&end``
(Unix seconds) with ``Authorization: Bearer <LUNARCRUSH_API_KEY>``. The parser also reads the older v2
``assets`` response (the one recorded payload we have), so either shape can be fed to it.

Field mapping to :class:`marketdata.models.SocialMetric` (all optional; absent -> NaN):

=================  ===========================================  ===========================================
column             v4 time-series field                         v2 ``assets`` timeSeries field
=================  ===========================================  ===========================================
sentiment (0-100)  ``sentiment`` (% of posts that are positive)  ``sentiment_relative`` (% bullish of non-neutral)
social_volume      ``posts_created`` (posts created)            ``social_volume`` (social posts collected)
mentions           ``posts_active`` (posts with interactions)    ``tweets`` (tweets collected)
galaxy_score       ``galaxy_score``                             ``galaxy_score``
alt_rank           ``alt_rank``                                 ``alt_rank``
social_dominance   ``social_dominance``                         ``social_dominance``
=================  ===========================================  ===========================================
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd
import requests

from core.timeutil import utc_timestamp
from marketdata.sources.base import HTTPSource, MalformedPayloadError, RateLimiter

SOCIAL_COLUMNS: tuple[str, ...] = (
    "timestamp", "sentiment", "social_volume", "mentions", "galaxy_score", "alt_rank", "social_dominance",
)
V4_FIELDS = {"sentiment": "sentiment", "social_volume": "posts_created", "mentions": "posts_active",
             "galaxy_score": "galaxy_score", "alt_rank": "alt_rank", "social_dominance": "social_dominance"}
V2_FIELDS = {"sentiment": "sentiment_relative", "social_volume": "social_volume", "mentions": "tweets",
             "galaxy_score": "galaxy_score", "alt_rank": "alt_rank", "social_dominance": "social_dominance"}


class LunarCrushSource(HTTPSource):
    name = "lunarcrush"

    def __init__(
        self,
        base_url: str = "https://lunarcrush.com/api4",
        api_key: str = "",
        *,
        calls_per_minute: int = 10,  # the individual plan's documented budget
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_base: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        session: requests.Session | None = None,
        **http_options: Any,
    ) -> None:
        if not api_key:
            raise ValueError("LunarCrush needs an API key (set LUNARCRUSH_API_KEY)")
        super().__init__(
            base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout, max_retries=max_retries,
            backoff_base=backoff_base, rate_limiter=RateLimiter(calls_per_minute, 60.0, clock=clock, sleep=sleep),
            sleep=sleep, session=session, **http_options,
        )

    def time_series(
        self, coin: str, start: datetime, end: datetime, bucket: str = "day"
    ) -> pd.DataFrame:
        """Social metrics of ``coin`` (a symbol such as ``BTC``) with ``start <= timestamp < end``."""
        start_ts, end_ts = utc_timestamp(start), utc_timestamp(end)
        payload = self.get_json(
            f"/public/coins/{coin.lower()}/time-series/v2",
            {"bucket": bucket, "start": int(start_ts.timestamp()), "end": int(end_ts.timestamp())},
        )
        frame = parse_time_series(payload)
        return frame[(frame["timestamp"] >= start_ts) & (frame["timestamp"] < end_ts)].reset_index(drop=True)


def parse_time_series(payload: Any) -> pd.DataFrame:
    """A v4 ``time-series`` or v2 ``assets`` payload -> :data:`SOCIAL_COLUMNS`, sorted, one row per time."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise MalformedPayloadError("lunarcrush: expected an object with a 'data' array")
    data = payload["data"]
    if data and isinstance(data[0], dict) and "timeSeries" in data[0]:  # v2 assets
        rows, fields = data[0]["timeSeries"], V2_FIELDS
    else:
        rows, fields = data, V4_FIELDS
    if not isinstance(rows, list) or any(not isinstance(row, dict) or "time" not in row for row in rows):
        raise MalformedPayloadError("lunarcrush: every time-series point must be an object with 'time'")
    try:
        frame = pd.DataFrame({
            "timestamp": pd.to_datetime([int(row["time"]) for row in rows], unit="s", utc=True),
            **{column: [_number(row.get(field)) for row in rows] for column, field in fields.items()},
        })
    except (TypeError, ValueError) as exc:
        raise MalformedPayloadError(f"lunarcrush: a field is not a number: {exc}") from exc
    frame = frame.sort_values("timestamp").drop_duplicates("timestamp", keep="last")
    return frame.reset_index(drop=True)[list(SOCIAL_COLUMNS)]


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def from_settings(**kwargs: Any) -> LunarCrushSource:
    from django.conf import settings

    kwargs.setdefault("api_key", settings.LUNARCRUSH_API_KEY)
    return LunarCrushSource(kwargs.pop("base_url", settings.LUNARCRUSH_BASE_URL), **kwargs)
