"""The shape of a run's result: columns, UTC timestamps, a JSON-safe summary with notes and refusals."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from backtests.engine import EXECUTION_RULES, BaseStrategy, EngineConfig, MarketData, Param, run_backtest

from .conftest import make_candles

TRADE_COLUMNS = ["symbol", "side", "entry_time", "entry_price", "exit_time", "exit_price", "quantity", "fees",
                 "slippage_cost", "pnl", "return_pct", "exit_reason", "is_partial", "carry"]
EQUITY_COLUMNS = ["equity", "cash", "drawdown", "exposure", "portfolio_heat", "open_positions",
                  "circuit_breaker"]


class EnterEveryTenBars(BaseStrategy):
    name = "enter_every_ten_bars"
    label = "Test strategy"
    universe = ("AAA", "BBB", "CCC")
    parameters = {"stop_pct": Param(0.05, 0.01, 0.2, kind="float")}

    def generate_signals(self, data: MarketData) -> dict[str, pd.DataFrame]:
        out = {}
        for symbol in self.universe:
            candles = data.candles.get(symbol)
            if candles is None:
                data.notes.append(f"{symbol}: no candles, not traded")
                continue
            frame = self.empty_signals(candles.index)
            position = pd.Series(range(len(candles)), index=candles.index)
            frame["entry"] = position % 10 == 0
            frame["exit"] = position % 10 == 5
            frame["stop"] = candles["close"] * (1 - self.params["stop_pct"])
            out[symbol] = frame
        return out


def test_multi_symbol_result_shape_and_json_safe_summary():
    candles = {"AAA": make_candles([100.0 + i for i in range(40)]),
               "BBB": make_candles([50.0 + (i % 7) for i in range(40)], drop=[12, 13])}
    data = MarketData(candles=candles)
    result = run_backtest(EnterEveryTenBars(), data, EngineConfig())

    assert list(result.trades.columns) == TRADE_COLUMNS
    assert list(result.equity.columns) == EQUITY_COLUMNS
    assert str(result.equity.index.tz) == "UTC" and len(result.equity) == 40
    assert str(result.trades["entry_time"].dt.tz) == "UTC"
    assert set(result.trades["symbol"]) == {"AAA", "BBB"}
    assert (result.equity["drawdown"].between(0, 1)).all()
    summary = json.loads(json.dumps(result.summary))
    assert summary["notes"] == ["CCC: no candles, not traded"]
    assert summary["strategy"] == "enter_every_ten_bars" and summary["parameters"] == {"stop_pct": 0.05}
    assert summary["execution_rules"] == EXECUTION_RULES
    assert summary["num_trades"] == len(result.trades)
    assert summary["final_equity"] == result.equity["equity"].iloc[-1]
    assert sum(summary["refusals"].values()) == summary["refusals_total"] == len(result.refusals)
    # realized P&L accounts for every dollar once everything is closed at the end
    assert summary["final_equity"] - summary["initial_capital"] == pytest.approx(result.trades["pnl"].sum())
