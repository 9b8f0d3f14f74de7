"""At what starting capital a strategy's edge disappears (pure part; no Django).

A strategy is replayed on one window at several starting capitals under the volume-share cost model
(``backtests.engine.CostModel``: slippage grows with the square root of the order's share of the last
bar's quote volume, and a fill takes at most a capped share of it). Small accounts pay about the fixed
spread; large ones move the price and are cut by the cap, so Sharpe and return fall with capital. The
curve and two read-outs come back:

* ``capacity``: the largest capital tested whose Sharpe ratio is still at least ``keep`` (default half) of
  the smallest capital's Sharpe ratio (None when the smallest capital has no positive Sharpe);
* ``edge_gone_at``: the smallest capital tested at which the Sharpe ratio is no longer positive (None if it
  stays positive throughout).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from backtests.engine import EngineConfig

#: Starting capitals of the curve, in the quote currency (USDT).
DEFAULT_CAPITALS: tuple[float, ...] = (1e4, 1e5, 1e6, 1e7, 1e8)
KEEP_SHARE = 0.5


def capacity_config(config: EngineConfig, capital: float) -> EngineConfig:
    """``config`` at ``capital`` under the volume-share slippage model (its other costs as they were)."""
    return replace(config, initial_capital=float(capital), costs=replace(config.costs, slippage_model="volume_share"))


def capacity_curve(evaluate: Callable[[EngineConfig], Mapping[str, Any] | None], config: EngineConfig,
                   capitals: Sequence[float] = DEFAULT_CAPITALS, keep: float = KEEP_SHARE) -> dict:
    """``evaluate(config) -> {sharpe_ratio, total_return, max_drawdown, n_trades, slippage_total,
    volume_refusals}`` at each capital, and the read-outs of the module docstring."""
    if not capitals or any(c <= 0 for c in capitals) or list(capitals) != sorted(set(capitals)):
        raise ValueError("capitals must be positive and strictly increasing")
    points = []
    for capital in capitals:
        figures = evaluate(capacity_config(config, capital))
        points.append({"capital": float(capital), **(dict(figures) if figures else {})})
    return {"points": points, **read_outs(points, keep), "keep": keep,
            "model": {"slippage_rate": config.slippage_rate, "volume_impact": config.costs.volume_impact,
                      "max_volume_share": config.costs.max_volume_share}}


def read_outs(points: Sequence[Mapping[str, Any]], keep: float = KEEP_SHARE) -> dict:
    """``capacity`` and ``edge_gone_at`` of a curve (see the module docstring)."""
    sharpes = [p.get("sharpe_ratio") for p in points]
    base = sharpes[0] if sharpes else None
    capacity = None
    if base is not None and base > 0:
        for point, sharpe in zip(points, sharpes, strict=True):
            if sharpe is None or sharpe < keep * base:
                break
            capacity = point["capital"]
    gone = next((p["capital"] for p, s in zip(points, sharpes, strict=True) if s is None or s <= 0), None)
    return {"capacity": capacity, "edge_gone_at": gone}
