"""Backtest runs: create (pending, queued after commit), execute (engine), store results in one transaction.

Flow: API or admin -> ``backtest_create(...)`` saves a pending run and, on commit, queues
``backtests.tasks.backtest_execute_task(run_id)`` -> ``backtest_execute(run_id)`` loads the frames, runs the
pure engine and stores trades and metric snapshots in one transaction. A failure leaves the run ``failed`` with
its error and no trades; a retried run replaces, never duplicates, its trades.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from django.db import transaction
from django.utils import timezone

from analytics.evaluation import evaluate_window
from backtests.data import market_data_load
from backtests.engine import EngineConfig, RiskLimits
from backtests.jobs import queue_task
from backtests.models import BacktestConfig, BacktestMetric, BacktestTrade, RunStatus, default_risk_limits
from backtests.provenance import candles_hash, code_version
from marketdata.timeframes import timeframe_delta, timeframe_seconds_str
from strategies.registry import get_strategy

logger = logging.getLogger(__name__)

TRADE_FIELDS = ["symbol", "side", "entry_time", "entry_price", "exit_time", "exit_price", "quantity", "fees",
                "slippage_cost", "pnl", "return_pct", "exit_reason", "is_partial"]


def engine_config_for(config: BacktestConfig) -> EngineConfig:
    limits = {**default_risk_limits(), **(config.risk_limits or {})}
    return EngineConfig(initial_capital=float(config.initial_capital), fee_rate=float(config.fee_rate),
                        slippage_rate=float(config.slippage_rate), latency_ms=int(config.latency_ms),
                        risk=RiskLimits.from_dict(limits), bar_length=timeframe_seconds_str(config.timeframe))


def backtest_create(
    *,
    strategy: str,
    start: datetime,
    end: datetime,
    symbols: list[str] | None = None,
    timeframe: str | None = None,
    parameters: dict | None = None,
    initial_capital: float = 100_000.0,
    fee_rate: float = 0.001,
    slippage_rate: float = 0.005,
    latency_ms: int = 100,
    risk_limits: dict | None = None,
    seed: int = 42,
    name: str = "",
    purpose: str = "backtest",
    queue: bool = True,
) -> BacktestConfig:
    """Validate and save a pending run; queue its execution once the transaction commits."""
    strategy_class = get_strategy(strategy)
    validated = strategy_class(**(parameters or {})).params
    limits = {**default_risk_limits(), **(risk_limits or {})}
    RiskLimits.from_dict(limits)  # raises ValueError on a bad key or value
    config = BacktestConfig.objects.create(
        name=name, strategy=strategy, symbols=list(symbols or strategy_class.universe),
        timeframe=timeframe or strategy_class.timeframe,
        start=start, end=end, parameters=validated, initial_capital=initial_capital, fee_rate=fee_rate,
        slippage_rate=slippage_rate, latency_ms=latency_ms, risk_limits=limits, seed=seed, purpose=purpose,
    )
    if queue:
        transaction.on_commit(lambda: backtest_enqueue(config.pk))
    return config


def backtest_enqueue(config_id: int) -> None:
    task_id = queue_task("backtests.tasks.backtest_execute_task", config_id, name=f"backtest-{config_id}")
    BacktestConfig.objects.filter(pk=config_id).update(task_id=task_id or "")


def backtest_retry(config: BacktestConfig) -> BacktestConfig:
    """Queue a failed or stale run again; its old results are replaced when it succeeds."""
    if config.status == RunStatus.SUCCEEDED:
        raise ValueError("a succeeded run is not retried; start a new one")
    BacktestConfig.objects.filter(pk=config.pk).update(status=RunStatus.PENDING, error="")
    transaction.on_commit(lambda: backtest_enqueue(config.pk))
    config.refresh_from_db()
    return config


@dataclass
class RunOutcome:
    """The engine's result for a stored config, plus the performance summary and provenance."""

    result: Any
    performance: dict
    data_hash: str
    notes: list[str]
    quality_score: float | None = None


def backtest_compute(config: BacktestConfig) -> RunOutcome:
    """Load data, run the engine and summarise, without writing anything (pure apart from reads)."""
    strategy = get_strategy(config.strategy)(**config.parameters)
    loaded = market_data_load(strategy=strategy, symbols=list(config.symbols), timeframe=config.timeframe,
                              start=config.start, end=config.end)
    if not loaded.market.candles:
        raise ValueError(f"no {config.timeframe} candles for {', '.join(config.symbols)} between "
                         f"{config.start:%Y-%m-%d} and {config.end:%Y-%m-%d}: ingest or load data first")
    window = evaluate_window(strategy, loaded.market, engine_config_for(config), pd.Timestamp(config.start),
                             pd.Timestamp(config.end), timeframe_delta(config.timeframe))
    if window.result is None:
        raise ValueError(f"no {config.timeframe} candles for {', '.join(config.symbols)} between "
                         f"{config.start:%Y-%m-%d} and {config.end:%Y-%m-%d}")
    return RunOutcome(result=window.result, performance=window.performance,
                      data_hash=candles_hash(loaded.market.candles), notes=list(loaded.market.notes),
                      quality_score=loaded.quality_score)


def backtest_execute(config_id: int) -> dict:
    """Run a stored config and store its results; a failure is recorded on the config, never half written."""
    config = BacktestConfig.objects.get(pk=config_id)
    if config.status == RunStatus.SUCCEEDED:
        return config.summary
    BacktestConfig.objects.filter(pk=config_id).update(
        status=RunStatus.RUNNING, started_at=timezone.now(), attempts=config.attempts + 1, error="")
    try:
        outcome = backtest_compute(config)
        backtest_store(config, outcome)
    except Exception as exc:  # recorded for the operator; nothing of the run is kept
        logger.exception("backtest %s failed", config_id)
        BacktestConfig.objects.filter(pk=config_id).update(
            status=RunStatus.FAILED, finished_at=timezone.now(),
            error=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=6)}")
        return {"error": str(exc)}
    return BacktestConfig.objects.get(pk=config_id).summary


def _trade_rows(config: BacktestConfig, trades: pd.DataFrame) -> list[BacktestTrade]:
    records = trades[TRADE_FIELDS].to_dict("records") if len(trades) else []
    rows = []
    for record in records:
        record["entry_time"] = pd.Timestamp(record["entry_time"]).to_pydatetime()
        record["exit_time"] = pd.Timestamp(record["exit_time"]).to_pydatetime()
        record["return_pct"] = None if pd.isna(record["return_pct"]) else float(record["return_pct"])
        rows.append(BacktestTrade(config=config, **record))
    return rows


def _metric_rows(config: BacktestConfig, equity: pd.DataFrame) -> list[BacktestMetric]:
    frame = equity.loc[equity.index >= pd.Timestamp(config.start)]
    return [
        BacktestMetric(config=config, timestamp=ts.to_pydatetime(), equity=float(row.equity), cash=float(row.cash),
                       drawdown=float(min(max(row.drawdown, 0.0), 1.0)), exposure=float(max(row.exposure, 0.0)),
                       portfolio_heat=float(max(row.portfolio_heat, 0.0)), open_positions=int(row.open_positions),
                       circuit_breaker=bool(row.circuit_breaker))
        for ts, row in zip(frame.index, frame.itertuples(index=False), strict=True)
    ]


def backtest_store(config: BacktestConfig, outcome: RunOutcome) -> None:
    """Replace the run's trades and metric snapshots and set its results, in one transaction."""
    perf = outcome.performance
    summary = {**outcome.result.summary, "performance": perf,
               "notes": [*outcome.notes, *outcome.result.summary.get("notes", [])]}
    with transaction.atomic():
        BacktestTrade.objects.filter(config=config).delete()
        BacktestMetric.objects.filter(config=config).delete()
        BacktestTrade.objects.bulk_create(_trade_rows(config, outcome.result.trades), batch_size=1000)
        BacktestMetric.objects.bulk_create(_metric_rows(config, outcome.result.equity), batch_size=1000)
        BacktestConfig.objects.filter(pk=config.pk).update(
            status=RunStatus.SUCCEEDED, finished_at=timezone.now(), error="", summary=summary,
            total_return=perf.get("total_return"), cagr=perf.get("cagr"), sharpe_ratio=perf.get("sharpe"),
            sortino_ratio=perf.get("sortino"), calmar_ratio=perf.get("calmar"),
            max_drawdown=perf.get("max_drawdown"), win_rate=perf.get("win_rate"),
            profit_factor=perf.get("profit_factor"), num_trades=perf.get("n_trades"),
            final_equity=perf.get("final_equity"), data_hash=outcome.data_hash, code_version=code_version(),
            annualization=perf.get("annualization", ""), data_quality_score=outcome.quality_score,
        )
