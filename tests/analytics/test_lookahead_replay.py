"""The five research strategies pass the exact bar-by-bar replay on real bundled data.

One module-scoped load serves every test: the bundled Binance 1h candles (2021-2023 files) of the
strategies' universes and the BTC/ETH regime symbols, cut to the warm-up plus a three-week window per
strategy, and the bundled fundamentals (on-chain metrics, Fear & Greed). The 4h and 1d strategies run on
candles built from those 1h rows, as on the platform.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from analytics.lookahead import PASSED, lookahead_check
from backtests.data import market_data_load
from marketdata.timeframes import timeframe_delta
from strategies.registry import RESEARCH_STRATEGIES

pytestmark = pytest.mark.django_db

START = datetime(2023, 5, 10, tzinfo=UTC)
END = datetime(2023, 5, 31, tzinfo=UTC)  # three weeks after the warm-up


def _first_needed() -> dict[str, pd.Timestamp]:
    """Per symbol, the earliest 1h row any strategy's warm-up reaches (two days of slack for the resampling)."""
    needed: dict[str, pd.Timestamp] = {}
    for cls in RESEARCH_STRATEGIES:
        first = pd.Timestamp(START) - timeframe_delta(cls.timeframe) * cls.warmup_bars - pd.Timedelta(days=2)
        for symbol in (*cls.universe, *cls.regime_symbols):
            needed[symbol] = min(needed.get(symbol, first), first)
    return needed


@pytest.fixture(scope="module")
def bundled(django_db_setup, django_db_blocker):
    from marketdata.csv_import import load_candle_table
    from marketdata.models import Candle, OnchainMetric, SentimentIndex
    from marketdata.sample import read_sample_file, sample_files
    from marketdata.sample_fundamentals import fundamentals_load

    needed = _first_needed()
    with django_db_blocker.unblock():
        for sample in sample_files(symbols=list(needed), timeframes=["1h"]):
            if "2021_2023" not in sample.relative_path:
                continue
            frame, _ = read_sample_file(sample)
            window = frame[(frame["open_time"] >= needed[sample.symbol]) & (frame["open_time"] < pd.Timestamp(END))]
            load_candle_table(window, name=sample.relative_path, symbol=sample.symbol, timeframe="1h",
                              source=sample.source)
        fundamentals_load()
    yield
    with django_db_blocker.unblock():
        for model in (Candle, OnchainMetric, SentimentIndex):
            model.objects.all().delete()


@pytest.mark.parametrize("cls", RESEARCH_STRATEGIES, ids=[cls.name for cls in RESEARCH_STRATEGIES])
def test_research_strategy_passes_the_replay(bundled, cls):
    strategy = cls()
    market = market_data_load(strategy=strategy, symbols=list(cls.universe), timeframe=cls.timeframe,
                              start=START, end=END).market
    assert market.candles, market.notes
    report = lookahead_check(strategy, market, mode="replay")
    assert report.status == PASSED and report.passed, report.to_dict()["differences"][:5]
    # Every bar of the three weeks is replayed (the loader adds exactly the warm-up before START).
    expected = (pd.Timestamp(END) - pd.Timestamp(START)) / timeframe_delta(cls.timeframe)
    assert len(report.cuts) == report.signal_cuts + report.non_signal_cuts
    assert expected - 2 <= len(report.cuts) <= expected
    assert report.cuts[0] >= pd.Timestamp(START) - timeframe_delta(cls.timeframe)
    # The fundamentals it reads were there to be cut (not only the candles).
    tables = [market.onchain] * cls.needs_onchain + [market.sentiment] * cls.needs_sentiment
    assert any(frame.drop(columns="as_of", errors="ignore").notna().any().any()
               for table in tables for frame in table.values())
