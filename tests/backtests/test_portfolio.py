"""One backtest of several strategies under one risk manager (backtests.portfolio), on synthetic candles."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from backtests.engine import EngineConfig, RiskLimits
from backtests.evaluation import evaluate_window
from backtests.portfolio import PortfolioMember, grid_signals, portfolio_backtest
from strategies.base import BaseStrategy, MarketData
from strategies.examples import SmaCrossover

HOUR = pd.Timedelta("1h")
FOUR_HOURS = pd.Timedelta("4h")
T0 = pd.Timestamp("2024-01-01", tz="UTC")


def walk_candles(seed: int, bars: int, *, sigma: float = 0.01, start: pd.Timestamp = T0,
                 closes: np.ndarray | None = None) -> pd.DataFrame:
    """Hourly OHLCV of a log-normal random walk (open = previous close, wicks beyond open/close)."""
    rng = np.random.default_rng(seed)
    if closes is None:
        closes = 100.0 * np.exp(np.cumsum(rng.normal(0.0, sigma, bars)))
    opens = np.r_[100.0, closes[:-1]]
    wicks = np.abs(rng.normal(0.0, sigma / 2, (2, bars)))
    return pd.DataFrame({
        "open": opens,
        "high": np.maximum(opens, closes) * (1 + wicks[0]),
        "low": np.minimum(opens, closes) * (1 - wicks[1]),
        "close": closes,
        "volume": rng.uniform(10.0, 100.0, bars),
    }, index=pd.date_range(start, periods=bars, freq="1h", tz="UTC"))


def resample_4h(candles: pd.DataFrame) -> pd.DataFrame:
    return candles.resample("4h").agg({"open": "first", "high": "max", "low": "min", "close": "last",
                                       "volume": "sum"})


class Scheduled(BaseStrategy):
    """Enters / exits every symbol it has candles for at fixed times, stop ``stop_pct`` below the close."""

    name = "scheduled"
    label = "Scheduled entries (test)"
    regime_symbols = ()

    def __init__(self, entries: Sequence[pd.Timestamp] = (), exits: Sequence[pd.Timestamp] = (),
                 stop_pct: float | None = 0.3) -> None:
        super().__init__()
        self.entries = pd.DatetimeIndex(entries)
        self.exits = pd.DatetimeIndex(exits)
        self.stop_pct = stop_pct

    def generate_signals(self, data: MarketData) -> dict[str, pd.DataFrame]:
        out = {}
        for symbol, candles in data.candles.items():
            frame = self.empty_signals(candles.index)
            frame["entry"] = candles.index.isin(self.entries)
            frame["exit"] = candles.index.isin(self.exits)
            if self.stop_pct is not None:
                frame["stop"] = (candles["close"] * (1 - self.stop_pct)).where(frame["entry"])
            out[symbol] = frame
        return out


class ScheduledYield(Scheduled):
    """Scheduled, earning a constant per-bar yield while its signals say it holds (like stable LP)."""

    name = "scheduled_yield"
    RATE = 1e-4

    def yield_accrual(self, data: MarketData, signals: dict[str, pd.DataFrame]) -> pd.Series:
        total = None
        for frame in signals.values():
            state = pd.Series(np.nan, index=frame.index)
            state[frame["entry"]] = 1.0
            state[frame["exit"]] = 0.0
            held = state.shift(1).ffill().fillna(0.0) * self.RATE
            total = held if total is None else total.add(held, fill_value=0.0)
        return total if total is not None else pd.Series(dtype=float)


def hours(n: int) -> pd.Timestamp:
    return T0 + n * HOUR


def member(name: str, strategy: BaseStrategy, candles: dict[str, pd.DataFrame], *, bar: pd.Timedelta = HOUR,
           start: pd.Timestamp, regime: dict[str, pd.DataFrame] | None = None) -> PortfolioMember:
    return PortfolioMember(name=name, strategy=strategy, market=MarketData(candles=candles, regime=regime or {}),
                           bar=bar, start=start)


# --------------------------------------------------------------------------- the mapping onto the grid
def test_a_coarse_signal_lands_on_the_grid_bar_that_closes_with_it():
    four = pd.date_range(T0, periods=6, freq="4h", tz="UTC")
    frame = BaseStrategy.empty_signals(four)
    frame.loc[four[2], ["entry", "stop", "take_profit"]] = [True, 90.0, 120.0]  # the 08:00-12:00 bar
    frame.loc[four[4], "exit"] = True  # the 16:00-20:00 bar
    grid = pd.date_range(T0, periods=24, freq="1h", tz="UTC")
    out, moved, dropped = grid_signals(frame, FOUR_HOURS, grid, HOUR)
    assert out.index.equals(grid)
    assert list(out.index[out["entry"]]) == [hours(11)]  # decided at 12:00: fills at 12:00, as in 4h
    assert list(out.index[out["exit"]]) == [hours(19)]
    assert out["stop"].dropna().to_dict() == {hours(11): 90.0}
    assert out["take_profit"].dropna().to_dict() == {hours(11): 120.0}
    assert (out["direction"] == 1).all() and not out["scale_in"].any()
    assert (moved, dropped) == (0, 0)

    # a missing grid bar: the signal waits for the next one (later, never earlier) ...
    out, moved, dropped = grid_signals(frame, FOUR_HOURS, grid.delete([11]), HOUR)
    assert list(out.index[out["entry"]]) == [hours(12)] and (moved, dropped) == (1, 0)
    # ... but not past the member's next decision (15:00): then it is dropped
    out, moved, dropped = grid_signals(frame, FOUR_HOURS, grid.delete([11, 12, 13, 14]), HOUR)
    assert not out["entry"].any() and out["stop"].isna().all() and (moved, dropped) == (0, 1)
    # signals decided before the start are warm-up: dropped, not counted
    out, moved, dropped = grid_signals(frame, FOUR_HOURS, grid, HOUR, start=hours(12))
    assert not out["entry"].any() and out["exit"].sum() == 1 and (moved, dropped) == (0, 0)


# --------------------------------------------------------------------------- 1. one member on the grid
def test_one_member_on_the_grid_matches_its_own_window_evaluation():
    candles = walk_candles(7, 1500)
    strategy = SmaCrossover(fast=10, slow=40, stop_pct=0.05)
    config = EngineConfig(bar_length="1h")
    start, end = hours(200), hours(1400)
    alone = evaluate_window(strategy, MarketData(candles={"BTC": candles}), config, start, end, HOUR)
    together = portfolio_backtest([member("sma", strategy, {"BTC": candles}, start=start)], {"BTC": candles},
                                  config, start, end)

    assert len(alone.result.trades) >= 10
    pd.testing.assert_frame_equal(together.result.trades, alone.result.trades)
    own_equity = alone.result.equity.loc[alone.result.equity.index >= start, "equity"]
    pd.testing.assert_series_equal(together.equity, own_equity)
    assert together.performance == alone.performance
    stats = together.members["sma"]
    assert stats["symbols"] == ["BTC"]
    assert stats["n_trades"] == alone.performance["n_trades"]
    assert stats["pnl"] == pytest.approx(float(alone.result.trades["pnl"].sum()))
    assert stats["win_rate"] == alone.performance["win_rate"]
    expected_refusals = {k: v for k, v in alone.result.summary["refusals"].items() if v}
    assert stats["refusals"] == together.refusals == expected_refusals
    json.dumps(together.to_dict(), allow_nan=False)


# --------------------------------------------------------------------------- 2. a 4h member on a 1h grid
def test_a_4h_member_on_a_1h_grid_fills_when_and_where_its_own_4h_run_does():
    hourly = walk_candles(11, 24 * 120, sigma=0.006)
    four = resample_4h(hourly)
    strategy = SmaCrossover(fast=5, slow=20, stop_pct=0.5)  # the stop is never touched: signal exits only
    start, end = T0 + pd.Timedelta(days=10), T0 + pd.Timedelta(days=115)
    alone = evaluate_window(strategy, MarketData(candles={"BTC": four}), EngineConfig(bar_length="4h"), start,
                            end, FOUR_HOURS)
    together = portfolio_backtest([member("sma4h", strategy, {"BTC": four}, bar=FOUR_HOURS, start=start)],
                                  {"BTC": hourly}, EngineConfig(bar_length="1h"), start, end)

    own, mixed = alone.result.trades, together.result.trades
    assert len(own) >= 10 and set(own["exit_reason"]) <= {"signal", "end_of_data"}
    assert len(mixed) == len(own)
    assert list(mixed["entry_time"]) == list(own["entry_time"])
    for column in ("entry_price", "exit_price", "quantity", "pnl"):
        np.testing.assert_allclose(mixed[column], own[column], rtol=1e-12)
    assert list(mixed["exit_reason"]) == list(own["exit_reason"])
    signal = own["exit_reason"] == "signal"
    assert list(mixed.loc[signal, "exit_time"]) == list(own.loc[signal, "exit_time"])
    # the end-of-data close is the same close: of the last 4h bar, and of the last 1h bar inside it
    last = ~signal
    assert list(mixed.loc[last, "exit_time"] + HOUR) == list(own.loc[last, "exit_time"] + FOUR_HOURS)
    # equity at each 4h close equals the grid's equity at the same moment (the 1h bar closing with it)
    own_equity = alone.result.equity.loc[alone.result.equity.index >= start, "equity"]
    at_same_close = together.equity.reindex(own_equity.index + FOUR_HOURS - HOUR)
    np.testing.assert_allclose(at_same_close.to_numpy(), own_equity.to_numpy(), rtol=1e-12)
    assert together.circuit_breaker_events["count"] == alone.result.summary["circuit_breaker_events"] == 0
    assert together.members["sma4h"]["timeframe"] == str(FOUR_HOURS)


def test_a_4h_member_stop_set_at_entry_holds_on_the_grid_bars_between_its_signals():
    hourly = walk_candles(11, 24 * 120, sigma=0.006)
    four = resample_4h(hourly)
    strategy = SmaCrossover(fast=5, slow=20, stop_pct=0.02)  # tight: most trades end at the stop
    start, end = T0 + pd.Timedelta(days=10), T0 + pd.Timedelta(days=115)
    alone = evaluate_window(strategy, MarketData(candles={"BTC": four}), EngineConfig(bar_length="4h"), start,
                            end, FOUR_HOURS)
    together = portfolio_backtest([member("sma4h", strategy, {"BTC": four}, bar=FOUR_HOURS, start=start)],
                                  {"BTC": hourly}, EngineConfig(bar_length="1h"), start, end)
    own, mixed = alone.result.trades, together.result.trades
    assert (own["exit_reason"] == "stop_loss").sum() >= 5
    assert list(mixed["exit_reason"]) == list(own["exit_reason"])
    assert list(mixed["entry_time"]) == list(own["entry_time"])
    np.testing.assert_allclose(mixed["exit_price"], own["exit_price"], rtol=1e-12)  # the same stop level
    late = mixed["exit_time"] - own["exit_time"]  # checked hourly: inside the same 4h bar
    assert ((late >= pd.Timedelta(0)) & (late < FOUR_HOURS)).all() and (late > pd.Timedelta(0)).any()


# --------------------------------------------------------------------------- 3. limits act across members
def test_the_heat_cap_acts_across_members():
    candles = {"AAA": walk_candles(1, 300, sigma=0.003), "BBB": walk_candles(2, 300, sigma=0.003)}
    config = EngineConfig(bar_length="1h", risk=RiskLimits(max_portfolio_heat_pct=0.015,
                                                           correlation_limit=np.inf))
    start, end = hours(24), hours(300)
    # each entry risks 1% of equity to its stop: one position fits under the 1.5% cap, two do not
    a = member("a", Scheduled(entries=[hours(50)]), {"AAA": candles["AAA"]}, start=start)
    b = member("b", Scheduled(entries=[hours(60)]), {"BBB": candles["BBB"]}, start=start)
    for alone in (a, b):
        own = evaluate_window(alone.strategy, alone.market, config, start, end, HOUR)
        assert own.result.summary["refusals"]["portfolio_heat"] == 0
        assert (own.result.orders["kind"] == "entry").sum() == 1
    together = portfolio_backtest([a, b], candles, config, start, end)
    assert together.refusals.get("portfolio_heat", 0) > 0
    assert together.members["b"]["refusals"] == {"portfolio_heat": 1}
    assert together.members["a"]["refusals"] == {} and together.members["a"]["n_trades"] == 1
    assert together.members["b"]["n_trades"] == 0
    assert together.max_portfolio_heat <= 0.015 * (1 + 1e-6)


def _crash_closes(seed: int, bars: int, crash_at: int) -> np.ndarray:
    """Calm noise, a -40% fall over ten bars from ``crash_at``, calm noise again."""
    steps = np.random.default_rng(seed).normal(0.0, 0.002, bars)
    steps[crash_at:crash_at + 10] = np.log(0.6) / 10
    return 100.0 * np.exp(np.cumsum(steps))


def test_the_circuit_breaker_fires_on_the_combined_drawdown_and_halts_every_member():
    bars, crash_at = 240, 100
    symbols = ("AAA", "BBB", "CCC")
    candles = {s: walk_candles(i, bars, closes=_crash_closes(i, bars, crash_at)) for i, s in enumerate(symbols)}
    config = EngineConfig(bar_length="1h", sizing="fixed_fraction", fixed_fraction=0.3,
                          risk=RiskLimits(max_position_pct=0.3, max_portfolio_heat_pct=1.0))
    start, end = hours(24), hours(bars)
    members = [member(s.lower(), Scheduled(entries=[hours(40 + i), hours(150)], exits=[hours(140)],
                                           stop_pct=None), {s: candles[s]}, start=start)
               for i, s in enumerate(symbols)]
    for alone in members:  # 30% of equity in one coin that falls 40%: a 12% drawdown, no breaker
        own = evaluate_window(alone.strategy, alone.market, config, start, end, HOUR)
        assert own.result.summary["circuit_breaker_events"] == 0
        assert (own.result.orders["kind"] == "entry").sum() == 2  # and it re-enters after the crash
    together = portfolio_backtest(members, candles, config, start, end)
    assert together.circuit_breaker_events["count"] == 1
    tripped = pd.Timestamp(together.circuit_breaker_events["times"][0])
    assert hours(crash_at) < tripped < hours(crash_at + 10)
    orders = together.result.orders
    assert (orders["kind"] == "entry").sum() == 3
    assert orders.loc[orders["kind"] == "entry", "time"].max() < tripped
    assert (orders["kind"] == "circuit_breaker").sum() == 3
    assert together.refusals == {"circuit_breaker": 3}  # the three re-entries after the crash
    for name in ("aaa", "bbb", "ccc"):
        assert together.members[name]["refusals"] == {"circuit_breaker": 1}
    assert together.result.equity.loc[together.result.equity.index > tripped, "circuit_breaker"].all()
    assert together.performance["max_drawdown"] > 0.2


# --------------------------------------------------------------------------- 4. symbols and missing data
def test_a_symbol_traded_by_two_members_is_refused():
    candles = walk_candles(3, 300)
    members = [member("first", SmaCrossover(fast=5, slow=20), {"BTC": candles}, start=hours(50)),
               member("second", Scheduled(entries=[hours(60)]), {"BTC": candles}, start=hours(50))]
    with pytest.raises(ValueError, match=r"BTC.*first.*second"):
        portfolio_backtest(members, {"BTC": candles}, EngineConfig(bar_length="1h"), hours(50), hours(300))


def test_regime_symbols_may_be_shared_and_a_member_without_candles_is_noted():
    btc, eth, sol = walk_candles(4, 300), walk_candles(5, 300), walk_candles(6, 300)
    start, end = hours(50), hours(300)
    members = [
        member("eth", Scheduled(entries=[hours(60)]), {"ETH": eth}, start=start, regime={"BTC": btc}),
        member("sol", Scheduled(entries=[hours(70)]), {"SOL": sol}, start=start, regime={"BTC": btc}),
        member("early", Scheduled(entries=[hours(10)]), {"ADA": walk_candles(8, 40)}, start=start),
        member("late", Scheduled(entries=[hours(10)]), {"DOT": walk_candles(9, 300)}, start=end),
    ]
    result = portfolio_backtest(members, {"ETH": eth, "SOL": sol, "BTC": btc}, EngineConfig(bar_length="1h"),
                                start, end)
    assert result.result.summary["symbols"] == ["ETH", "SOL"]
    assert result.members["eth"]["n_trades"] == result.members["sol"]["n_trades"] == 1
    for name in ("early", "late"):
        assert result.members[name]["symbols"] == [] and result.members[name]["n_trades"] == 0
        assert f"{name}: no candles in the window, not traded" in result.notes
    assert result.to_dict()["notes"] == result.notes


def test_a_member_symbol_without_grid_candles_is_noted_and_nothing_to_run_is_not_fatal():
    eth = walk_candles(5, 300)
    start, end = hours(50), hours(300)
    only = member("eth", Scheduled(entries=[hours(60)]), {"ETH": eth}, start=start)
    result = portfolio_backtest([only], {}, EngineConfig(bar_length="1h"), start, end)
    assert result.result is None and result.performance == {} and result.equity.empty
    assert "eth: ETH has no grid candles in the window, not traded" in result.notes
    json.dumps(result.to_dict(), allow_nan=False)


# --------------------------------------------------------------------------- yield, reported apart
def test_a_yield_member_reports_its_yield_apart_as_its_own_evaluation_does():
    candles = walk_candles(12, 400, sigma=0.001)
    strategy = ScheduledYield(entries=[hours(60)], exits=[hours(300)], stop_pct=0.3)
    config = EngineConfig(bar_length="1h")
    start, end = hours(24), hours(400)
    alone = evaluate_window(strategy, MarketData(candles={"USDC": candles}), config, start, end, HOUR)
    lp = member("lp", strategy, {"USDC": candles}, start=start)
    own = alone.performance["yield"]
    assert own["yield_return"] > 0

    single = portfolio_backtest([lp], {"USDC": candles}, config, start, end)
    assert single.members["lp"]["yield"]["yield_return"] == pytest.approx(own["yield_return"], rel=1e-9)
    assert single.members["lp"]["yield"]["convention"] == own["convention"]

    # beside another member its exposure is its position over the portfolio's equity (which holds the other
    # member's P&L too): nearly, not exactly, its own figure
    other = member("btc", Scheduled(entries=[hours(80)]), {"BTC": walk_candles(13, 400)}, start=start)
    together = portfolio_backtest([lp, other], {"USDC": candles, "BTC": other.market.candles["BTC"]}, config,
                                  start, end)
    assert together.members["lp"]["yield"]["yield_return"] == pytest.approx(own["yield_return"], rel=1e-2)
    assert together.members["btc"]["yield"] is None
    assert "yield" not in together.performance  # apart: not in the portfolio's statistics or equity
    assert together.equity.iloc[-1] == pytest.approx(together.result.summary["final_equity"])
