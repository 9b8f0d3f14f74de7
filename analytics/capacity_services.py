"""The capacity curve of a strategy on stored data (glue: loads, evaluates, counts the holdout lock)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from django.db import transaction

from analytics import holdout
from analytics.capacity import DEFAULT_CAPITALS, capacity_curve
from analytics.services import research_data_load
from backtests.engine import EngineConfig
from backtests.evaluation import evaluate_window
from core.jobs import register_job
from core.jsonsafe import json_safe
from strategies.registry import get_strategy, validated_parameters


def capacity_test(strategy: str, params: dict, start: Any, end: Any, *, timeframe: str,
                  settings: dict | None = None, capitals: Sequence[float] = DEFAULT_CAPITALS,
                  source: str = "capacity curve") -> dict:
    """``strategy`` with ``params`` on ``[start, end)`` at each of ``capitals`` under the volume-share cost
    model (``analytics.capacity``). Inside the strategy's locked holdout it is counted on the lock once, as a
    replay of that configuration."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    data = research_data_load(strategy=strategy, symbols=None, timeframe=timeframe, start=start, end=end,
                              settings=settings)

    def evaluate(config: EngineConfig) -> dict | None:
        outcome = evaluate_window(data.strategy_class(**params), data.market, config, start, end, data.bar)
        if outcome.result is None:
            return None
        performance, summary = outcome.performance, outcome.result.summary
        refusals = summary["refusals"]
        orders = outcome.result.orders
        traded = float((orders["quantity"] * orders["price"]).sum()) if len(orders) else 0.0
        return {"traded_value": traded,
                "slippage_per_traded": summary["slippage_total"] / traded if traded else None,"sharpe_ratio": performance.get("sharpe"), "total_return": performance.get("total_return"),
                "max_drawdown": performance.get("max_drawdown"), "n_trades": performance.get("n_trades"),
                "fees_total": summary["fees_total"], "slippage_total": summary["slippage_total"],
                "refused_for_volume": refusals["volume_cap"] + refusals["no_volume"],
                "exits_cut_by_volume_cap": summary["execution"]["exits_cut_by_volume_cap"]}

    curve = capacity_curve(evaluate, data.config, capitals)
    base = {"start": start.isoformat(), "end": end.isoformat(), "timeframe": timeframe, **curve}
    with transaction.atomic():
        touched = holdout.touch_if_locked(strategy=strategy, kind="capacity", source=source, parameters=params,
                                          symbols=data.symbols, timeframe=timeframe, start=start, end=end)
    if touched:
        base["holdout_touch"] = touched
    return json_safe(base)


def capacity_job(*, strategy: str, start: Any, end: Any, parameters: dict | None = None, timeframe: str | None = None,
                 capitals: Sequence[float] | None = None) -> dict:
    """The ``capacity`` job (API ``POST /capacity``, admin): :func:`capacity_test` of the given configuration."""
    params = validated_parameters(strategy, parameters)
    curve = capacity_test(strategy, params, start, end, timeframe=timeframe or get_strategy(strategy).timeframe,
                          capitals=tuple(capitals or DEFAULT_CAPITALS), source="capacity job")
    return {"strategy": strategy, "parameters": params, **curve}


def register_jobs() -> None:
    register_job("capacity", "Capacity curve", capacity_job)
