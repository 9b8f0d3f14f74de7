"""Background job kinds of the market-data layer: JSON params (as stored on a job) -> service -> JSON result.

Registered with :mod:`core.jobs` when the app starts (``MarketdataConfig.ready``). Each result carries
``ok`` and, when some of the work failed, ``error``: the job then ends ``failed`` (with the result kept).
"""

from __future__ import annotations

from typing import Any

from core.jobs import register_job
from core.jsonsafe import json_safe
from core.timeutil import utc_datetime


def _when(value: Any) -> Any:
    return None if value is None else utc_datetime(value)


def _with_outcome(result: dict[str, Any], failures: dict[str, str | None]) -> dict[str, Any]:
    """Add ``ok`` and a one-line ``error`` naming each failed item."""
    failed = {name: error for name, error in failures.items() if error}
    result = {**result, "ok": not failed}
    if failed:
        result["error"] = "; ".join(f"{name}: {error}" for name, error in failed.items())
    return result


def ohlcv_ingest_job(*, symbols: list[str], timeframe: str, start: str, end: str,
                     source: str | None = None) -> dict:
    from marketdata.ingestion import ohlcv_ingest

    result = ohlcv_ingest(symbols=symbols, timeframe=timeframe, start=_when(start), end=_when(end),
                          source=source or None)
    return _with_outcome(result.as_dict(), {item.symbol: item.error for item in result.symbols})


def onchain_ingest_job(*, protocols: list[str] | None = None, start: str | None = None,
                       end: str | None = None) -> dict:
    from marketdata.onchain_services import onchain_ingest

    start_dt, end_dt = _when(start), _when(end)
    summary = json_safe(onchain_ingest(protocols=protocols, start=start_dt.date() if start_dt else None,
                                       end=end_dt.date() if end_dt else None))
    return _with_outcome(summary, {key: entry.get("error") for key, entry in summary["protocols"].items()})


def social_ingest_job(*, tokens: list[str], start: str, end: str) -> dict:
    from marketdata.onchain_services import social_ingest

    summary = json_safe(social_ingest(tokens=tokens, start=_when(start), end=_when(end)))
    if summary.get("skipped"):
        return {**summary, "ok": False, "error": summary.get("message")}
    return _with_outcome(summary, {key: entry.get("error") for key, entry in summary["tokens"].items()})


def sentiment_ingest_job() -> dict:
    from marketdata.onchain_services import sentiment_ingest

    summary = json_safe(sentiment_ingest())
    return {**summary, "ok": not summary["failed"]}


def indicators_compute_job(*, symbols: list[str], timeframe: str, indicators: list[str] | None = None) -> dict:
    from marketdata.indicator_cache import indicators_refresh

    return json_safe({symbol: indicators_refresh(symbol=symbol, timeframe=timeframe, indicators=indicators)
                      for symbol in symbols})


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
    return json_safe(report)


def register_jobs() -> None:
    register_job("ingest_ohlcv", "Candle ingestion", ohlcv_ingest_job)
    register_job("ingest_onchain", "On-chain ingestion", onchain_ingest_job)
    register_job("ingest_social", "Social ingestion", social_ingest_job)
    register_job("ingest_sentiment", "Fear & Greed ingestion", sentiment_ingest_job)
    register_job("compute_indicators", "Indicator computation", indicators_compute_job)
    register_job("data_quality", "Data-quality report", data_quality_job)
