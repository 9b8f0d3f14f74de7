"""Load what a strategy needs from the database into the engine's ``MarketData``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import pandas as pd

from marketdata.models import ONCHAIN_FIELDS, OnchainMetric, SentimentIndex, SocialMetric, Source
from marketdata.pointintime import DEFAULT_PUBLICATION_LAG, align_daily_to_bars
from marketdata.quality import assess_candles
from marketdata.selectors import candles_df, candles_resampled
from marketdata.symbols import TOKENS_BY_SYMBOL
from marketdata.timeframes import TIMEFRAMES, timeframe_delta
from strategies.base import BaseStrategy, MarketData

ONCHAIN_COLUMNS = list(ONCHAIN_FIELDS)
SENTIMENT_INDEXES = {"fear_greed": "fear_greed"}  # MarketData.sentiment column -> SentimentIndex.index
SOCIAL_COLUMNS = ["sentiment", "social_volume", "mentions", "galaxy_score", "alt_rank", "social_dominance"]


BASE_TIMEFRAME = "1h"
QUALITY_WARNING_THRESHOLD = 0.9


@dataclass
class LoadedData:
    market: MarketData
    warmup_start: datetime
    missing_symbols: list[str]
    quality: dict[str, float] = field(default_factory=dict)

    @property
    def quality_score(self) -> float | None:
        """The worst quality score of the candle series used (see ``marketdata.quality``)."""
        return min(self.quality.values()) if self.quality else None


def candles_for(symbol: str, timeframe: str, start, end, notes: list[str]) -> pd.DataFrame:
    """Stored candles; when none are stored at ``timeframe``, built in memory from complete 1h buckets."""
    frame = candles_df(symbol=symbol, timeframe=timeframe, start=start, end=end)
    if not frame.empty or timeframe_delta(timeframe) <= timeframe_delta(BASE_TIMEFRAME):
        return frame
    built = candles_resampled(symbol=symbol, source_timeframe=BASE_TIMEFRAME, timeframe=timeframe, start=start,
                              end=end)
    if built.frame.empty and not built.dropped:  # no hourly candles either
        return frame
    notes.append(f"{symbol}: {timeframe} candles built from stored 1h candles ({len(built.frame)} complete "
                 f"buckets, {len(built.dropped)} incomplete ones dropped)")
    return built.frame


def detail_candles_for(symbol: str, timeframe: str, start, end) -> tuple[pd.DataFrame, str] | None:
    """The finest stored candles below ``timeframe`` with rows in ``[start, end)`` (open, high, low, close)
    and their timeframe, or None: the engine orders a stop and a target reached in one bar with them."""
    bar = timeframe_delta(timeframe)
    for finer in sorted((tf for tf in TIMEFRAMES if timeframe_delta(tf) < bar), key=timeframe_delta):
        frame = candles_df(symbol=symbol, timeframe=finer, start=start, end=end)
        if not frame.empty:
            return frame[["open", "high", "low", "close"]], finer
    return None


_Loaded = TypeVar("_Loaded")
#: The daily rows read so far inside ``daily_rows_cached()`` (None outside it: every call reads the database).
_DAILY_ROWS: ContextVar[dict[tuple, Any] | None] = ContextVar("daily_rows", default=None)


@contextmanager
def daily_rows_cached() -> Iterator[None]:
    """Inside the block, each protocol's daily on-chain rows, each token's social rows and the sentiment indexes
    are read from the database once and shared (read-only) by every ``fundamentals_for`` call.

    For work that builds many markets from the same stored rows and writes none of them (the stress windows
    of one run rebuild every strategy's market per window); nested blocks share the outer one's rows.
    """
    if _DAILY_ROWS.get() is not None:
        yield
        return
    token = _DAILY_ROWS.set({})
    try:
        yield
    finally:
        _DAILY_ROWS.reset(token)


def _daily_rows(key: tuple, load: Callable[[], _Loaded]) -> _Loaded:
    rows = _DAILY_ROWS.get()
    if rows is None:
        return load()
    if key not in rows:
        rows[key] = load()
    return rows[key]


def onchain_daily(symbol: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """Daily on-chain metrics of the protocol behind ``symbol`` (one row per day) and, per column, the
    vendor(s) its values came from. Where two vendors report one column for a day, the first in vendor
    order wins (vendors rarely overlap: each series here comes from one)."""
    token = TOKENS_BY_SYMBOL.get(symbol)
    if token is None or not token.defillama_slug:
        return pd.DataFrame(columns=ONCHAIN_COLUMNS), {}
    rows = OnchainMetric.objects.filter(protocol=token.defillama_slug).order_by("date", "source")
    frame = pd.DataFrame(list(rows.values("date", "source", *ONCHAIN_COLUMNS)))
    if frame.empty:
        return pd.DataFrame(columns=ONCHAIN_COLUMNS), {}
    frame["date"] = pd.to_datetime(frame["date"], utc=True)
    vendors = {column: _vendor_names(frame.loc[frame[column].notna(), "source"])
               for column in ONCHAIN_COLUMNS if frame[column].notna().any()}
    return frame.groupby("date")[ONCHAIN_COLUMNS].first().astype("float64"), vendors


def _vendor_names(sources: pd.Series) -> str:
    """The display names of the vendors in ``sources`` (``Source`` values), sorted and joined."""
    labels = dict(Source.choices)
    return ", ".join(labels.get(value, value) for value in sorted(sources.unique()))


def sentiment_daily() -> tuple[pd.DataFrame, dict[str, str]]:
    """The market-wide sentiment indexes by day (columns of :data:`SENTIMENT_INDEXES`) and their vendors."""
    rows = SentimentIndex.objects.filter(index__in=list(SENTIMENT_INDEXES.values())).order_by("date", "source")
    frame = pd.DataFrame(list(rows.values("index", "date", "value", "source")))
    if frame.empty:
        return pd.DataFrame(columns=list(SENTIMENT_INDEXES)), {}
    frame["date"] = pd.to_datetime(frame["date"], utc=True)
    columns = {index: column for column, index in SENTIMENT_INDEXES.items()}
    wide = frame.groupby(["date", "index"])["value"].first().unstack("index").rename(columns=columns)
    vendors = {columns[index]: _vendor_names(group["source"]) for index, group in frame.groupby("index")}
    return wide.reindex(columns=list(SENTIMENT_INDEXES)).astype("float64"), vendors


def social_daily(symbol: str) -> pd.DataFrame:
    rows = SocialMetric.objects.filter(token=symbol).order_by("timestamp")
    frame = pd.DataFrame(list(rows.values("timestamp", *SOCIAL_COLUMNS)))
    if frame.empty:
        return pd.DataFrame(columns=SOCIAL_COLUMNS)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True).dt.normalize()
    return frame.groupby("timestamp")[SOCIAL_COLUMNS].last().astype("float64")


@dataclass
class Fundamentals:
    """The point-in-time fundamentals of a set of candle frames (``MarketData`` fields of the same names)."""

    onchain: dict[str, pd.DataFrame]
    social: dict[str, pd.DataFrame]
    sentiment: dict[str, pd.DataFrame]
    vendors: dict[str, dict[str, str]]


def fundamentals_for(strategy: BaseStrategy, candles: dict[str, pd.DataFrame], bar: pd.Timedelta,
                     publication_lag: pd.Timedelta = DEFAULT_PUBLICATION_LAG) -> Fundamentals:
    """On-chain, social and sentiment rows the strategy reads, aligned point-in-time to each symbol's bars."""
    onchain, social, sentiment = {}, {}, {}
    vendors: dict[str, dict[str, str]] = {}
    market_sentiment, sentiment_vendors = (_daily_rows(("sentiment",), sentiment_daily) if strategy.needs_sentiment
                                           else (None, {}))
    for symbol, frame in candles.items():
        vendors[symbol] = {}
        if strategy.needs_onchain:
            daily, onchain_vendors = _daily_rows(("onchain", symbol), lambda s=symbol: onchain_daily(s))
            vendors[symbol] = dict(onchain_vendors)
            onchain[symbol] = align_daily_to_bars(daily, frame.index, bar, publication_lag)
        if strategy.needs_social:
            daily_social = _daily_rows(("social", symbol), lambda s=symbol: social_daily(s))
            social[symbol] = align_daily_to_bars(daily_social, frame.index, bar, publication_lag)
        if market_sentiment is not None:
            sentiment[symbol] = align_daily_to_bars(market_sentiment, frame.index, bar, publication_lag)
            vendors[symbol].update(sentiment_vendors)
    return Fundamentals(onchain=onchain, social=social, sentiment=sentiment, vendors=vendors)


def market_data_load(
    *,
    strategy: BaseStrategy,
    symbols: list[str],
    timeframe: str,
    start: datetime,
    end: datetime,
    publication_lag: pd.Timedelta = DEFAULT_PUBLICATION_LAG,
    intrabar_detail: bool = True,
) -> LoadedData:
    """Candles (with warm-up history before ``start``), point-in-time fundamentals, regime candles and (with
    ``intrabar_detail``) the finest stored candles below ``timeframe`` for the engine's intrabar ordering."""
    bar = timeframe_delta(timeframe)
    warmup_start = pd.Timestamp(start) - bar * int(strategy.warmup_bars)
    candles: dict[str, pd.DataFrame] = {}
    missing: list[str] = []
    built_notes: list[str] = []
    for symbol in symbols:
        frame = candles_for(symbol, timeframe, warmup_start, end, built_notes)
        if frame.empty:
            missing.append(symbol)
        else:
            candles[symbol] = frame
    detail: dict[str, pd.DataFrame] = {}
    for symbol in candles if intrabar_detail else ():
        found = detail_candles_for(symbol, timeframe, warmup_start, end)
        if found is not None:
            detail[symbol] = found[0]
            built_notes.append(f"{symbol}: {len(found[0])} {found[1]} candles order a stop and a target reached in "
                               f"the same {timeframe} bar ({found[0].index[0]:%Y-%m-%d}..{found[0].index[-1]:%Y-%m-%d})")
    regime = {}
    for symbol in strategy.regime_symbols:
        frame = candles[symbol] if symbol in candles else candles_for(symbol, timeframe, warmup_start, end,
                                                                       built_notes)
        if not frame.empty:
            regime[symbol] = frame
    found = fundamentals_for(strategy, candles, bar, publication_lag)
    notes = [f"{symbol}: no {timeframe} candles between {warmup_start:%Y-%m-%d} and {end:%Y-%m-%d}; not traded"
             for symbol in missing]
    quality = {symbol: assess_candles(frame, timeframe)["score"] for symbol, frame in candles.items()}
    notes += [f"{symbol}: data quality score {score:.2f} is below {QUALITY_WARNING_THRESHOLD}: check the "
              f"data-quality report (gaps, outliers) before trusting this run"
              for symbol, score in quality.items() if score < QUALITY_WARNING_THRESHOLD]
    market = MarketData(candles=candles, onchain=found.onchain, social=found.social, regime=regime,
                        notes=[*built_notes, *notes], sentiment=found.sentiment, vendors=found.vendors, detail=detail)
    return LoadedData(market=market, warmup_start=warmup_start.to_pydatetime(), missing_symbols=missing,
                      quality=quality)
