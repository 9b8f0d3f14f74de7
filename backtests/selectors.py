"""Reads of stored backtest results as pandas objects."""

from __future__ import annotations

import numpy as np
import pandas as pd

from backtests.metrics import trade_returns
from backtests.models import BacktestConfig


def equity_frame(config: BacktestConfig) -> pd.DataFrame:
    """The run's metric snapshots: ``equity`` and ``drawdown`` on a UTC index, in time order.

    A long run stores a bounded set of bars (:func:`snapshot_resolution` says which): the end of each UTC
    day, every fill, the first and last bars and the deepest drawdown's peak and trough, so daily returns,
    the final equity and the maximum drawdown read from this frame are those of the full curve.
    """
    rows = list(config.metrics.order_by("timestamp").values_list("timestamp", "equity", "drawdown"))
    frame = pd.DataFrame(rows, columns=["timestamp", "equity", "drawdown"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame.set_index("timestamp")


def config_trade_returns(config: BacktestConfig) -> np.ndarray:
    """Per-position returns on equity (partial-exit legs joined), in exit order: what Monte Carlo resamples."""
    trades = pd.DataFrame(list(config.trades.order_by("exit_time", "id").values(
        "symbol", "entry_time", "exit_time", "entry_price", "quantity", "pnl", "return_pct")))
    return trade_returns(trades, initial_equity=config.initial_capital)


def snapshot_resolution(config: BacktestConfig) -> dict:
    """What the run's stored snapshots hold: ``stored`` rows of ``bars`` bars at ``resolution`` ("every bar",
    or the rule of a run longer than ``full_resolution_bars``). Runs stored before snapshots were bounded
    have no record of it: they hold every bar."""
    info = (config.summary or {}).get("snapshots")
    if info:
        return dict(info)
    stored = config.metrics.count()
    return {"stored": stored, "bars": stored, "resolution": "every bar"}
