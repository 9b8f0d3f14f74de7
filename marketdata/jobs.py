"""Job adapters: JSON params (as stored on a ResearchJob) -> service call -> JSON-safe result.

``backtests.jobs.JOB_SERVICES`` points here; the services themselves take typed arguments.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime
from typing import Any

import pandas as pd
from django.utils.dateparse import parse_datetime


def _when(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError(f"not an ISO date-time: {value!r}")
    return parsed


def to_json(value: Any) -> Any:
    """Dataclasses, frames, timestamps and NaN -> plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_json(v) for v in value]
    if isinstance(value, pd.DataFrame):
        return to_json(value.reset_index().to_dict("records"))
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, str):
        return to_json(value.item())
    return value


def ohlcv_ingest_job(*, symbols: list[str], timeframe: str, start: str, end: str,
                     source: str | None = None) -> dict:
    from marketdata.ingestion import ohlcv_ingest

    return ohlcv_ingest(symbols=symbols, timeframe=timeframe, start=_when(start), end=_when(end),
                        source=source or None).as_dict()


def onchain_ingest_job(*, protocols: list[str] | None = None, start: str | None = None,
                       end: str | None = None) -> dict:
    from marketdata.onchain_services import onchain_ingest

    start_dt, end_dt = _when(start), _when(end)
    return to_json(onchain_ingest(protocols=protocols, start=start_dt.date() if start_dt else None,
                                  end=end_dt.date() if end_dt else None))


def social_ingest_job(*, tokens: list[str], start: str, end: str) -> dict:
    from marketdata.onchain_services import social_ingest

    return to_json(social_ingest(tokens=tokens, start=_when(start), end=_when(end)))


def indicators_compute_job(*, symbols: list[str], timeframe: str, indicators: list[str] | None = None) -> dict:
    from marketdata.indicator_cache import indicators_refresh

    return {symbol: indicators_refresh(symbol=symbol, timeframe=timeframe, indicators=indicators)
            for symbol in symbols}


def data_quality_job(*, symbols: list[str] | None = None, timeframe: str | None = None,
                     reconcile: bool = True) -> dict:
    from marketdata.quality_services import data_quality_report
    from marketdata.services import COINGECKO_SOURCES, sources_reconcile

    report = data_quality_report(symbols=symbols, timeframe=timeframe)
    if reconcile:
        from marketdata.models import Candle

        both = Candle.objects.filter(source__in=COINGECKO_SOURCES)
        if symbols:
            both = both.filter(symbol__in=symbols)
        report["reconciliation"] = sources_reconcile(symbols=sorted(set(both.values_list("symbol", flat=True))))
    return to_json(report)
