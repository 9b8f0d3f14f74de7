"""The data-quality report over stored candles (wraps the pure checks of ``marketdata.quality``)."""

from __future__ import annotations

from django.utils import timezone

from marketdata.models import Candle
from marketdata.quality import assess_candles
from marketdata.selectors import candles_df


def candle_series(*, symbols: list[str] | None = None, timeframe: str | None = None) -> list[tuple[str, str]]:
    """Stored ``(symbol, timeframe)`` pairs, sorted, optionally filtered."""
    qs = Candle.objects.all()
    if symbols:
        qs = qs.filter(symbol__in=[s.strip().upper() for s in symbols])
    if timeframe:
        qs = qs.filter(timeframe=timeframe)
    return sorted(set(qs.values_list("symbol", "timeframe").distinct().order_by()))


def data_quality_report(*, symbols: list[str] | None = None, timeframe: str | None = None) -> dict:
    """Quality of every stored series (or those of ``symbols``/``timeframe``), JSON-safe.

    ``{"generated_at", "series": [{"symbol", "timeframe", **assess_candles(...)}, ...],
    "summary": {"series", "rows", "missing_bars", "gaps", "invalid_ohlc", "outliers", "min_score"}}``.
    Symbols asked for but without candles are listed in ``summary["no_data"]``.
    """
    pairs = candle_series(symbols=symbols, timeframe=timeframe)
    series = []
    for symbol, tf in pairs:
        frame = candles_df(symbol=symbol, timeframe=tf)
        series.append({"symbol": symbol, "timeframe": tf, **assess_candles(frame, tf)})
    found = {symbol for symbol, _ in pairs}
    summary = {
        "series": len(series),
        "rows": sum(s["rows"] for s in series),
        "missing_bars": sum(s["missing_bars"] for s in series),
        "gaps": sum(len(s["gaps"]) for s in series),
        "invalid_ohlc": sum(s["invalid_ohlc"] for s in series),
        "outliers": sum(s["outlier_count"] for s in series),
        "min_score": min((s["score"] for s in series), default=None),
        "no_data": sorted({s.strip().upper() for s in symbols or []} - found),
    }
    return {"generated_at": timezone.now().isoformat(), "series": series, "summary": summary}
