"""Tests of backtests.metrics on hand-computed small cases (quantstats comparisons: test_metrics_quantstats.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from backtests import metrics as m


def _days(n: int, start: str = "2024-01-01") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="D", tz="UTC")


@pytest.fixture
def hourly_equity() -> pd.Series:
    rng = np.random.default_rng(7)
    idx = pd.date_range("2023-01-01", periods=24 * 400, freq="h", tz="UTC")
    return pd.Series(1_000.0 * np.cumprod(1 + rng.normal(0.0001, 0.004, idx.size)), index=idx)


# ------------------------------------------------------------------ daily resampling
def test_daily_returns_compound_to_total_return(hourly_equity):
    returns = m.daily_returns(hourly_equity)
    assert len(returns) == 400
    assert np.prod(1 + returns) - 1 == pytest.approx(m.total_return(hourly_equity), rel=1e-12)


def _resampled_daily_returns(equity: pd.Series) -> pd.Series:
    """The pandas formulation daily_returns replaced: resample to UTC days, last, ffill, pct_change."""
    closes = equity.resample("1D").last().ffill()
    if int((equity.index.normalize() == equity.index[0].normalize()).sum()) > 1:
        closes = pd.concat([pd.Series([equity.iloc[0]], index=[closes.index[0] - pd.Timedelta(days=1)]), closes])
    return closes.pct_change().iloc[1:].astype(float)


@pytest.mark.parametrize(("start", "freq", "bars", "gap"), [
    ("2024-01-01 05:00", "1h", 9_899, True), ("2024-01-01", "1h", 500, False), ("2024-01-01", "1D", 300, True),
    ("2024-01-01 23:00", "4h", 700, True), ("2024-01-01 03:00", "1h", 3, False), ("2024-01-01", "1min", 5_000, True),
])
def test_daily_returns_equal_the_pandas_resample_exactly(start, freq, bars, gap):
    rng = np.random.default_rng(bars)
    index = pd.date_range(start, periods=bars, freq=freq, tz="UTC")
    equity = pd.Series(1e5 * np.exp(np.cumsum(rng.normal(0, 0.01, bars))), index=index)
    if gap:
        equity = equity.drop(equity.index[50:90])  # bars (and whole days) without a value
    pd.testing.assert_series_equal(m.daily_returns(equity), _resampled_daily_returns(equity), check_names=False,
                                   rtol=0, atol=0)


def test_daily_returns_use_last_equity_of_each_utc_day():
    idx = pd.DatetimeIndex(
        ["2024-01-01 00:00", "2024-01-01 12:00", "2024-01-02 06:00", "2024-01-02 23:00", "2024-01-04 01:00"],
        tz="UTC",
    )
    equity = pd.Series([100.0, 110.0, 90.0, 99.0, 108.9], index=idx)
    returns = m.daily_returns(equity)
    # opening 100 -> day1 close 110 -> day2 close 99 -> day3 no bar (99) -> day4 108.9
    np.testing.assert_allclose(returns.to_numpy(), [0.1, -0.1, 0.0, 0.1])
    assert returns.index[-1] == pd.Timestamp("2024-01-04", tz="UTC")


def test_already_daily_curve_gets_no_extra_return():
    returns = m.daily_returns(pd.Series([100.0, 101.0, 102.01], index=_days(3)))
    np.testing.assert_allclose(returns.to_numpy(), [0.01, 0.01])


# ------------------------------------------------------------------ hand-computed cases
def test_five_point_curve_drawdown_and_recovery_by_hand():
    # peak 120 at t1, trough 90 at t3 (25% below), back to 120 at t4 -> recovered.
    equity = pd.Series([100.0, 120.0, 96.0, 90.0, 120.0], index=_days(5))
    assert m.max_drawdown(equity) == pytest.approx(0.25)
    rec = m.max_drawdown_recovery(equity)
    assert rec["recovered"] is True
    assert rec["duration_bars"] == 3 and rec["duration_days"] == 3.0  # t1 -> t4
    assert rec["recovery_bars"] == 1 and rec["recovery_days"] == 1.0  # t3 -> t4
    assert rec["trough_time"] == _days(5)[3].isoformat()


def test_unrecovered_drawdown_is_reported_as_not_recovered():
    equity = pd.Series([100.0, 120.0, 96.0, 90.0, 110.0], index=_days(5))
    rec = m.max_drawdown_recovery(equity)
    assert rec["status"] == "not recovered" and rec["recovered"] is False
    assert rec["recovery_bars"] is None and rec["recovery_time"] is None
    assert rec["bars_under_water"] == 3


def test_average_drawdown_is_mean_episode_depth():
    # episodes: 100->90 (10%), then 110->88 (20%) -> average 15%
    equity = pd.Series([100.0, 90.0, 110.0, 88.0, 111.0], index=_days(5))
    periods = m.drawdown_periods(equity)
    assert [p["depth"] for p in periods] == pytest.approx([0.1, 0.2])
    assert m.average_drawdown(equity) == pytest.approx(0.15)
    assert m.average_drawdown(pd.Series([1.0, 2.0, 3.0], index=_days(3))) == 0.0


@pytest.fixture
def trades() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pnl": [30.0, -10.0, 20.0, -20.0, 0.0],
            "return_pct": [0.03, -0.01, 0.02, -0.02, 0.0],
            "entry_time": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-05", "2024-01-07", "2024-01-09"],
                                         utc=True),
            "exit_time": pd.to_datetime(["2024-01-02", "2024-01-04", "2024-01-06", "2024-01-08", "2024-01-10"],
                                        utc=True),
        }
    )


def test_trade_statistics_by_hand(trades):
    assert m.number_of_trades(trades) == 5
    assert m.win_rate(trades) == pytest.approx(2 / 5)  # break-even is not a win
    assert m.profit_factor(trades) == pytest.approx(50 / 30)
    assert m.average_winner(trades) == pytest.approx(25.0)
    assert m.average_loser(trades) == pytest.approx(-15.0)
    assert m.average_winner(trades, "return_pct") == pytest.approx(0.025)
    assert m.expectancy(trades) == pytest.approx(4.0)  # 0.4*25 + 0.4*(-15) + 0.2*0


def test_profit_factor_undefined_without_losers(trades):
    assert m.profit_factor(trades[trades.pnl > 0]) is None


def test_exposure_from_trades_counts_bars_between_entry_and_exit(trades):
    index = _days(10)  # Jan 1..10; trades open on Jan 1, 3, 5, 7, 9 (one bar each)
    assert m.exposure(index, trades) == pytest.approx(0.5)
    open_trade = trades.iloc[[0]].assign(exit_time=pd.NaT)  # still open -> exposed to the end
    assert m.exposure(index, open_trade) == pytest.approx(1.0)


def test_exposure_from_position_series():
    assert m.exposure(_days(4), position=pd.Series([0, 1.5, 0, -1])) == pytest.approx(0.5)


# ------------------------------------------------------------------ summary
def test_summary_is_json_safe_and_warns_about_few_trades(hourly_equity, trades):
    summary = m.performance_summary(hourly_equity, trades)
    json.dumps(summary, allow_nan=False)
    assert summary["annualization"] == "365 days, daily-resampled returns"
    assert "fewer than 30 trades: statistics are unreliable" in summary["warnings"]
    assert summary["sharpe"] == pytest.approx(m.sharpe_ratio(m.daily_returns(hourly_equity)))
    assert summary["n_trades"] == 5


def test_summary_of_flat_curve_uses_none_not_nan():
    summary = m.performance_summary(pd.Series([100.0] * 5, index=_days(5)), None)
    json.dumps(summary, allow_nan=False)
    assert summary["sharpe"] is None and summary["sortino"] is None and summary["calmar"] is None
    assert summary["max_drawdown"] == 0.0
    assert "no trades: trade statistics are undefined" in summary["warnings"]


def test_trade_returns_from_pnl_divide_by_equity_before_each_trade():
    trades = pd.DataFrame({"pnl": [100.0, -110.0], "return_pct": [0.5, 0.5],
                           "exit_time": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True)})
    np.testing.assert_allclose(m.trade_returns(trades, initial_equity=1000.0), [0.1, -0.1])
    np.testing.assert_allclose(m.trade_returns(trades), [0.5, 0.5])


# --------------------------------------------------------------------------- positions, not legs
def _legs() -> pd.DataFrame:
    """Two positions on A (the first closed in two legs: a winning partial take-profit, then a losing stop)
    and one on B: by leg 2 of 4 win; by position 1 of 3."""
    times = pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-02", "2024-01-05"], utc=True)
    return pd.DataFrame({
        "symbol": ["A", "A", "B", "A"], "entry_time": times,
        "exit_time": pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-06"], utc=True),
        "entry_price": [10.0, 10.0, 5.0, 11.0], "quantity": [1.0, 1.0, 2.0, 1.0],
        "pnl": [2.0, -3.0, -1.0, 0.5], "return_pct": [0.2, -0.3, -0.1, 0.5 / 11],
        "exit_reason": ["take_profit", "stop_loss", "signal", "signal"], "is_partial": [True, False, False, False]})


def test_partial_exit_legs_are_one_position():
    joined = m.positions(_legs())
    assert joined[["symbol", "n_legs"]].values.tolist() == [["A", 2], ["B", 1], ["A", 1]]
    first = joined.iloc[0]
    assert first["pnl"] == -1.0 and first["quantity"] == 2.0 and first["exit_reason"] == "stop_loss"
    assert first["return_pct"] == pytest.approx(-1.0 / 20.0)  # P&L over the 2 x 10 committed
    assert first["exit_time"] == pd.Timestamp("2024-01-03", tz="UTC")


def test_trade_statistics_count_positions_and_report_legs():
    idx = pd.date_range("2024-01-01", periods=8, freq="D", tz="UTC")
    summary = m.performance_summary(pd.Series(np.linspace(100, 101, 8), index=idx), _legs())
    assert summary["n_trades"] == 3 and summary["n_legs"] == 4
    assert summary["win_rate"] == pytest.approx(1 / 3)  # by leg it would be 2/4
    assert summary["profit_factor"] == pytest.approx(0.5 / 2.0)
    assert summary["expectancy"] == pytest.approx((-1.0 - 1.0 + 0.5) / 3)


def test_monte_carlo_resamples_positions():
    returns = m.trade_returns(_legs(), initial_equity=100.0)
    assert returns.tolist() == pytest.approx([-1.0 / 100, -1.0 / 99, 0.5 / 98])


def test_frames_without_position_keys_are_trades_as_given():
    plain = pd.DataFrame({"pnl": [1.0, -1.0], "return_pct": [0.01, -0.01]})
    assert m.positions(plain) is plain


def test_single_leg_positions_equal_the_grouped_join():
    """When no position has a second leg, the fast path gives exactly the group-by's frame (values, dtypes,
    order): 40 random one-leg trades on two symbols, exits out of entry order."""
    rng = np.random.default_rng(7)
    bars = pd.date_range("2024-01-01", periods=200, freq="h", tz="UTC")
    n = 40
    legs = pd.DataFrame({
        "symbol": rng.choice(["A", "B"], n), "entry_time": bars[rng.choice(100, n, replace=False)],
        "exit_time": bars[100 + rng.integers(0, 100, n)], "entry_price": rng.random(n) + 1.0,
        "quantity": rng.random(n), "pnl": rng.normal(size=n), "return_pct": rng.normal(size=n),
        "fees": rng.random(n), "slippage_cost": rng.random(n), "exit_reason": "signal", "is_partial": False})
    sorted_legs = legs.sort_values("exit_time", kind="stable").copy()
    sorted_legs["_committed"] = sorted_legs["entry_price"] * sorted_legs["quantity"]
    fast = m.positions(legs)
    pd.testing.assert_frame_equal(fast, m._grouped_positions(sorted_legs))
    assert fast["return_pct"].tolist() == pytest.approx((sorted_legs["pnl"] / sorted_legs["_committed"]).tolist())


def test_position_results_join_legs_as_the_grouped_frame_does():
    """The statistics' array join equals :func:`positions`' group-by on legs of several partial exits: 60 legs of
    25 positions on two symbols (ties in exit time, a NaN leg return, a leg of no capital), in pnl, return_pct and order, bit for bit."""
    rng = np.random.default_rng(11)
    bars = pd.date_range("2024-01-01", periods=300, freq="h", tz="UTC")
    keys = [(rng.choice(["A", "B"]), bars[i]) for i in rng.choice(150, 25, replace=False)]
    rows = []
    for symbol, entry in keys:
        for _ in range(rng.integers(1, 5)):
            rows.append({"symbol": symbol, "entry_time": entry, "exit_time": bars[150 + rng.integers(0, 20)],
                         "entry_price": rng.random() + 1.0, "quantity": rng.random(), "pnl": rng.normal(),
                         "return_pct": rng.normal(), "fees": rng.random(), "slippage_cost": rng.random(),
                         "exit_reason": "signal", "is_partial": False})
    legs = pd.DataFrame(rows).sample(frac=1.0, random_state=3).reset_index(drop=True)
    legs.loc[legs.index[:3], "return_pct"] = np.nan
    legs.loc[legs.index[3], "quantity"] = 0.0
    assert legs.duplicated(list(m.POSITION_KEYS)).any()
    joined = m.positions(legs)[["pnl", "return_pct"]]
    fast = m.position_results(legs)
    assert len(fast) == len(joined) == 25
    np.testing.assert_array_equal(fast["pnl"], joined["pnl"])  # to the last bit: the same compensated sums
    np.testing.assert_array_equal(fast["return_pct"], joined["return_pct"])
