"""Each unique and check constraint rejects a bad row in the database itself."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from backtests.models import BacktestConfig, BacktestMetric, BacktestTrade
from marketdata.models import Candle, IndicatorValue, OnchainMetric, SocialMetric
from tests import factories as f

pytestmark = pytest.mark.django_db


def _rejected(make, model) -> None:
    before = model.objects.count()
    with pytest.raises(IntegrityError), transaction.atomic():
        make()
    assert model.objects.count() == before, "nothing half written"


@pytest.mark.parametrize(
    "overrides",
    [
        {"high": 90.0},  # high < low
        {"low": 0.0, "open": 1.0, "close": 1.0},  # non-positive price
        {"open": 120.0},  # open above high
        {"close": 90.0},  # close below low
        {"volume": -1.0},
        {"quote_volume": -5.0},
        {"trade_count": -1},
    ],
)
def test_candle_check_constraints(overrides):
    _rejected(lambda: f.candle(**overrides), Candle)


def test_candle_unique_symbol_timeframe_open_time():
    f.candle()
    _rejected(lambda: f.candle(close=101.0), Candle)
    f.candle(timeframe="4h")  # another timeframe is another bar
    assert Candle.objects.count() == 2


def test_indicator_unique_on_all_keys():
    f.indicator_value()
    _rejected(lambda: f.indicator_value(value=60.0), IndicatorValue)
    f.indicator_value(params="window=9")
    f.indicator_value(indicator="macd", params="fast=12,signal=9,slow=26", output="signal")
    assert IndicatorValue.objects.count() == 3


def test_onchain_unique_and_non_negative():
    f.onchain_metric()
    _rejected(lambda: f.onchain_metric(tvl=2e9), OnchainMetric)
    _rejected(lambda: f.onchain_metric(source="manual", tvl=-1.0), OnchainMetric)
    _rejected(lambda: f.onchain_metric(source="manual", fees=-1.0), OnchainMetric)


def test_social_unique_and_ranges():
    f.social_metric()
    _rejected(lambda: f.social_metric(sentiment=10.0), SocialMetric)
    _rejected(lambda: f.social_metric(source="manual", sentiment=101.0), SocialMetric)
    _rejected(lambda: f.social_metric(source="manual", mentions=-3.0), SocialMetric)


@pytest.mark.parametrize(
    "overrides",
    [
        {"end": f.T0 - timedelta(days=1)},
        {"initial_capital": -10.0},
        {"initial_capital": 0.0},
        {"fee_rate": -0.001},
        {"slippage_rate": 1.5},
        {"latency_ms": -1},
        {"status": "exploded"},
    ],
)
def test_backtest_config_checks(overrides):
    _rejected(lambda: f.backtest_config(**overrides), BacktestConfig)


@pytest.mark.parametrize(
    "overrides",
    [
        {"quantity": 0.0},
        {"entry_price": -1.0},
        {"fees": -0.1},
        {"exit_time": f.T0 - timedelta(hours=1)},
    ],
)
def test_trade_checks(overrides):
    config = f.backtest_config()
    _rejected(lambda: f.backtest_trade(config, **overrides), BacktestTrade)


def test_metric_unique_timestamp_and_ranges():
    config = f.backtest_config()
    f.backtest_metric(config)
    _rejected(lambda: f.backtest_metric(config), BacktestMetric)
    later = f.T0 + timedelta(hours=1)
    _rejected(lambda: f.backtest_metric(config, timestamp=later, drawdown=1.5), BacktestMetric)
    _rejected(lambda: f.backtest_metric(config, timestamp=later, open_positions=-1), BacktestMetric)


def test_walkforward_period_constraints():
    from analytics.models import WalkForwardPeriod, WalkForwardRun

    run = WalkForwardRun.objects.create(strategy="x", start=f.T0, end=f.T0 + timedelta(days=400))
    ok = dict(run=run, index=0, train_start=f.T0, train_end=f.T0 + timedelta(days=180),
              test_start=f.T0 + timedelta(days=180), test_end=f.T0 + timedelta(days=270))
    WalkForwardPeriod.objects.create(**ok)
    _rejected(lambda: WalkForwardPeriod.objects.create(**ok), WalkForwardPeriod)
    overlapping = {**ok, "index": 1, "test_start": f.T0 + timedelta(days=100)}
    _rejected(lambda: WalkForwardPeriod.objects.create(**overlapping), WalkForwardPeriod)


def test_deleting_a_config_deletes_its_results():
    config = f.backtest_config()
    f.backtest_trade(config)
    f.backtest_metric(config)
    config.delete()
    assert BacktestTrade.objects.count() == 0 and BacktestMetric.objects.count() == 0
