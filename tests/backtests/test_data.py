"""What a backtest reads: point-in-time fundamentals, candles built from 1h when needed, quality scores."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from backtests.data import market_data_load
from marketdata.models import OnchainMetric
from strategies.registry import get_strategy
from tests import factories as f

pytestmark = pytest.mark.django_db


def _hourly_candles(symbol: str, start: str, hours: int) -> None:
    for i, ts in enumerate(pd.date_range(start, periods=hours, freq="h", tz="UTC")):
        price = 10.0 + i * 0.01
        f.candle(symbol=symbol, timeframe="1h", open_time=ts.to_pydatetime(), open=price, high=price + 0.05,
                 low=price - 0.05, close=price + 0.02, volume=100.0)


def test_a_strategy_reading_tvl_cannot_see_day_d_during_day_d(db):
    """Layer-2 growth reads TVL: on every bar of day D the TVL it is given is from day D-1 or earlier."""
    _hourly_candles("OP", "2023-01-01", 24 * 4)
    for day, tvl in [(date(2023, 1, 1), 100.0), (date(2023, 1, 2), 200.0), (date(2023, 1, 3), 300.0)]:
        OnchainMetric.objects.create(protocol="optimism", date=day, tvl=tvl, source="defillama")
    strategy = get_strategy("layer2_growth")()
    loaded = market_data_load(strategy=strategy, symbols=["OP"], timeframe="1h",
                              start=datetime(2023, 1, 1, tzinfo=UTC), end=datetime(2023, 1, 5, tzinfo=UTC))
    onchain = loaded.market.onchain["OP"]
    for day, own_value in [("2023-01-01", 100.0), ("2023-01-02", 200.0), ("2023-01-03", 300.0)]:
        assert (onchain.loc[day, "tvl"] != own_value).all()
        assert (onchain.loc[day, "as_of"].dropna() < pd.Timestamp(day, tz="UTC")).all()
    assert np.isnan(onchain.loc["2023-01-01", "tvl"]).all()  # nothing published before Jan 2 01:00


def test_longer_timeframe_is_built_from_stored_hourly_candles_with_a_note(db):
    _hourly_candles("AAVE", "2023-01-01", 24 * 3 + 5)
    strategy = get_strategy("lending_value")()
    loaded = market_data_load(strategy=strategy, symbols=["AAVE"], timeframe="1d",
                              start=datetime(2023, 1, 1, tzinfo=UTC), end=datetime(2023, 1, 10, tzinfo=UTC))
    daily = loaded.market.candles["AAVE"]
    assert list(daily.index.day) == [1, 2, 3]  # the unfinished 4th day is dropped, not invented
    assert daily["volume"].iloc[0] == 2400.0
    assert any("built from stored 1h candles" in note for note in loaded.market.notes)


def test_quality_score_is_recorded_and_warned_about(db):
    _hourly_candles("BTC", "2023-01-01", 48)
    from marketdata.models import Candle

    Candle.objects.filter(open_time__gte=datetime(2023, 1, 1, 10, tzinfo=UTC),
                          open_time__lt=datetime(2023, 1, 1, 20, tzinfo=UTC)).delete()
    strategy = get_strategy("sma_crossover")()
    loaded = market_data_load(strategy=strategy, symbols=["BTC"], timeframe="1h",
                              start=datetime(2023, 1, 1, tzinfo=UTC), end=datetime(2023, 1, 3, tzinfo=UTC))
    assert loaded.quality_score == pytest.approx(38 / 48, abs=1e-4)  # the report rounds to 4 decimals
    assert any("data quality score 0.79" in note for note in loaded.market.notes)


def test_daily_rows_cached_reads_each_protocols_rows_once_and_gives_the_same_fundamentals(
        db, django_assert_num_queries):
    """The stress runs rebuild every strategy's market per window: inside ``daily_rows_cached`` the daily
    rows come from the database once per protocol (and once for the sentiment index), the aligned values
    and vendors equal an uncached load, and a caller's edits of its vendors never reach the next caller."""
    from backtests.data import daily_rows_cached, fundamentals_for

    for day, tvl in [(date(2023, 1, 1), 100.0), (date(2023, 1, 2), 200.0)]:
        OnchainMetric.objects.create(protocol="aave", date=day, tvl=tvl, source="defillama")
        f.sentiment_index(date=day, value=40.0 + day.day)
    strategy = get_strategy("lending_value")()
    bars = pd.date_range("2023-01-01", periods=72, freq="h", tz="UTC")
    candles = {"AAVE": pd.DataFrame({"close": 1.0}, index=bars)}
    bar = pd.Timedelta(hours=1)
    uncached = fundamentals_for(strategy, candles, bar)
    needs = int(strategy.needs_onchain) + int(strategy.needs_sentiment) + int(strategy.needs_social)
    assert needs >= 1
    with daily_rows_cached():
        with django_assert_num_queries(needs):
            first = fundamentals_for(strategy, candles, bar)
        first.vendors["AAVE"]["tvl"] = "edited by a caller"
        with django_assert_num_queries(0):
            second = fundamentals_for(strategy, {"AAVE": candles["AAVE"].iloc[24:]}, bar)
    for kind in ("onchain", "sentiment", "social"):
        for symbol, frame in getattr(uncached, kind).items():
            pd.testing.assert_frame_equal(getattr(first, kind)[symbol], frame)
            pd.testing.assert_frame_equal(getattr(second, kind)[symbol], frame.iloc[24:])
    assert second.vendors == uncached.vendors
    OnchainMetric.objects.create(protocol="aave", date=date(2022, 12, 31), tvl=300.0, source="defillama")
    after = fundamentals_for(strategy, candles, bar)  # outside the block: the database again
    assert np.isnan(uncached.onchain["AAVE"]["tvl"].iloc[5]) and after.onchain["AAVE"]["tvl"].iloc[5] == 300.0
