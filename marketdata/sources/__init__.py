"""Data providers behind one interface, and the registry that picks one.

>>> select_source("BTC", "1h")          # Binance lists BTCUSDT and 1h
'binance'
>>> select_source("DAI", "1d")          # Binance spot does not list DAI
'coingecko'

``get_source(name)`` builds a configured client from Django settings (base URL, API key); pass keyword
arguments to override them (tests point ``base_url`` at a local server).
"""

from __future__ import annotations

from typing import Any

from marketdata.sources.base import (
    OHLCV_COLUMNS,
    BadRowError,
    MalformedPayloadError,
    OHLCVSource,
    RateLimitedError,
    SourceError,
    derive_quote_volume,
)
from marketdata.timeframes import timeframe_delta

__all__ = [
    "OHLCV_COLUMNS", "OHLCV_SOURCES", "BadRowError", "MalformedPayloadError", "OHLCVSource", "RateLimitedError",
    "SourceError", "derive_quote_volume", "get_source", "select_source", "source_supports",
]

#: OHLCV source names, in order of preference for automatic selection.
OHLCV_SOURCES: tuple[str, ...] = ("binance", "coingecko")


def source_supports(name: str, symbol: str, timeframe: str) -> bool:
    """Whether source ``name`` can serve ``symbol`` at ``timeframe`` (no network)."""
    if name == "binance":
        from marketdata.sources.binance import BINANCE_INTERVALS, binance_pair

        return timeframe in BINANCE_INTERVALS and binance_pair(symbol) is not None
    if name == "coingecko":
        from marketdata.sources.coingecko import COINGECKO_TIMEFRAMES, coingecko_id

        return timeframe in COINGECKO_TIMEFRAMES and coingecko_id(symbol) is not None
    raise ValueError(f"unknown OHLCV source {name!r}; expected one of {', '.join(OHLCV_SOURCES)}")


def select_source(symbol: str, timeframe: str, prefer: str | None = None) -> str:
    """The source to load ``symbol``/``timeframe`` from: Binance where it lists the pair and the
    timeframe, CoinGecko otherwise. ``prefer`` forces a source; ``ValueError`` if it cannot serve."""
    timeframe_delta(timeframe)  # ValueError naming the valid codes
    if prefer:
        if not source_supports(prefer, symbol, timeframe):
            raise ValueError(f"source {prefer!r} cannot serve {symbol} at {timeframe}")
        return prefer
    for name in OHLCV_SOURCES:
        if source_supports(name, symbol, timeframe):
            return name
    raise ValueError(f"no source can serve {symbol} at {timeframe}")


def get_source(name: str, **kwargs: Any) -> OHLCVSource:
    """A configured OHLCV client (settings supply base URL and API key unless given in ``kwargs``)."""
    if name == "binance":
        from marketdata.sources import binance

        return binance.from_settings(**kwargs)
    if name == "coingecko":
        from marketdata.sources import coingecko

        return coingecko.from_settings(**kwargs)
    raise ValueError(f"unknown OHLCV source {name!r}; expected one of {', '.join(OHLCV_SOURCES)}")
