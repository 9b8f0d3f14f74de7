"""Write services for protocol fundamentals (DefiLlama -> OnchainMetric) and social metrics
(LunarCrush -> SocialMetric).

Both are idempotent upserts keyed by the tables' unique constraints: a re-run creates nothing, a value
that changed upstream updates its row, identical rows are left alone. Network reads happen first; each
protocol (or token) is then written in its own transaction, so a malformed payload or a rejected row
writes nothing for that protocol and is reported while the others proceed.
"""

from __future__ import annotations

import logging
import math
from datetime import date, datetime
from typing import Any

import pandas as pd
from django.conf import settings
from django.db import DatabaseError, transaction

from core.timeutil import utc_datetime
from marketdata.models import OnchainMetric, SocialMetric, Source
from marketdata.sources import defillama, lunarcrush
from marketdata.sources.base import SourceError
from marketdata.symbols import get_token

logger = logging.getLogger(__name__)

SOCIAL_FIELDS = ("sentiment", "social_volume", "mentions", "galaxy_score", "alt_rank", "social_dominance")


def onchain_ingest(
    *,
    protocols: list[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    client: defillama.DefiLlamaSource | None = None,
) -> dict[str, Any]:
    """Fill OnchainMetric from DefiLlama for ``protocols`` (keys of ``defillama.PROTOCOLS`` or token
    symbols; all by default) for dates ``start <= date <= end`` (both optional, inclusive).

    Returns ``{"created", "updated", "unchanged", "failed": [keys], "protocols": {key: {...}}}``; each
    protocol entry carries its counts, ``missing`` metrics (DefiLlama has no series) and ``error``.
    """
    client = client or defillama.from_settings()
    summary: dict[str, Any] = {"created": 0, "updated": 0, "unchanged": 0, "failed": [], "protocols": {}}
    for spec in defillama.resolve_protocols(protocols):
        entry: dict[str, Any] = {"created": 0, "updated": 0, "unchanged": 0, "missing": [], "error": None}
        summary["protocols"][spec.key] = entry
        try:
            frame, entry["missing"] = client.protocol_metrics(spec, start, end)
            counts = _upsert_onchain(spec.key, frame)
        except (SourceError, DatabaseError) as exc:
            entry["error"] = f"{exc.__class__.__name__}: {exc}"
            summary["failed"].append(spec.key)
            logger.warning("onchain ingest of %s failed, nothing written: %s", spec.key, exc)
            continue
        entry.update(counts)
        for key in ("created", "updated", "unchanged"):
            summary[key] += counts[key]
    return summary


def _clean(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _upsert_onchain(protocol: str, frame: pd.DataFrame) -> dict[str, int]:
    rows = {day: {field: _clean(frame.at[day, field]) for field in defillama.METRICS} for day in frame.index}
    with transaction.atomic():
        existing = {
            metric.date: metric
            for metric in OnchainMetric.objects.filter(
                protocol=protocol, source=Source.DEFILLAMA, date__in=list(rows)
            )
        }
        return _apply(
            rows, existing, fields=defillama.METRICS,
            build=lambda day, values: OnchainMetric(protocol=protocol, date=day, source=Source.DEFILLAMA, **values),
            model=OnchainMetric,
        )


def _apply(rows: dict, existing: dict, *, fields: tuple[str, ...], build, model) -> dict[str, int]:
    """Create missing rows, update changed ones (``fetched_at`` moves only on those), count the rest."""
    to_create, to_update = [], []
    for key, values in rows.items():
        current = existing.get(key)
        if current is None:
            to_create.append(build(key, values))
        elif any(getattr(current, field) != values[field] for field in fields):
            for field, value in values.items():
                setattr(current, field, value)
            to_update.append(current)
    model.objects.bulk_create(to_create, batch_size=1000)
    if to_update:
        model.objects.bulk_update(to_update, [*fields, "fetched_at"], batch_size=1000)
    return {"created": len(to_create), "updated": len(to_update),
            "unchanged": len(rows) - len(to_create) - len(to_update)}


def social_ingest(
    *,
    tokens: list[str],
    start: date | datetime,
    end: date | datetime,
    client: lunarcrush.LunarCrushSource | None = None,
) -> dict[str, Any]:
    """Fill SocialMetric from LunarCrush (daily points, ``start <= timestamp < end``) for ``tokens``.

    Without ``LUNARCRUSH_API_KEY`` (and no ``client``) nothing is fetched and the summary says why:
    ``{"skipped": True, "message": ...}``.
    """
    if client is None:
        if not settings.LUNARCRUSH_API_KEY:
            message = "LUNARCRUSH_API_KEY is not set: social metrics were not fetched."
            logger.warning(message)
            return {"skipped": True, "message": message, "created": 0, "updated": 0, "unchanged": 0,
                    "failed": [], "tokens": {}}
        client = lunarcrush.from_settings()
    summary: dict[str, Any] = {"skipped": False, "created": 0, "updated": 0, "unchanged": 0, "failed": [],
                               "tokens": {}}
    start_dt, end_dt = utc_datetime(start), utc_datetime(end)
    for symbol in tokens:
        token = get_token(symbol).symbol
        entry: dict[str, Any] = {"created": 0, "updated": 0, "unchanged": 0, "error": None}
        summary["tokens"][token] = entry
        try:
            frame = client.time_series(token, start_dt, end_dt)
            counts = _upsert_social(token, frame)
        except (SourceError, DatabaseError) as exc:
            entry["error"] = f"{exc.__class__.__name__}: {exc}"
            summary["failed"].append(token)
            logger.warning("social ingest of %s failed, nothing written: %s", token, exc)
            continue
        entry.update(counts)
        for key in ("created", "updated", "unchanged"):
            summary[key] += counts[key]
    return summary




def _upsert_social(token: str, frame: pd.DataFrame) -> dict[str, int]:
    rows = {}
    for record in frame.to_dict("records"):
        values = {field: _clean(record[field]) for field in SOCIAL_FIELDS}
        if values["alt_rank"] is not None:
            values["alt_rank"] = int(values["alt_rank"])
        rows[record["timestamp"].to_pydatetime()] = values
    with transaction.atomic():
        existing = {
            metric.timestamp: metric
            for metric in SocialMetric.objects.filter(token=token, source=Source.LUNARCRUSH, timestamp__in=list(rows))
        }
        return _apply(
            rows, existing, fields=SOCIAL_FIELDS,
            build=lambda ts, values: SocialMetric(token=token, timestamp=ts, source=Source.LUNARCRUSH, **values),
            model=SocialMetric,
        )
