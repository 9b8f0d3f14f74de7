"""Position sizing and the portfolio risk manager: size clamps, heat, correlation, circuit breaker."""

from __future__ import annotations

import numpy as np
import pytest

from backtests.engine import EngineConfig, RiskLimits, run_signals

from .conftest import frictionless, make_candles, make_signals


def risk_config(**limits) -> EngineConfig:
    return EngineConfig(initial_capital=100_000.0, fee_rate=0.0, slippage_rate=0.0, sizing="risk",
                        risk=RiskLimits(**{"correlation_limit": np.inf, **limits}))


@pytest.mark.parametrize(
    ("stop", "expected_quantity"),
    [(75.0, 1_000.0 / 25.0),  # 1% of equity over 25 to the stop: 40 units = 4% of equity, inside the limits
     (98.0, 5_000.0 / 100.0),  # 500 units would be 50% of equity: capped at 5%
     (40.0, 2_000.0 / 100.0)],  # 16.7 units = 1.7% of equity: raised to the 2% floor
)
def test_risk_sizing_and_position_size_clamps(stop, expected_quantity):
    candles = make_candles([100.0, 100.0, 100.0])
    signals = make_signals(candles, entry=[0], stop={0: stop})
    result = run_signals({"X": candles}, {"X": signals}, risk_config())
    assert result.orders.iloc[0].quantity == pytest.approx(expected_quantity)


def test_entry_without_stop_is_refused_under_risk_sizing():
    candles = make_candles([100.0, 100.0, 100.0])
    result = run_signals({"X": candles}, {"X": make_signals(candles, entry=[0])}, risk_config())
    assert result.orders.empty
    assert result.summary["refusals"]["missing_stop"] == 1


def test_portfolio_heat_cap_refuses_the_entry_that_would_exceed_it():
    candles = {s: make_candles([100.0] * 4) for s in ("A", "B", "C")}
    signals = {s: make_signals(c, entry=[0], stop={0: 75.0}) for s, c in candles.items()}
    # each entry risks 1% of equity; a 2.5% cap admits two of them
    result = run_signals(candles, signals, risk_config(max_portfolio_heat_pct=0.025))
    entries = result.orders[result.orders["kind"] == "entry"]
    assert list(entries["symbol"]) == ["A", "B"]
    assert result.summary["refusals"]["portfolio_heat"] == 1
    assert list(result.refusals["symbol"]) == ["C"]
    assert result.equity["portfolio_heat"].iloc[1] == pytest.approx(0.02)


def _random_walk(seed: int, bars: int) -> np.ndarray:
    steps = np.random.default_rng(seed).normal(0.0, 0.01, bars)
    return 100.0 * np.exp(np.cumsum(steps))


@pytest.mark.parametrize(("b_prices", "refused"), [("correlated", True), ("independent", False)])
def test_correlation_check_refuses_an_entry_correlated_with_an_open_position(b_prices, refused):
    a = _random_walk(1, 60)
    b = 2.0 * a * (1 + np.random.default_rng(3).normal(0, 1e-4, 60)) if b_prices == "correlated" else (
        _random_walk(2, 60))
    candles = {"A": make_candles(a), "B": make_candles(b)}
    signals = {"A": make_signals(candles["A"], entry=[40], stop={40: a[40] * 0.8}),
               "B": make_signals(candles["B"], entry=[45], stop={45: b[45] * 0.8})}
    config = risk_config(correlation_limit=0.7, correlation_window=30)
    result = run_signals(candles, signals, config)
    entered = set(result.orders.loc[result.orders["kind"] == "entry", "symbol"])
    assert entered == ({"A"} if refused else {"A", "B"})
    assert result.summary["refusals"]["correlation"] == int(refused)


def _crash_candles():
    # flat, then a steady fall of 3% a bar, then flat again
    prices = np.concatenate([[100.0] * 3, 100.0 * 0.97 ** np.arange(1, 11), [100.0 * 0.97 ** 10] * 10])
    return make_candles(prices), prices


def test_circuit_breaker_closes_everything_and_halts():
    candles, prices = _crash_candles()
    signals = make_signals(candles, entry=[0, 16], exit=[14])
    limits = RiskLimits(min_position_pct=0.0, max_position_pct=1.0, max_portfolio_heat_pct=np.inf,
                        max_drawdown_pct=0.2, correlation_limit=np.inf)
    config = frictionless(sizing="fixed_fraction", fixed_fraction=0.5, risk=limits)
    result = run_signals({"X": candles, "Y": candles}, {"X": signals, "Y": signals.copy()}, config)
    equity = result.equity
    tripped = int(np.argmax(equity["circuit_breaker"].to_numpy()))
    # the breaker trips on the first close at least 20% below the peak and closes at the next open
    assert equity["drawdown"].iloc[tripped] >= 0.2 > equity["drawdown"].iloc[tripped - 1]
    assert equity["open_positions"].iloc[tripped] == 2
    trades = result.trades
    assert list(trades["symbol"]) == ["X", "Y"]  # both halves of the portfolio closed, nothing else
    assert (trades["exit_reason"] == "circuit_breaker").all()
    assert (trades["exit_time"] == candles.index[tripped + 1]).all()
    assert trades["exit_price"].to_numpy() == pytest.approx([prices[tripped + 1]] * 2)
    # the later entry signals (one per symbol) are refused: halted for good
    assert result.summary["refusals"]["circuit_breaker"] == 2
    assert result.summary["circuit_breaker_events"] == 1
    assert equity["circuit_breaker"].iloc[tripped:].all()
    assert equity["open_positions"].iloc[tripped + 1:].eq(0).all()


def test_circuit_breaker_cooldown_allows_entries_again():
    candles, _ = _crash_candles()
    signals = make_signals(candles, entry=[0, 16], exit=[14])
    limits = RiskLimits(min_position_pct=0.0, max_position_pct=1.0, max_portfolio_heat_pct=np.inf,
                        max_drawdown_pct=0.2, correlation_limit=np.inf, drawdown_cooldown_bars=5)
    result = run_signals({"X": candles}, {"X": signals}, frictionless(sizing="fixed_fraction", risk=limits))
    assert list(result.trades["exit_reason"]) == ["circuit_breaker", "end_of_data"]
    assert result.trades.iloc[1].entry_time == candles.index[17]
    assert result.summary["refusals"]["circuit_breaker"] == 0
    assert not result.equity["circuit_breaker"].iloc[-1]
