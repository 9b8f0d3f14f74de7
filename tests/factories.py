"""Small factories for model rows: valid by default, overridable per test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from backtests.models import BacktestConfig, BacktestMetric, BacktestTrade
from marketdata.models import Candle, IndicatorValue, OnchainMetric, SentimentIndex, SocialMetric

T0 = datetime(2022, 1, 1, tzinfo=UTC)


def candle(**overrides: Any) -> Candle:
    values = dict(symbol="BTC", timeframe="1h", open_time=T0, open=100.0, high=110.0, low=95.0, close=105.0,
                  volume=12.5, quote_volume=1300.0, trade_count=42, source="binance")
    values.update(overrides)
    return Candle.objects.create(**values)


def indicator_value(**overrides: Any) -> IndicatorValue:
    values = dict(symbol="BTC", timeframe="1h", open_time=T0, indicator="rsi", params="window=14",
                  output="value", value=55.0)
    values.update(overrides)
    return IndicatorValue.objects.create(**values)


def onchain_metric(**overrides: Any) -> OnchainMetric:
    values = dict(protocol="aave", date=T0.date(), tvl=1e9, volume=None, fees=1e5, revenue=2e4,
                  source="defillama")
    values.update(overrides)
    return OnchainMetric.objects.create(**values)


def social_metric(**overrides: Any) -> SocialMetric:
    values = dict(token="BTC", timestamp=T0, sentiment=70.0, social_volume=1000.0, mentions=500.0,
                  galaxy_score=60.0, source="lunarcrush")
    values.update(overrides)
    return SocialMetric.objects.create(**values)


def sentiment_index(**overrides: Any) -> SentimentIndex:
    values = dict(index="fear_greed", date=T0.date(), value=23.0, classification="Extreme Fear",
                  source="alternative_me")
    values.update(overrides)
    return SentimentIndex.objects.create(**values)


def backtest_config(**overrides: Any) -> BacktestConfig:
    values = dict(strategy="sma_crossover", symbols=["BTC"], timeframe="1h", start=T0,
                  end=T0 + timedelta(days=30), parameters={"fast": 20, "slow": 50})
    values.update(overrides)
    return BacktestConfig.objects.create(**values)


def backtest_trade(config: BacktestConfig, **overrides: Any) -> BacktestTrade:
    values = dict(config=config, symbol="BTC", side="long", entry_time=T0, entry_price=100.0,
                  exit_time=T0 + timedelta(hours=5), exit_price=110.0, quantity=1.0, fees=0.2,
                  slippage_cost=1.0, pnl=8.8, return_pct=0.088, exit_reason="signal")
    values.update(overrides)
    return BacktestTrade.objects.create(**values)


def backtest_metric(config: BacktestConfig, **overrides: Any) -> BacktestMetric:
    values = dict(config=config, timestamp=T0, equity=100_000.0, cash=100_000.0, drawdown=0.0)
    values.update(overrides)
    return BacktestMetric.objects.create(**values)


#: The range of ``btc_candles_in_db`` (real BTC 1h candles) that walk-forward tests run on.
WALKFORWARD_START, WALKFORWARD_END = datetime(2021, 12, 1, tzinfo=UTC), datetime(2022, 5, 1, tzinfo=UTC)


def executed_walkforward(**overrides: Any):
    """A small walk-forward of ``sma_crossover`` on BTC, created and executed here (1-month windows)."""
    from analytics import services

    values = dict(strategy="sma_crossover", symbols=["BTC"], timeframe="1h", start=WALKFORWARD_START,
                  end=WALKFORWARD_END, train_months=1, test_months=1, search="random", max_trials=6, seed=7,
                  queue=False)
    values.update(overrides)
    run = services.walkforward_create(**values)
    services.walkforward_execute(run.pk)
    run.refresh_from_db()
    return run
