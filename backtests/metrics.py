"""Performance statistics of one backtest: one statistic, one function, JSON-safe results.

Pure pandas/numpy (no Django). Inputs are plain objects the backtest engine produces:

* ``equity``: a ``pd.Series`` of account equity indexed by a UTC ``DatetimeIndex`` (any bar frequency).
* ``trades``: a ``pd.DataFrame`` with one row per closed trade *leg*. This module uses the columns
  ``pnl`` (realised P&L after costs, account currency), ``return_pct`` (the leg's return as a
  *fraction*: 0.01 means +1%) and ``entry_time``/``exit_time`` (UTC timestamps; only for exposure).
  When ``symbol``, ``entry_time`` and ``exit_time`` are present, legs of one position (partial exits share
  the position's symbol and entry bar) are first joined into one trade (:func:`positions`), so win rate,
  profit factor, expectancy, trade counts and the Monte Carlo samples count positions, not legs.

Conventions (chosen to match quantstats so the two can be compared):

* Ratios are annualised for markets that trade every day: ``periods_per_year=365``.
* Returns are daily: the last equity of each UTC day, ``pct_change``. Days without a bar carry the
  previous close (return 0). When the first day holds several bars, the very first equity value is
  used as the close of the day before, so compounding the daily returns gives the total return.
* Sharpe = mean(excess) / std(excess, ddof=1) * sqrt(365); the annual risk-free rate is converted to a
  daily one as ``(1 + rf) ** (1 / 365) - 1`` (as quantstats does).
* Sortino = mean(excess) / sqrt(sum(min(excess, 0)^2) / n) * sqrt(365) (quantstats / Red Rock Capital).
* Drawdowns are positive fractions (0.25 = 25% below the running peak), measured on every bar.
* Undefined values (too little data, division by zero) are ``None``, never NaN or inf.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from core.jsonsafe import json_safe
from core.timeutil import utc_index

PERIODS_PER_YEAR = 365
ANNUALIZATION_NOTE = "365 days, daily-resampled returns"
MIN_RELIABLE_TRADES = 30
MIN_RELIABLE_DAYS = 30


def _finite_or_none(value: float | None) -> float | None:
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None


_DAY_NS = 86_400 * 10**9

# --------------------------------------------------------------------------- returns
def daily_returns(equity: pd.Series) -> pd.Series:
    """Daily simple returns of an equity curve: last equity of each UTC day, ``pct_change``."""
    equity = _clean_equity(equity)
    if equity.empty:
        return pd.Series(dtype=float)
    # resample("1D").last().ffill(), in numpy: the last bar of each UTC day, carried over days without bars
    values = equity.to_numpy(dtype=np.float64)
    days = equity.index.as_unit("ns").asi8 // _DAY_NS
    last_of_day = np.flatnonzero(np.r_[days[1:] != days[:-1], True])
    all_days = np.arange(days[0], days[-1] + 1)
    closes = values[last_of_day][np.searchsorted(days[last_of_day], all_days, side="right") - 1]
    first_day_bars = int(last_of_day[0]) + 1
    freq: str | None = "D"
    if first_day_bars > 1:  # the day's opening equity is the baseline of its return
        closes, all_days, freq = np.r_[values[0], closes], np.r_[all_days[0] - 1, all_days], None
    index = pd.DatetimeIndex(all_days[1:] * _DAY_NS, tz="UTC", freq=freq).as_unit(equity.index.unit)
    return pd.Series(closes[1:] / closes[:-1] - 1.0, index=index, name=equity.name)


def _clean_equity(equity: pd.Series) -> pd.Series:
    if not isinstance(equity.index, pd.DatetimeIndex):
        raise TypeError("equity must be indexed by a DatetimeIndex")
    if (equity.dtype == np.float64 and equity.index.tz is not None and equity.index.is_monotonic_increasing
            and not np.isnan(equity.to_numpy()).any()):
        return equity  # already clean (an engine curve): the checks cost less than the copies they save
    equity = equity.dropna().astype(float).sort_index()
    if equity.index.tz is None:
        equity = equity.tz_localize("UTC")
    return equity


def _daily_risk_free(risk_free_rate: float, periods_per_year: int) -> float:
    return (1.0 + risk_free_rate) ** (1.0 / periods_per_year) - 1.0


# --------------------------------------------------------------------------- return-based ratios
def sharpe_ratio(
    returns: pd.Series, *, risk_free_rate: float = 0.0, periods_per_year: int = PERIODS_PER_YEAR
) -> float | None:
    """Annualised Sharpe ratio of daily returns (sample std, ddof=1). ``None`` if fewer than 2 returns or flat."""
    excess = np.asarray(returns, dtype=float) - _daily_risk_free(risk_free_rate, periods_per_year)
    if excess.size < 2:
        return None
    std = excess.std(ddof=1)
    if not std > 0:
        return None
    return _finite_or_none(excess.mean() / std * math.sqrt(periods_per_year))


def sortino_ratio(
    returns: pd.Series, *, risk_free_rate: float = 0.0, periods_per_year: int = PERIODS_PER_YEAR
) -> float | None:
    """Annualised Sortino ratio; downside deviation over all observations. ``None`` without losing days."""
    excess = np.asarray(returns, dtype=float) - _daily_risk_free(risk_free_rate, periods_per_year)
    if excess.size < 2:
        return None
    downside = math.sqrt(float((np.minimum(excess, 0.0) ** 2).sum()) / excess.size)
    if downside == 0:
        return None
    return _finite_or_none(excess.mean() / downside * math.sqrt(periods_per_year))


def volatility(returns: pd.Series, *, periods_per_year: int = PERIODS_PER_YEAR) -> float | None:
    """Annualised volatility: std(ddof=1) of daily returns times sqrt(365)."""
    values = np.asarray(returns, dtype=float)
    if values.size < 2:
        return None
    return _finite_or_none(values.std(ddof=1) * math.sqrt(periods_per_year))


def total_return(equity: pd.Series) -> float | None:
    """Final equity over first equity, minus one."""
    equity = _clean_equity(equity)
    if equity.size < 1 or equity.iloc[0] <= 0:
        return None
    return _finite_or_none(equity.iloc[-1] / equity.iloc[0] - 1.0)


def cagr(returns: pd.Series, *, periods_per_year: int = PERIODS_PER_YEAR) -> float | None:
    """Compound annual growth rate from daily returns; the number of years is ``len(returns) / 365``."""
    values = np.asarray(returns, dtype=float)
    if values.size < 1:
        return None
    wealth = float(np.prod(1.0 + values))
    if wealth < 0:
        return None
    return _finite_or_none(wealth ** (periods_per_year / values.size) - 1.0)


def calmar_ratio(
    returns: pd.Series, max_drawdown_value: float | None, *, periods_per_year: int = PERIODS_PER_YEAR
) -> float | None:
    """CAGR divided by the maximum drawdown (pass the bar-level ``max_drawdown(equity)``)."""
    growth = cagr(returns, periods_per_year=periods_per_year)
    if growth is None or not max_drawdown_value:
        return None
    return _finite_or_none(growth / abs(max_drawdown_value))


# --------------------------------------------------------------------------- drawdowns
def drawdown_series(equity: pd.Series) -> pd.Series:
    """Drawdown of every bar as a positive fraction below the running peak."""
    equity = _clean_equity(equity)
    return (1.0 - equity / equity.cummax()).clip(lower=0.0)


def max_drawdown(equity: pd.Series) -> float | None:
    """Largest peak-to-trough fall, as a positive fraction (0.25 = 25%). ``None`` for an empty curve."""
    dd = drawdown_series(equity)
    return None if dd.empty else _finite_or_none(dd.max())


def _episodes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised drawdown episodes: (peak bar, first bar back at the peak or n, trough value, depth)."""
    peaks = np.maximum.accumulate(values)
    under = np.concatenate([[0], (values < peaks).astype(np.int8), [0]])
    edges = np.diff(under)
    firsts = np.flatnonzero(edges == 1)  # first bar under water of each episode
    afters = np.flatnonzero(edges == -1)  # first bar back at the peak (== n if never)
    if firsts.size == 0:
        empty = np.empty(0)
        return firsts, afters, empty, empty
    troughs = np.minimum.reduceat(values, firsts)  # each segment [first, next first) ends under water
    starts = firsts - 1  # the peak bar (the first bar is never under water)
    depths = 1.0 - troughs / peaks[starts]
    return starts, afters, troughs, depths


def _episode_dict(equity: pd.Series, start: int, after: int) -> dict:
    values = equity.to_numpy()
    index = equity.index
    trough = start + 1 + int(np.argmin(values[start + 1 : after]))
    recovered = bool(after < len(values))
    j = int(after)
    return {
        "peak_time": index[start].isoformat(),
        "trough_time": index[trough].isoformat(),
        "recovery_time": index[j].isoformat() if recovered else None,
        "depth": _finite_or_none(1.0 - values[trough] / values[start]),
        "recovered": recovered,
        "status": "recovered" if recovered else "not recovered",
        "duration_bars": (j - int(start)) if recovered else None,
        "duration_days": _days(index[start], index[j]) if recovered else None,
        "recovery_bars": (j - trough) if recovered else None,
        "recovery_days": _days(index[trough], index[j]) if recovered else None,
        "bars_under_water": j - int(start) - 1,
    }


def drawdown_periods(equity: pd.Series) -> list[dict]:
    """Every drawdown episode: from a peak, through its trough, to the bar that regains the peak.

    ``recovered`` is False (and the recovery fields ``None``) for an episode still open at the end.
    ``duration_*`` run from the peak to the recovery; ``recovery_*`` from the trough to the recovery.
    """
    equity = _clean_equity(equity)
    starts, afters, _, _ = _episodes(equity.to_numpy())
    return [_episode_dict(equity, int(s), int(a)) for s, a in zip(starts, afters, strict=True)]


def _days(start: pd.Timestamp, end: pd.Timestamp) -> float:
    return (end - start) / pd.Timedelta(days=1)


def average_drawdown(equity: pd.Series) -> float | None:
    """Mean depth of all drawdown episodes (0.0 if the curve never fell)."""
    equity = _clean_equity(equity)
    if equity.empty:
        return None
    depths = _episodes(equity.to_numpy())[3]
    return 0.0 if depths.size == 0 else _finite_or_none(float(depths.mean()))


def max_drawdown_recovery(equity: pd.Series) -> dict:
    """The deepest drawdown episode with its recovery time; ``status`` says "not recovered" if open."""
    equity = _clean_equity(equity)
    starts, afters, _, depths = _episodes(equity.to_numpy())
    if depths.size == 0:
        return {"depth": 0.0, "recovered": True, "status": "no drawdown", "duration_bars": 0,
                "duration_days": 0.0, "recovery_bars": 0, "recovery_days": 0.0}
    deepest = int(np.argmax(depths))
    return _episode_dict(equity, int(starts[deepest]), int(afters[deepest]))


# --------------------------------------------------------------------------- trade statistics
POSITION_KEYS = ("symbol", "entry_time")


def positions(trades: pd.DataFrame | None) -> pd.DataFrame:
    """One row per position: its legs (partial exits and the final exit) joined, in the order positions close.

    A position is the legs with the same symbol and entry time (the engine holds one position per symbol
    and keeps a position's entry bar through scale-ins and partial exits). ``pnl``, ``quantity``, ``fees``
    and ``slippage_cost`` are summed; ``return_pct`` is the summed P&L over the capital the legs committed
    (sum of entry price x quantity); ``exit_time``/``exit_price``/``exit_reason`` are the last leg's;
    ``n_legs`` counts the legs. Frames without the key columns are returned unchanged (one row = one trade).
    """
    if trades is None or len(trades) == 0 or not set(POSITION_KEYS) <= set(trades.columns) \
            or "exit_time" not in trades.columns:
        return trades if trades is not None else pd.DataFrame(columns=["pnl", "return_pct"])
    legs = trades.sort_values("exit_time", kind="stable").copy()
    legs["_committed"] = (legs["entry_price"].astype(float) * legs["quantity"].astype(float)
                          if {"entry_price", "quantity"} <= set(legs.columns) else np.nan)
    if not legs.duplicated(list(POSITION_KEYS)).any():
        return _single_leg_positions(legs)
    return _grouped_positions(legs)


def _grouped_positions(legs: pd.DataFrame) -> pd.DataFrame:
    """:func:`positions` of legs sorted by exit time, with their ``_committed`` capital."""
    grouped = legs.groupby(list(POSITION_KEYS), sort=False, dropna=False)
    out = grouped.agg(**{column: (column, "last") for column in legs.columns
                         if column not in (*POSITION_KEYS, "_committed")})
    for column in ("pnl", "quantity", "fees", "slippage_cost"):
        if column in legs.columns:
            out[column] = grouped[column].sum(min_count=1)
    out["n_legs"] = grouped.size()
    committed = grouped["_committed"].sum(min_count=1)
    if "return_pct" in legs.columns:
        out["return_pct"] = np.where(committed > 0, out["pnl"] / committed, out["return_pct"])
    if "entry_price" in legs.columns:
        out["entry_price"] = grouped["entry_price"].first()
    if "is_partial" in out.columns:
        out["is_partial"] = False
    return out.reset_index().sort_values("exit_time", kind="stable").reset_index(drop=True)


def _single_leg_positions(legs: pd.DataFrame) -> pd.DataFrame:
    """:func:`positions` when every position has one leg (the common case): the same frame without a group-by."""
    out = legs[[*POSITION_KEYS, *(c for c in legs.columns if c not in (*POSITION_KEYS, "_committed"))]].copy()
    for column in ("pnl", "quantity", "fees", "slippage_cost"):  # what sum(min_count=1) of one value gives
        if column in out.columns:
            out[column] = out[column].astype(float)
    out["n_legs"] = 1
    committed = legs["_committed"].astype(float)
    if "return_pct" in out.columns:
        out["return_pct"] = np.where(committed > 0, out["pnl"] / committed, out["return_pct"])
    if "is_partial" in out.columns:
        out["is_partial"] = False
    return out.reset_index(drop=True)


def position_results(legs: pd.DataFrame | None) -> pd.DataFrame:
    """``pnl`` and ``return_pct`` of each position, exactly as :func:`positions` joins them, computed on arrays
    without building its frame (the statistics read only these two columns; an optimiser's trials call this on
    every evaluation, where a group-by costs more than the engine)."""
    if legs is None or len(legs) == 0 or not {*POSITION_KEYS, "exit_time", "pnl"} <= set(legs.columns):
        return positions(legs)
    exits = legs["exit_time"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    order = np.argsort(exits, kind="stable")
    codes = pd.factorize(legs["symbol"])[0][order]
    entries = legs["entry_time"].to_numpy(dtype="datetime64[ns]").view(np.int64)[order]
    pnl = legs["pnl"].to_numpy(dtype=float)[order]
    has_pct = "return_pct" in legs.columns
    pct = legs["return_pct"].to_numpy(dtype=float)[order] if has_pct else None
    if {"entry_price", "quantity"} <= set(legs.columns):
        committed = (legs["entry_price"].to_numpy(dtype=float) * legs["quantity"].to_numpy(dtype=float))[order]
    else:
        committed = np.full(len(pnl), np.nan)
    _, first, group = np.unique(np.column_stack((codes, entries)), axis=0, return_index=True, return_inverse=True)
    group = group.reshape(-1)
    if len(first) < len(pnl):  # some position has several legs: join them (groups in order of first leg, as
        rank = np.empty(len(first), dtype=np.int64)  # the group-by with sort=False; then by last exit)
        rank[np.argsort(first, kind="stable")] = np.arange(len(first))
        group = rank[group]
        position_exit = np.full(len(first), np.iinfo(np.int64).min)
        np.maximum.at(position_exit, group, exits[order])
        pnl, committed = _sum_min_count(pnl, group, len(first)), _sum_min_count(committed, group, len(first))
        if pct is not None:  # the last leg's (the last known one's, as the group-by's "last")
            known = ~np.isnan(pct)
            last = np.full(len(first), -1, dtype=np.int64)
            np.maximum.at(last, group[known], np.flatnonzero(known))
            pct = np.where(last >= 0, pct[np.maximum(last, 0)], np.nan)
        by_exit = np.argsort(position_exit, kind="stable")
        pnl, committed = pnl[by_exit], committed[by_exit]
        pct = pct[by_exit] if pct is not None else None
    out = {"pnl": pnl}
    if pct is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            out["return_pct"] = np.where(committed > 0, pnl / committed, pct)
    return pd.DataFrame(out)


def _sum_min_count(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Per-group sum of the non-NaN values, NaN for a group with none: pandas' ``sum(min_count=1)`` with its
    Kahan-compensated summation in the same order, so the sums are the group-by's to the last bit."""
    total, compensation = [0.0] * n_groups, [0.0] * n_groups
    count = [0] * n_groups
    for label, value in zip(group.tolist(), values.tolist(), strict=True):
        if value != value:  # NaN
            continue
        count[label] += 1
        y = value - compensation[label]
        t = total[label] + y
        compensation[label] = t - total[label] - y
        if compensation[label] != compensation[label]:  # inf - inf: pandas resets the compensation
            compensation[label] = 0.0
        total[label] = t
    return np.where(np.array(count) > 0, np.array(total), np.nan)


def number_of_trades(trades: pd.DataFrame) -> int:
    return len(trades)


def _pnl(trades: pd.DataFrame) -> np.ndarray:
    if trades is None or len(trades) == 0:
        return np.empty(0)
    return trades["pnl"].astype(float).dropna().to_numpy()


def win_rate(trades: pd.DataFrame) -> float | None:
    """Share of trades with ``pnl > 0`` (break-even trades count as non-winners)."""
    pnl = _pnl(trades)
    return None if pnl.size == 0 else float((pnl > 0).mean())


def profit_factor(trades: pd.DataFrame) -> float | None:
    """Gross profit over gross loss. ``None`` when there are no losing trades (undefined)."""
    pnl = _pnl(trades)
    gross_loss = -pnl[pnl < 0].sum()
    if gross_loss <= 0:
        return None
    return _finite_or_none(pnl[pnl > 0].sum() / gross_loss)


def average_winner(trades: pd.DataFrame, column: str = "pnl") -> float | None:
    """Mean of ``column`` over winning trades (``pnl > 0``)."""
    return _mean_where(trades, column, lambda pnl: pnl > 0)


def average_loser(trades: pd.DataFrame, column: str = "pnl") -> float | None:
    """Mean of ``column`` over losing trades (``pnl < 0``); a negative number."""
    return _mean_where(trades, column, lambda pnl: pnl < 0)


def _mean_where(trades: pd.DataFrame, column: str, condition) -> float | None:
    if trades is None or len(trades) == 0:
        return None
    values = trades[column].to_numpy(dtype=float)
    selected = values[condition(trades["pnl"].to_numpy(dtype=float)) & ~np.isnan(values)]
    return None if selected.size == 0 else _finite_or_none(selected.mean())


def expectancy(trades: pd.DataFrame, column: str = "pnl") -> float | None:
    """Expected result per trade: the mean of ``column`` (= win_rate*avg_win + loss_rate*avg_loss)."""
    if trades is None or len(trades) == 0:
        return None
    values = trades[column].astype(float).dropna()
    return None if values.empty else _finite_or_none(values.mean())


def exposure(
    index: pd.DatetimeIndex, trades: pd.DataFrame | None = None, position: pd.Series | None = None
) -> float | None:
    """Share of bars with an open position.

    With ``position`` (a series aligned to the bars; non-zero/True means in the market) it is the share
    of non-zero values. Otherwise a bar at time ``t`` is exposed when some trade has
    ``entry_time <= t < exit_time`` (a missing exit time means still open at the end).
    """
    if position is not None:
        values = np.asarray(position, dtype=float)
        return None if values.size == 0 else float((np.nan_to_num(values) != 0).mean())
    n = len(index)
    if n == 0:
        return None
    if trades is None or len(trades) == 0:
        return 0.0
    times = _utc_index(index).asi8
    entries = _utc_index(pd.DatetimeIndex(trades["entry_time"])).asi8
    exits_index = _utc_index(pd.DatetimeIndex(trades["exit_time"]))
    exits = np.where(exits_index.isna(), np.iinfo(np.int64).max, exits_index.asi8)
    order = np.argsort(times, kind="stable")
    sorted_times = times[order]
    counts = np.zeros(n + 1, dtype=np.int64)
    np.add.at(counts, np.searchsorted(sorted_times, entries, side="left"), 1)
    np.add.at(counts, np.searchsorted(sorted_times, exits, side="left"), -1)
    open_positions = np.cumsum(counts[:-1])
    return float((open_positions > 0).mean())


def _utc_index(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return utc_index(pd.DatetimeIndex(index)).as_unit("ns")


# --------------------------------------------------------------------------- summary
def performance_summary(
    equity: pd.Series,
    trades: pd.DataFrame | None,
    *,
    risk_free_rate: float = 0.0,
    periods_per_year: int = PERIODS_PER_YEAR,
    position: pd.Series | None = None,
) -> dict:
    """All statistics of one run as a JSON-safe dict (``None`` where undefined), with ``warnings``.

    >>> idx = pd.date_range("2024-01-01", periods=4, freq="D", tz="UTC")
    >>> round(performance_summary(pd.Series([100.0, 110, 99, 120], index=idx), None)["max_drawdown"], 6)
    0.1
    """
    equity = _clean_equity(equity)
    legs = trades if trades is not None else pd.DataFrame(columns=["pnl", "return_pct"])
    trades = position_results(legs)
    returns = daily_returns(equity)
    mdd = max_drawdown(equity)
    has_pct = "return_pct" in trades.columns
    summary = {
        "annualization": ANNUALIZATION_NOTE,
        "periods_per_year": periods_per_year,
        "risk_free_rate": risk_free_rate,
        "start": equity.index[0].isoformat() if len(equity) else None,
        "end": equity.index[-1].isoformat() if len(equity) else None,
        "n_bars": len(equity),
        "n_days": len(returns),
        "initial_equity": float(equity.iloc[0]) if len(equity) else None,
        "final_equity": float(equity.iloc[-1]) if len(equity) else None,
        "total_return": total_return(equity) if len(equity) else None,
        "cagr": cagr(returns, periods_per_year=periods_per_year),
        "volatility": volatility(returns, periods_per_year=periods_per_year),
        "sharpe": sharpe_ratio(returns, risk_free_rate=risk_free_rate, periods_per_year=periods_per_year),
        "sortino": sortino_ratio(returns, risk_free_rate=risk_free_rate, periods_per_year=periods_per_year),
        "calmar": calmar_ratio(returns, mdd, periods_per_year=periods_per_year),
        "max_drawdown": mdd,
        "average_drawdown": average_drawdown(equity) if len(equity) else None,
        "max_drawdown_recovery": max_drawdown_recovery(equity) if len(equity) else None,
        "n_trades": number_of_trades(trades),
        "n_legs": len(legs),
        "win_rate": win_rate(trades),
        "profit_factor": profit_factor(trades),
        "average_winner": average_winner(trades),
        "average_loser": average_loser(trades),
        "average_winner_pct": average_winner(trades, "return_pct") if has_pct else None,
        "average_loser_pct": average_loser(trades, "return_pct") if has_pct else None,
        "expectancy": expectancy(trades),
        "expectancy_pct": expectancy(trades, "return_pct") if has_pct else None,
        # a bar is exposed while some leg is open: the same bars as while some position is open
        "exposure": exposure(equity.index, legs if "entry_time" in legs.columns else None, position),
    }
    summary["warnings"] = summary_warnings(summary)
    return json_safe(summary)


def summary_warnings(summary: dict) -> list[str]:
    """Plain-language caveats about a summary (small samples, undefined ratios)."""
    warnings: list[str] = []
    n_trades = summary.get("n_trades") or 0
    if n_trades == 0:
        warnings.append("no trades: trade statistics are undefined")
    elif n_trades < MIN_RELIABLE_TRADES:
        warnings.append(f"fewer than {MIN_RELIABLE_TRADES} trades: statistics are unreliable")
    if (summary.get("n_days") or 0) < MIN_RELIABLE_DAYS:
        warnings.append(f"fewer than {MIN_RELIABLE_DAYS} daily returns: annualised ratios are unreliable")
    if summary.get("profit_factor") is None and n_trades > 0:
        warnings.append("profit factor undefined: no losing trades")
    recovery = summary.get("max_drawdown_recovery") or {}
    if recovery.get("recovered") is False:
        warnings.append("the maximum drawdown has not recovered by the end of the data")
    return warnings


def metric_values(summaries: Iterable[dict], key: str) -> list[float]:
    """The defined values of one metric across several summaries (skips ``None``)."""
    return [float(s[key]) for s in summaries if s.get(key) is not None]


# --------------------------------------------------------------------------- trades
def trade_returns(trades: pd.DataFrame, initial_equity: float | None = None) -> np.ndarray:
    """Per-trade (per-position: legs joined by :func:`positions`) returns on equity, as fractions, in exit order.

    With ``initial_equity`` each trade's ``pnl`` is divided by the equity before it
    (``initial + cumulative pnl of earlier trades``), which is what compounding assumes. Without it, the
    ``return_pct`` column is used (a fraction, 0.01 = +1%).
    """
    if trades is None or len(trades) == 0:
        return np.empty(0)
    trades = positions(trades)
    ordered = trades.sort_values("exit_time", kind="stable") if "exit_time" in trades.columns else trades
    if initial_equity is None:
        return ordered["return_pct"].astype(float).dropna().to_numpy()
    pnl = ordered["pnl"].astype(float).fillna(0.0).to_numpy()
    equity_before = initial_equity + np.concatenate([[0.0], np.cumsum(pnl)[:-1]])
    return pnl / equity_before
