"""Backtest runs: create (pending, queued after commit), execute (engine), store results in one transaction.

Flow: API or admin -> ``backtest_create(...)`` saves a pending run and, on commit, queues it through
:mod:`core.lifecycle` (run kind ``backtest``) -> the task claims the run (a second task for it does nothing)
-> :func:`backtest_run` loads the frames, runs the pure engine and stores trades, metric snapshots and the
succeeded status in one transaction. A failure leaves the run ``failed`` with its error and no trades; a
retried run replaces, never duplicates, its trades.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pandas as pd
from django.db import transaction

from backtests.data import market_data_load
from backtests.engine import EngineConfig, RiskLimits
from backtests.evaluation import evaluate_window
from backtests.models import (
    ENGINE_DEFAULTS,
    BacktestConfig,
    BacktestMetric,
    BacktestTrade,
    default_risk_limits,
)
from backtests.provenance import candles_hash, code_version
from core import lifecycle
from marketdata.timeframes import timeframe_delta, timeframe_seconds_str
from strategies.registry import build_strategy, get_strategy, validated_parameters

logger = logging.getLogger(__name__)

TRADE_FIELDS = ["symbol", "side", "entry_time", "entry_price", "exit_time", "exit_price", "quantity", "fees",
                "slippage_cost", "pnl", "return_pct", "exit_reason", "is_partial"]


COST_FIELDS: tuple[str, ...] = ("initial_capital", "fee_rate", "slippage_rate", "latency_ms")


def engine_config(costs: Mapping[str, Any], timeframe: str) -> EngineConfig:
    """The engine configuration for ``costs`` (any of :data:`COST_FIELDS` and ``risk_limits``; missing or
    ``None`` values take the engine's defaults) on bars of ``timeframe``."""
    given = {name: type(getattr(ENGINE_DEFAULTS, name))(costs[name]) for name in COST_FIELDS
             if costs.get(name) is not None}  # JSON numbers -> the field's type (float, or int for latency)
    limits = {**default_risk_limits(), **(costs.get("risk_limits") or {})}
    return replace(ENGINE_DEFAULTS, **given, risk=RiskLimits.from_dict(limits),
                   bar_length=timeframe_seconds_str(timeframe))


def engine_config_for(config: BacktestConfig) -> EngineConfig:
    costs = {name: getattr(config, name) for name in COST_FIELDS}
    return engine_config({**costs, "risk_limits": config.risk_limits}, config.timeframe)


def backtest_create(
    *,
    strategy: str,
    start: datetime,
    end: datetime,
    symbols: list[str] | None = None,
    timeframe: str | None = None,
    parameters: dict | None = None,
    initial_capital: float = ENGINE_DEFAULTS.initial_capital,
    fee_rate: float = ENGINE_DEFAULTS.fee_rate,
    slippage_rate: float = ENGINE_DEFAULTS.slippage_rate,
    latency_ms: int = ENGINE_DEFAULTS.latency_ms,
    risk_limits: dict | None = None,
    seed: int = 42,
    name: str = "",
    purpose: str = "backtest",
    user: Any = None,
    queue: bool = True,
) -> BacktestConfig:
    """Validate and save a pending run; queue its execution once the transaction commits."""
    strategy_class = get_strategy(strategy)
    limits = {**default_risk_limits(), **(risk_limits or {})}
    costs = {"initial_capital": initial_capital, "fee_rate": fee_rate, "slippage_rate": slippage_rate,
             "latency_ms": latency_ms, "risk_limits": limits}
    engine = engine_config(costs, timeframe or strategy_class.timeframe)  # ValueError on a bad cost or limit
    config = BacktestConfig.objects.create(
        name=name, strategy=strategy, symbols=list(symbols or strategy_class.universe),
        timeframe=timeframe or strategy_class.timeframe, start=start, end=end,
        parameters=validated_parameters(strategy_class, parameters), initial_capital=engine.initial_capital,
        fee_rate=engine.fee_rate, slippage_rate=engine.slippage_rate, latency_ms=engine.latency_ms,
        risk_limits=limits, seed=seed, purpose=purpose,
        created_by=user,
    )
    if queue:
        lifecycle.enqueue(config)
    return config


def backtest_execute(config_id: int) -> Any:
    """Execute a pending run here and now (what the queued task does): claimed once, however often called."""
    return lifecycle.execute("backtest", config_id)


@dataclass
class RunOutcome:
    """The engine's result for a stored config, plus the performance summary and provenance."""

    result: Any
    performance: dict
    data_hash: str
    notes: list[str]
    quality_score: float | None = None
    coverage: dict | None = None


def backtest_compute(config: BacktestConfig) -> RunOutcome:
    """Load data, run the engine and summarise, without writing anything (pure apart from reads)."""
    strategy = build_strategy(config.strategy, config.parameters)
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
                      quality_score=loaded.quality_score, coverage=window.coverage)


def backtest_run(config: BacktestConfig, attempt: int) -> dict:
    """The ``backtest`` run kind: compute, then store the results under the task's claim."""
    backtest_store(config, backtest_compute(config), attempt)
    return BacktestConfig.objects.values_list("summary", flat=True).get(pk=config.pk)


def register_run_kinds() -> None:
    lifecycle.register("backtest", BacktestConfig, backtest_run)


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


ResultObserver = Callable[[BacktestConfig, "RunOutcome"], "dict | None"]

#: Called inside the transaction that stores a run's results; what one returns is added to the run's
#: summary. Higher layers register here without this layer knowing them (analytics counts the runs that
#: touch a locked holdout: ``analytics.holdout.count_plain_backtest``).
RESULT_OBSERVERS: list[ResultObserver] = []


def observe_results(observer: ResultObserver) -> None:
    if observer not in RESULT_OBSERVERS:
        RESULT_OBSERVERS.append(observer)


def backtest_store(config: BacktestConfig, outcome: RunOutcome, attempt: int) -> None:
    """Replace the run's trades and metric snapshots and set its results, in one transaction, while
    ``attempt`` still holds the run (:class:`core.lifecycle.LostClaim` rolls everything back otherwise)."""
    perf = outcome.performance
    summary = {**outcome.result.summary, "performance": perf,
               "notes": [*outcome.notes, *outcome.result.summary.get("notes", [])],
               "data_coverage": outcome.coverage}
    with transaction.atomic():
        for observer in RESULT_OBSERVERS:
            summary.update(observer(config, outcome) or {})
        BacktestTrade.objects.filter(config=config).delete()
        BacktestMetric.objects.filter(config=config).delete()
        BacktestTrade.objects.bulk_create(_trade_rows(config, outcome.result.trades), batch_size=1000)
        BacktestMetric.objects.bulk_create(_metric_rows(config, outcome.result.equity), batch_size=1000)
        lifecycle.finish(
            config, attempt, summary=summary,
            total_return=perf.get("total_return"), cagr=perf.get("cagr"), sharpe_ratio=perf.get("sharpe"),
            sortino_ratio=perf.get("sortino"), calmar_ratio=perf.get("calmar"),
            max_drawdown=perf.get("max_drawdown"), win_rate=perf.get("win_rate"),
            profit_factor=perf.get("profit_factor"), num_trades=perf.get("n_trades"),
            final_equity=perf.get("final_equity"), data_hash=outcome.data_hash, code_version=code_version(),
            annualization=perf.get("annualization", ""), data_quality_score=outcome.quality_score,
        )
