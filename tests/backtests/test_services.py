"""Backtest runs through the service: stored in one transaction, failures recorded, retries idempotent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backtests import services
from backtests.models import BacktestConfig, BacktestMetric, BacktestTrade, RunStatus
from core import lifecycle

pytestmark = pytest.mark.django_db

START = datetime(2022, 1, 15, tzinfo=UTC)
END = datetime(2022, 5, 1, tzinfo=UTC)


def _create(**overrides) -> BacktestConfig:
    values = dict(strategy="sma_crossover", symbols=["BTC"], timeframe="1h", start=START, end=END,
                  parameters={"fast": 20, "slow": 50, "stop_pct": 0.05}, queue=False)
    values.update(overrides)
    return services.backtest_create(**values)


def test_run_stores_trades_metrics_and_headline_numbers(btc_candles_in_db):
    config = _create()
    services.backtest_execute(config.pk)
    config.refresh_from_db()
    assert config.status == RunStatus.SUCCEEDED, config.error
    trades = BacktestTrade.objects.filter(config=config)
    assert trades.count() == config.num_trades > 0
    hours = int((END - START).total_seconds() // 3600)
    assert BacktestMetric.objects.filter(config=config).count() == hours  # one snapshot per bar from start on
    first = BacktestMetric.objects.filter(config=config).order_by("timestamp").first()
    assert first.timestamp == START  # warm-up bars are loaded but not stored
    last = BacktestMetric.objects.filter(config=config).order_by("timestamp").last()
    assert config.final_equity == pytest.approx(last.equity)
    assert config.total_return == pytest.approx(last.equity / config.initial_capital - 1)
    assert len(config.data_hash) == 64 and config.code_version
    assert 0.99 <= config.data_quality_score <= 1.0  # real Binance hours, no gaps in this range
    assert config.summary["performance"]["annualization"] == "365 days, daily-resampled returns"
    # costs are charged: every trade paid fees and slippage
    assert all(t.fees > 0 and t.slippage_cost > 0 for t in trades)


def test_no_entry_before_start(btc_candles_in_db):
    config = _create()
    services.backtest_execute(config.pk)
    assert not BacktestTrade.objects.filter(config=config, entry_time__lt=START).exists()


def test_rerun_of_a_stored_run_reproduces_identical_trades_and_metrics(btc_candles_in_db):
    first = _create()
    second = _create()
    services.backtest_execute(first.pk)
    services.backtest_execute(second.pk)
    fields = ["symbol", "entry_time", "entry_price", "exit_time", "exit_price", "quantity", "pnl", "fees"]
    assert list(first.trades.order_by("id").values_list(*fields)) == list(
        second.trades.order_by("id").values_list(*fields))
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.data_hash == second.data_hash
    assert first.sharpe_ratio == second.sharpe_ratio and first.final_equity == second.final_equity


def test_missing_data_fails_the_run_with_a_clear_error_and_no_trades(db):
    config = _create(symbols=["BTC"])
    services.backtest_execute(config.pk)
    config.refresh_from_db()
    assert config.status == RunStatus.FAILED
    assert "no 1h candles for BTC" in config.error
    assert config.trades.count() == 0 and config.metrics.count() == 0


def test_failure_while_storing_leaves_nothing_half_written(btc_candles_in_db, monkeypatch):
    config = _create()

    written = []
    insert_rows = services.insert_rows

    def explode(model, *args, **kwargs):
        if model is BacktestMetric:  # the snapshots come after the trades
            raise RuntimeError("disk full")
        written.append(insert_rows(model, *args, **kwargs))
        return written[-1]

    monkeypatch.setattr(services, "insert_rows", explode)
    services.backtest_execute(config.pk)
    config.refresh_from_db()
    assert config.status == RunStatus.FAILED and "disk full" in config.error
    assert written and written[0] > 0  # trades were written first ...
    assert config.trades.count() == 0, "trades written before the failure were rolled back"


def test_retried_run_does_not_duplicate_trades(btc_candles_in_db):
    config = _create()
    services.backtest_execute(config.pk)
    trades = config.trades.count()
    # A worker killed after writing: the operator retries; the run is replaced, not doubled.
    BacktestConfig.objects.filter(pk=config.pk).update(status=RunStatus.FAILED)
    lifecycle.retry(BacktestConfig.objects.get(pk=config.pk))
    services.backtest_execute(config.pk)
    config.refresh_from_db()
    assert config.status == RunStatus.SUCCEEDED and config.attempts == 2
    assert config.trades.count() == trades


def test_bad_parameters_are_refused_before_anything_is_saved(db):
    with pytest.raises(ValueError, match="fast"):
        _create(parameters={"fast": -3})
    with pytest.raises(ValueError, match="unknown risk limit"):
        _create(risk_limits={"max_leverage": 3})
    assert BacktestConfig.objects.count() == 0
