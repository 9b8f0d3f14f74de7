"""Storing a run's results: bounded metric snapshots for long runs, and the fast row writes (binary COPY on
PostgreSQL, executemany of prebuilt tuples elsewhere) storing exactly what the ORM's bulk_create stored."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from django.db import connection, transaction

from backtests import services
from backtests.metrics import daily_returns, drawdown_series
from backtests.models import BacktestConfig, BacktestMetric, BacktestTrade, RunStatus
from backtests.selectors import equity_frame, snapshot_resolution
from core import lifecycle

pytestmark = pytest.mark.django_db

START = datetime(2022, 1, 15, tzinfo=UTC)
END = datetime(2022, 5, 1, tzinfo=UTC)
BARS = int((END - START).total_seconds() // 3600)  # 2,544 hourly bars from the start on
METRIC_COLUMNS = ["timestamp", "equity", "cash", "drawdown", "exposure", "portfolio_heat", "open_positions",
                  "circuit_breaker"]
TRADE_COLUMNS = list(services.TRADE_FIELDS)
METHODS = ["executemany", "copy"]


def _create(**overrides) -> BacktestConfig:
    values = dict(strategy="sma_crossover", symbols=["BTC"], timeframe="1h", start=START, end=END,
                  parameters={"fast": 10, "slow": 30, "stop_pct": 0.05}, queue=False)
    values.update(overrides)
    return services.backtest_create(**values)


def _claimed(config: BacktestConfig) -> int:
    attempt = lifecycle.claim(BacktestConfig, config.pk)
    assert attempt is not None
    config.refresh_from_db()
    return attempt


def _metrics(config: BacktestConfig) -> list[tuple]:
    return list(BacktestMetric.objects.filter(config=config).order_by("id").values_list(*METRIC_COLUMNS))


def _trades(config: BacktestConfig) -> list[tuple]:
    return list(BacktestTrade.objects.filter(config=config).order_by("id").values_list(*TRADE_COLUMNS))


def reference_store(config: BacktestConfig, outcome: services.RunOutcome) -> None:
    """The rows as the store path before bounded snapshots wrote them: model instances of every trade leg
    and every bar from the start on, through ``bulk_create``."""
    trades = []
    for record in outcome.result.trades[TRADE_COLUMNS].to_dict("records"):
        record["entry_time"] = pd.Timestamp(record["entry_time"]).to_pydatetime()
        record["exit_time"] = pd.Timestamp(record["exit_time"]).to_pydatetime()
        record["return_pct"] = None if pd.isna(record["return_pct"]) else float(record["return_pct"])
        trades.append(BacktestTrade(config=config, **record))
    frame = outcome.result.equity.loc[outcome.result.equity.index >= pd.Timestamp(config.start)]
    metrics = [
        BacktestMetric(config=config, timestamp=ts.to_pydatetime(), equity=float(row.equity), cash=float(row.cash),
                       drawdown=float(min(max(row.drawdown, 0.0), 1.0)), exposure=float(max(row.exposure, 0.0)),
                       portfolio_heat=float(max(row.portfolio_heat, 0.0)), open_positions=int(row.open_positions),
                       circuit_breaker=bool(row.circuit_breaker))
        for ts, row in zip(frame.index, frame.itertuples(index=False), strict=True)]
    with transaction.atomic():
        BacktestTrade.objects.bulk_create(trades, batch_size=1000)
        BacktestMetric.objects.bulk_create(metrics, batch_size=1000)


@pytest.fixture
def computed(btc_candles_in_db):
    """One computed (not stored) run on the real BTC hours, and its full-resolution equity from the start."""
    config = _create()
    outcome = services.backtest_compute(config)
    full = outcome.result.equity.loc[outcome.result.equity.index >= START]
    assert len(full) == BARS and len(outcome.result.trades) > 20
    return config, outcome, full


def _methods_here() -> list[str]:
    return METHODS if connection.vendor == "postgresql" else ["executemany"]


# --------------------------------------------------------------------------- short runs: every bar, as before
def test_a_short_run_stores_every_bar_exactly_as_before(computed):
    config, outcome, _ = computed
    assert BARS < services.FULL_RESOLUTION_BARS
    services.backtest_store(config, outcome, _claimed(config))
    reference = _create()
    reference_store(reference, outcome)
    assert _metrics(config) == _metrics(reference)
    assert len(_metrics(config)) == BARS
    assert _trades(config) == _trades(reference)
    config.refresh_from_db()
    assert config.status == RunStatus.SUCCEEDED
    assert config.summary["snapshots"] == {"stored": BARS, "bars": BARS, "resolution": "every bar",
                                           "full_resolution_bars": services.FULL_RESOLUTION_BARS}
    assert snapshot_resolution(config) == config.summary["snapshots"]


@pytest.mark.parametrize("method", METHODS)
def test_each_write_path_stores_the_rows_bulk_create_stores(computed, method):
    if method not in _methods_here():
        pytest.skip("binary COPY is the PostgreSQL path")
    config, outcome, _ = computed
    metrics, _ = services._metric_rows(config, outcome.result.equity)
    with transaction.atomic():
        services.insert_rows(BacktestTrade, config.pk, services._trade_rows(config, outcome.result.trades),
                             method=method)
        services.insert_rows(BacktestMetric, config.pk, metrics, method=method)
    reference = _create()
    reference_store(reference, outcome)
    assert _metrics(config) == _metrics(reference) and len(_metrics(config)) == BARS
    assert _trades(config) == _trades(reference)


@pytest.mark.parametrize("method", METHODS)
def test_text_nulls_and_flags_round_trip_on_each_write_path(db, method):
    """Symbols of different lengths, an unknown return (NULL), partial legs, a breaker bar, microseconds."""
    if method not in _methods_here():
        pytest.skip("binary COPY is the PostgreSQL path")
    times = pd.DatetimeIndex(["2022-01-01 00:00", "2022-01-01 01:00:00.250000", "2022-01-02 00:00"], tz="UTC")
    trades = pd.DataFrame({
        "symbol": ["BTC", "AVAX", "OP"], "side": ["long", "short", "long"], "entry_time": times,
        "entry_price": [100.0, 20.5, 1.25], "exit_time": times + pd.Timedelta(hours=3),
        "exit_price": [110.0, 19.0, 1.5], "quantity": [1.0, 3.5, 1e-9], "fees": [0.2, 0.0, 1e-12],
        "slippage_cost": [1.0, 0.1, 0.0], "carry": [0.0, 0.35, 0.0], "pnl": [8.8, 5.1, -0.0], "return_pct": [0.088, np.nan, 1e300],
        "exit_reason": ["signal", "stop_loss", "circuit_breaker"], "is_partial": [False, True, False]})
    equity = pd.DataFrame({"equity": [1e5, 99_000.5, 101_000.0], "cash": [1e5, 5e4, 1e5],
                           "drawdown": [0.0, 0.00995, -1e-17], "exposure": [0.0, 0.5, -0.0],
                           "portfolio_heat": [0.0, 0.01, 0.0], "open_positions": [0, 2, 0],
                           "circuit_breaker": [False, True, False]}, index=times)
    fast, reference = (BacktestConfig.objects.create(strategy="sma_crossover", symbols=["BTC"], start=times[0],
                                                     end=times[-1] + pd.Timedelta(days=1)) for _ in range(2))
    metrics, _ = services._metric_rows(fast, equity)
    with transaction.atomic():
        services.insert_rows(BacktestTrade, fast.pk, services._trade_rows(fast, trades), method=method)
        services.insert_rows(BacktestMetric, fast.pk, metrics, method=method)
    outcome = services.RunOutcome(result=type("R", (), {"trades": trades, "equity": equity})(), performance={},
                                  data_hash="", notes=[])
    reference_store(reference, outcome)
    assert _trades(fast) == _trades(reference)
    assert _trades(fast)[1][TRADE_COLUMNS.index("return_pct")] is None
    assert _metrics(fast) == _metrics(reference)
    assert BacktestTrade.objects.filter(config=fast, entry_time=times[1].to_pydatetime()).count() == 1


@pytest.mark.parametrize("method", METHODS)
def test_large_writes_go_in_chunks_and_keep_their_order(computed, monkeypatch, method):
    if method not in _methods_here():
        pytest.skip("binary COPY is the PostgreSQL path")
    config, outcome, _ = computed
    insert_rows = services.insert_rows
    monkeypatch.setattr(services, "insert_rows", lambda *a, **k: insert_rows(*a, **k, method=method))
    monkeypatch.setattr(services, "WRITE_CHUNK_ROWS", 7)
    monkeypatch.setattr(services, "ROWS_PER_STATEMENT", 3)  # two statements of 3 rows and one of 1 per chunk
    services.backtest_store(config, outcome, _claimed(config))
    reference = _create()
    reference_store(reference, outcome)
    assert _metrics(config) == _metrics(reference)
    assert _trades(config) == _trades(reference)


# --------------------------------------------------------------------------- long runs: bounded snapshots
def _expected_bounded(outcome: services.RunOutcome, full: pd.DataFrame) -> pd.DatetimeIndex:
    """Independently: the last bar of each UTC day, every fill bar, first and last, the deepest drawdown's
    trough and its running peak."""
    index = full.index
    days = pd.Series(index, index=index).groupby(index.floor("D")).max()
    trades, orders = outcome.result.trades, outcome.result.orders
    fills = pd.DatetimeIndex([*trades["entry_time"], *trades["exit_time"], *orders["time"]])
    trough = full["drawdown"].idxmax()
    peak = full.loc[:trough, "equity"].idxmax()
    kept = pd.DatetimeIndex([*days, *fills[fills.isin(index)], index[0], index[-1], trough, peak])
    return kept.unique().sort_values()


def test_a_long_run_stores_daily_fill_first_last_and_drawdown_bars(computed, monkeypatch):
    config, outcome, full = computed
    monkeypatch.setattr(services, "FULL_RESOLUTION_BARS", 500)  # the run has 2,544 bars
    services.backtest_store(config, outcome, _claimed(config))
    config.refresh_from_db()
    expected = _expected_bounded(outcome, full)
    frame = equity_frame(config)
    assert frame.index.equals(expected)  # in time order
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert 106 < len(frame) < BARS / 2  # more than the 106 days, far fewer than the bars
    # every stored row is the full-resolution row of its bar
    stored = pd.DataFrame(_metrics(config), columns=METRIC_COLUMNS).set_index("timestamp")
    assert np.array_equal(stored["equity"].to_numpy(), full.loc[expected, "equity"].to_numpy())
    assert np.array_equal(stored["cash"].to_numpy(), full.loc[expected, "cash"].to_numpy())
    assert np.array_equal(stored["open_positions"].to_numpy(), full.loc[expected, "open_positions"].to_numpy())
    # what readers take from it is the full curve's
    true_mdd = float(full["drawdown"].max())
    assert true_mdd > 0.01
    assert frame["drawdown"].max() == true_mdd
    assert config.max_drawdown == pytest.approx(true_mdd, rel=1e-12)  # computed on the full curve
    assert drawdown_series(frame["equity"]).max() == pytest.approx(true_mdd, rel=1e-12)
    assert frame["equity"].iloc[-1] == config.final_equity == full["equity"].iloc[-1]
    pd.testing.assert_series_equal(daily_returns(frame["equity"]), daily_returns(full["equity"]),
                                   check_index_type=False)  # the read index is in µs
    assert config.summary["snapshots"] == {"stored": len(expected), "bars": BARS, "full_resolution_bars": 500,
                                           "resolution": services.BOUNDED_RESOLUTION}
    assert snapshot_resolution(config)["stored"] == config.metrics.count()
    assert config.trades.count() == len(outcome.result.trades)  # trades are never thinned


@pytest.mark.parametrize("method", METHODS)
def test_bounded_snapshots_are_identical_on_each_write_path(computed, method):
    if method not in _methods_here():
        pytest.skip("binary COPY is the PostgreSQL path")
    config, outcome, full = computed
    metrics, info = services._metric_rows(config, outcome.result.equity, services._fill_times(outcome.result),
                                          full_resolution_bars=500)
    with transaction.atomic():
        services.insert_rows(BacktestMetric, config.pk, metrics, method=method)
    expected = _expected_bounded(outcome, full)
    reference = _create()
    kept = full.loc[expected]
    BacktestMetric.objects.bulk_create([
        BacktestMetric(config=reference, timestamp=ts.to_pydatetime(), equity=float(row.equity),
                       cash=float(row.cash), drawdown=float(min(max(row.drawdown, 0.0), 1.0)),
                       exposure=float(max(row.exposure, 0.0)), portfolio_heat=float(max(row.portfolio_heat, 0.0)),
                       open_positions=int(row.open_positions), circuit_breaker=bool(row.circuit_breaker))
        for ts, row in zip(kept.index, kept.itertuples(index=False), strict=True)])
    assert _metrics(config) == _metrics(reference) and info["stored"] == len(expected)


def test_the_run_kind_thins_through_the_setting_and_a_retry_replaces_the_rows(btc_candles_in_db, monkeypatch):
    monkeypatch.setattr(services, "FULL_RESOLUTION_BARS", 1000)
    config = _create()
    services.backtest_execute(config.pk)
    config.refresh_from_db()
    assert config.status == RunStatus.SUCCEEDED, config.error
    stored = config.metrics.count()
    assert stored == config.summary["snapshots"]["stored"] < BARS
    BacktestConfig.objects.filter(pk=config.pk).update(status=RunStatus.FAILED)
    lifecycle.retry(BacktestConfig.objects.get(pk=config.pk))
    services.backtest_execute(config.pk)
    config.refresh_from_db()
    assert config.status == RunStatus.SUCCEEDED and config.attempts == 2
    assert config.metrics.count() == stored and config.trades.count() == config.num_trades


def test_a_lost_claim_stores_nothing(computed):
    config, outcome, _ = computed
    attempt = _claimed(config)
    BacktestConfig.objects.filter(pk=config.pk).update(attempts=attempt + 1)  # someone else holds it now
    with pytest.raises(lifecycle.LostClaim):
        services.backtest_store(config, outcome, attempt)
    assert config.metrics.count() == 0 and config.trades.count() == 0


def test_deleting_runs_deletes_their_rows_without_a_database_foreign_key(computed):
    """The result rows carry no database foreign key (its per-row check at commit doubled a long run's store on
    PostgreSQL): Django's cascade deletes them, one run or a queryset of runs, and leaves other runs' rows."""
    config, outcome, _ = computed
    services.backtest_store(config, outcome, _claimed(config))
    kept = _create()
    services.backtest_store(kept, outcome, _claimed(kept))
    other = _create()
    services.backtest_store(other, outcome, _claimed(other))
    rows = config.trades.count(), config.metrics.count()
    assert rows[0] > 20 and rows[1] == BARS
    for field in (BacktestTrade._meta.get_field("config"), BacktestMetric._meta.get_field("config")):
        assert not field.db_constraint
    config.delete()
    assert not BacktestTrade.objects.filter(config_id=config.pk).exists()
    assert not BacktestMetric.objects.filter(config_id=config.pk).exists()
    BacktestConfig.objects.filter(pk=other.pk).delete()
    assert not BacktestMetric.objects.filter(config_id=other.pk).exists()
    assert (kept.trades.count(), kept.metrics.count()) == rows


# --------------------------------------------------------------------------- the selection itself
def test_snapshot_positions_on_a_hand_made_curve():
    times = pd.date_range("2024-01-01 22:00", periods=8, freq="1h", tz="UTC").as_unit("ns").asi8  # 22:00 .. 05:00 next day
    equity = np.array([100.0, 101, 103, 99, 98, 100, 104, 102])
    drawdown = 1 - equity / np.maximum.accumulate(equity)
    fills = pd.DatetimeIndex(["2024-01-02 03:00", "2023-12-31 00:00", "2024-02-01 00:00"], tz="UTC").as_unit("ns").asi8
    assert services.snapshot_positions(times, equity, drawdown, fills, full_resolution_bars=8) is None
    kept = services.snapshot_positions(times, equity, drawdown, fills, full_resolution_bars=7)
    # first (0), end of 2024-01-01 (1), peak 103 (2), trough 98 (4), the 03:00 fill (5), last (7); fills
    # outside the run are ignored
    assert kept.tolist() == [0, 1, 2, 4, 5, 7]
