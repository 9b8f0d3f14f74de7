"""Run a backtest: lay candles and signals on a regular time grid, walk it with the numba kernel.

>>> from backtests.engine import EngineConfig, MarketData, RiskLimits, run_backtest
>>> from strategies.examples import SmaCrossover
>>> result = run_backtest(SmaCrossover(), MarketData(candles={"BTC": candles}), EngineConfig())  # doctest: +SKIP
>>> result.summary["final_equity"], len(result.trades)  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import pandas as pd

from core.jsonsafe import json_safe
from core.timeutil import utc_index
from strategies.base import STOP_UPDATE_RULES, BaseStrategy, MarketData

from . import kernel as nb
from .config import EngineConfig
from .intrabar import DetailLayout, detail_layout
from .liquidity import impact_scale, last_bar_quote_volume, quote_volume


class SignalSource(Protocol):
    """What the engine reads from a strategy: a name, its parameters and its signals (a wrapper such as
    ``backtests.evaluation.StartGate`` provides them by delegation)."""

    name: str
    params: dict[str, Any]

    def generate_signals(self, data: MarketData) -> dict[str, pd.DataFrame]: ...


EXECUTION_RULES = (
    "Signals are formed on the close of bar t and filled at the first price available after "
    "close + latency: with latency < bar length that is the open of bar t+1; in general it is the open of "
    "the bar containing close + latency (t + 1 + latency // bar_length). Market fills pay slippage against "
    "the trader (buy at price*(1+slippage), sell at price*(1-slippage)) and a fee of fee_rate * fill value per "
    "side. Stops and take-profits are checked against each later bar's range (and the fill bar's own range) "
    "and fill at their level, or at the open when the bar gaps through it, also with slippage; when one bar "
    "reaches both, the stop is assumed to come first, unless complete finer candles of that bar are given: "
    "then they are walked in order and the first level reached fills. With a maker fee rate, take-profits "
    "are limit orders (maker fee, no slippage). Under the volume-share model slippage grows as "
    "volume_impact * sigma * sqrt(fill value / the last completed bar's quote volume), sigma of the last "
    "volatility_window bar returns, and a fill takes at most "
    "max_volume_share of that volume (the rest of an exit fills at the next opens). Open positions pay their "
    "side's carry rate per hour on their value at each close, charged in the trade's P&L. A repeated "
    "signal's stop moves an open position's stop only as the strategy's stop_updates rule allows "
    "('tighten': towards less risk). A symbol's missing bars get no fills: an entry whose "
    "fill bar is missing for its symbol expires (refusal 'gap_expired'); an exit order waits for the "
    "symbol's next existing bar. Risk checks (size limits, cash, portfolio heat, correlation, circuit breaker) "
    "run at the fill, with the fill price and data up to the previous close. The circuit breaker is evaluated "
    "on closing equity; when it trips, every position is closed by market orders at the next fill bar and "
    "entries are refused until the cool-down ends (or for good)."
)


@dataclass
class BacktestResult:
    """What a run produced. ``summary`` is JSON-safe; frames have UTC timestamps."""

    trades: pd.DataFrame
    equity: pd.DataFrame
    summary: dict
    signals: dict[str, pd.DataFrame] = field(default_factory=dict)
    orders: pd.DataFrame = field(default_factory=pd.DataFrame)
    refusals: pd.DataFrame = field(default_factory=pd.DataFrame)


def _utc_nanoseconds(index: pd.Index, symbol: str) -> np.ndarray:
    """The index as int64 UTC nanoseconds; naive timestamps are taken as UTC."""
    if not isinstance(index, pd.DatetimeIndex):
        raise ValueError(f"candles of {symbol} need a DatetimeIndex, got {type(index).__name__}")
    return utc_index(index).as_unit("ns").asi8


def _bar_ns(steps: dict[str, np.ndarray], config: EngineConfig) -> int:
    if config.bar_length is not None:
        return int(pd.Timedelta(config.bar_length).value)
    smallest = [int(step.min()) for step in steps.values() if len(step)]
    if not smallest:
        raise ValueError("cannot infer the bar length from single-bar candles; set EngineConfig.bar_length")
    return min(smallest)


def _grid_rows(indexes: dict[str, np.ndarray], steps: dict[str, np.ndarray],
               bar_ns: int) -> tuple[int, int, dict[str, np.ndarray | slice]]:
    """Grid start (ns), grid length and each symbol's rows on the grid (a slice when it fills the grid)."""
    start = min(int(ts[0]) for ts in indexes.values())
    end = max(int(ts[-1]) for ts in indexes.values())
    n = (end - start) // bar_ns + 1
    rows: dict[str, np.ndarray | slice] = {}
    for symbol, ts in indexes.items():
        if len(ts) == n and int(ts[0]) == start and bool(np.all(steps[symbol] == bar_ns)):
            rows[symbol] = slice(None)
            continue
        offset = ts - start
        if np.any(offset % bar_ns):
            raise ValueError(f"candles of {symbol} are not on a {pd.Timedelta(bar_ns)} grid")
        rows[symbol] = offset // bar_ns
    return start, n, rows


def _dense(columns: list[np.ndarray], rows: list, n: int, fill, dtype) -> np.ndarray:
    """(bars x symbols) array of the symbols' columns on the grid; ``fill`` where a symbol has no bar."""
    if len(columns) == 1 and isinstance(rows[0], slice):
        return np.array(columns[0], dtype=dtype).reshape(n, 1)
    out = np.full((n, len(columns)), fill, dtype=dtype)
    for j, (values, where) in enumerate(zip(columns, rows, strict=True)):
        out[where, j] = values
    return out


def _signal_column(frame: pd.DataFrame, column: str, default, dtype) -> np.ndarray:
    if column not in frame:
        return np.full(len(frame), default, dtype=dtype)
    values = frame[column].to_numpy()
    if dtype is bool and values.dtype == np.bool_:
        return values
    if dtype is bool:
        return np.asarray(pd.Series(values).fillna(False).astype(bool).to_numpy())
    if dtype is np.int8:
        if values.dtype.kind in "iu":
            return np.sign(values).astype(np.int8)
        values = values.astype(np.float64)
        return np.where(np.isnan(values), default, np.sign(values)).astype(np.int8)
    return np.asarray(values, dtype=np.float64)  # _dense copies it


def _params_vector(config: EngineConfig, lag: int, bar_ns: int, detail: bool) -> np.ndarray:
    risk = config.risk
    params = np.zeros(nb.N_PARAMS)
    params[nb.P_CAPITAL] = config.initial_capital
    params[nb.P_FEE] = config.fee_rate
    params[nb.P_SLIP] = config.slippage_rate
    params[nb.P_LAG] = lag
    params[nb.P_SIZING] = nb.SIZING_RISK if config.sizing == "risk" else nb.SIZING_FIXED
    params[nb.P_FRACTION] = config.fixed_fraction
    params[nb.P_ALLOW_SHORT] = float(config.allow_short)
    params[nb.P_CLOSE_AT_END] = float(config.close_at_end)
    params[nb.P_MIN_POS] = risk.min_position_pct
    params[nb.P_MAX_POS] = risk.max_position_pct
    params[nb.P_RISK] = risk.risk_per_trade_pct
    params[nb.P_MAX_HEAT] = risk.max_portfolio_heat_pct
    params[nb.P_MAX_DD] = risk.max_drawdown_pct
    params[nb.P_COOLDOWN] = -1 if risk.drawdown_cooldown_bars is None else risk.drawdown_cooldown_bars
    params[nb.P_CORR_LIMIT] = risk.correlation_limit
    params[nb.P_CORR_WINDOW] = risk.correlation_window
    costs = config.costs
    params[nb.P_MAKER_FEE] = np.nan if costs.maker_fee_rate is None else costs.maker_fee_rate
    params[nb.P_SLIP_MODEL] = nb.SLIP_VOLUME if costs.slippage_model == "volume_share" else nb.SLIP_FIXED
    params[nb.P_MAX_SHARE] = costs.max_volume_share
    hours_per_bar = bar_ns / 3_600e9
    params[nb.P_LONG_CARRY] = costs.long_carry_rate_per_hour * hours_per_bar
    params[nb.P_SHORT_CARRY] = costs.short_carry_rate_per_hour * hours_per_bar
    params[nb.P_STOP_RULE] = STOP_UPDATE_RULES.index(config.stop_updates)
    params[nb.P_DETAIL] = float(detail)
    return params


def run_signals(
    candles: dict[str, pd.DataFrame],
    signals: dict[str, pd.DataFrame],
    config: EngineConfig,
    *,
    notes: list[str] | None = None,
    detail: dict[str, pd.DataFrame] | None = None,
) -> BacktestResult:
    """Simulate precomputed signals (see ``strategy`` for the columns) on candles of one or many symbols.

    Only symbols present in both ``candles`` and ``signals`` are traded. Each signal frame must be indexed
    like its symbol's candles. Candles need columns open, high, low, close (and volume, or quote_volume,
    for the volume-share slippage model). ``detail``: finer candles per symbol (open, high, low) that order
    a stop and a target reached in one bar (``backtests.engine.intrabar``).
    """
    symbols = [s for s in candles if s in signals and len(candles[s])]
    if not symbols:
        raise ValueError("no symbol has both candles and signals")
    indexes, steps = {}, {}
    for symbol in symbols:
        if not signals[symbol].index.equals(candles[symbol].index):
            raise ValueError(f"signals of {symbol} must be indexed exactly like its candles")
        indexes[symbol] = _utc_nanoseconds(candles[symbol].index, symbol)
        steps[symbol] = np.diff(indexes[symbol])
        if np.any(steps[symbol] <= 0):
            raise ValueError(f"candles of {symbol} must have a strictly increasing index")
    bar_ns = _bar_ns(steps, config)
    start, n, grid_rows = _grid_rows(indexes, steps, bar_ns)
    m = len(symbols)
    lag = 1 + int(config.latency_ms) * 1_000_000 // bar_ns
    rows = [grid_rows[symbol] for symbol in symbols]

    def dense_candles(col: str) -> np.ndarray:
        return _dense([candles[s][col].to_numpy(dtype=np.float64) for s in symbols], rows, n, np.nan, np.float64)

    def dense_signals(col: str, default, dtype) -> np.ndarray:
        values = [_signal_column(signals[s], col, default, dtype) for s in symbols]
        return _dense(values, rows, n, default, np.bool_ if dtype is bool else dtype)

    prices = {col: dense_candles(col) for col in ("open", "high", "low", "close")}
    bools = {col: dense_signals(col, False, bool) for col in ("entry", "exit", "scale_in")}
    floats = {col: dense_signals(col, np.nan, np.float64) for col in ("stop", "take_profit", "take_profit_fraction")}
    direction = dense_signals("direction", 1, np.int8)
    close = prices["close"]
    derived_bars = 0
    if config.costs.slippage_model == "volume_share":
        volumes = []
        for symbol in symbols:
            values, derived = quote_volume(candles[symbol])
            volumes.append(values)
            derived_bars += derived
        liquidity = np.stack([last_bar_quote_volume(_dense(volumes, rows, n, np.nan, np.float64)),
                              impact_scale(close, config.costs.volume_impact, config.costs.volatility_window)])
    else:  # read by the volume-share model only
        liquidity = np.full((2, 1, m), np.nan)
    layout = detail_layout(detail, symbols, start, n, bar_ns)
    if m > 1 and math.isfinite(config.risk.correlation_limit):
        returns = np.full((n, m), np.nan)
        returns[1:] = close[1:] / close[:-1] - 1.0
    else:  # the kernel reads returns only for the correlation check
        returns = np.full((1, m), np.nan)

    signal_count = int(bools["entry"].sum() + bools["scale_in"].sum())
    tp_count = int(np.count_nonzero(~np.isnan(floats["take_profit"])))
    trade_cap = 2 * signal_count + tp_count + m + 16
    trades = np.zeros((trade_cap, len(nb.TRADE_FIELDS)))
    fills = np.zeros((trade_cap + signal_count + 16, len(nb.FILL_FIELDS)))
    refusals = np.zeros((signal_count + 16, 3))
    equity = np.zeros((len(nb.EQUITY_FIELDS), n))  # one row per field: columns without a transpose
    breaker_bars = np.zeros(n + 1, dtype=np.int64)
    counts = np.zeros(nb.N_COUNTS, dtype=np.int64)
    nb.simulate(prices["open"], prices["high"], prices["low"], close, returns, liquidity, bools["entry"],
                bools["exit"], bools["scale_in"], direction, floats["stop"], floats["take_profit"],
                floats["take_profit_fraction"], layout.open, layout.high, layout.low, layout.start, layout.end,
                _params_vector(config, lag, bar_ns, layout.bars_covered > 0), trades, fills, refusals, equity,
                breaker_bars, counts)

    times = pd.DatetimeIndex(start + np.arange(n, dtype=np.int64) * bar_ns, tz="UTC")
    names = np.array(symbols, dtype=object)
    trades_df = _trades_frame(trades[: counts[nb.C_TRADES]], times, names)
    orders_df = _orders_frame(fills[: counts[nb.C_FILLS]], times, names)
    refusals_df = _refusals_frame(refusals[: counts[nb.C_REFUSALS]], times, names)
    equity_df = pd.DataFrame(equity[:5].T, index=times, columns=list(nb.EQUITY_FIELDS[:5]), copy=False)
    equity_df["open_positions"] = equity[5].astype(np.int64)
    equity_df["circuit_breaker"] = equity[6].astype(bool)
    equity_df.index.name = "timestamp"
    breaker_times = times[breaker_bars[: counts[nb.C_BREAKER_EVENTS]]]
    summary = _summary(config, symbols, trades[: counts[nb.C_TRADES]], equity_df, refusals[: counts[nb.C_REFUSALS]],
                       breaker_times, lag, bar_ns, list(notes or []))
    summary["execution"] = _execution_summary(config, counts, layout, derived_bars)
    return BacktestResult(trades=trades_df, equity=equity_df, summary=summary, signals=dict(signals),
                          orders=orders_df, refusals=refusals_df)


def run_backtest(strategy: BaseStrategy | SignalSource, data: MarketData, config: EngineConfig) -> BacktestResult:
    """Generate the strategy's signals from ``data`` and simulate them under ``config``."""
    signals = strategy.generate_signals(data)
    missing = [s for s in signals if s not in data.candles]
    if missing:
        raise ValueError(f"{strategy.name}: signals for symbols without candles: {missing}")
    rule = getattr(strategy, "stop_updates", config.stop_updates)
    if rule != config.stop_updates:
        config = replace(config, stop_updates=rule)
    result = run_signals(data.candles, signals, config, notes=data.notes, detail=data.detail)
    result.summary["strategy"] = strategy.name
    result.summary["parameters"] = dict(strategy.params)
    return result


def _trades_frame(rows: np.ndarray, times: pd.DatetimeIndex, names: np.ndarray) -> pd.DataFrame:
    reasons = np.array(nb.FILL_KINDS, dtype=object)
    frame = pd.DataFrame({
        "symbol": names[rows[:, 0].astype(np.int64)],
        "side": np.where(rows[:, 1] > 0, "long", "short"),
        "entry_time": times[rows[:, 2].astype(np.int64)],
        "entry_price": rows[:, 3],
        "exit_time": times[rows[:, 4].astype(np.int64)],
        "exit_price": rows[:, 5],
        "quantity": rows[:, 6],
        "fees": rows[:, 7],
        "slippage_cost": rows[:, 8],
        "pnl": rows[:, 9],
        "return_pct": rows[:, 10],
        "exit_reason": reasons[rows[:, 11].astype(np.int64)],
        "is_partial": rows[:, 12].astype(bool),
        "carry": rows[:, 13],
    })
    return frame


def _orders_frame(rows: np.ndarray, times: pd.DatetimeIndex, names: np.ndarray) -> pd.DataFrame:
    kinds = np.array(nb.FILL_KINDS, dtype=object)
    return pd.DataFrame({
        "time": times[rows[:, 0].astype(np.int64)],
        "symbol": names[rows[:, 1].astype(np.int64)],
        "side": np.where(rows[:, 2] > 0, "buy", "sell"),
        "quantity": rows[:, 3],
        "price": rows[:, 4],
        "fee": rows[:, 5],
        "slippage_cost": rows[:, 6],
        "kind": kinds[rows[:, 7].astype(np.int64)],
    })


def _refusals_frame(rows: np.ndarray, times: pd.DatetimeIndex, names: np.ndarray) -> pd.DataFrame:
    reasons = np.array(nb.REFUSAL_REASONS, dtype=object)
    return pd.DataFrame({
        "time": times[rows[:, 0].astype(np.int64)],
        "symbol": names[rows[:, 1].astype(np.int64)],
        "reason": reasons[rows[:, 2].astype(np.int64)],
    })


def _summary(config: EngineConfig, symbols: list[str], trade_rows: np.ndarray, equity: pd.DataFrame,
             refusal_rows: np.ndarray, breaker_times: pd.DatetimeIndex, lag: int, bar_ns: int,
             notes: list[str]) -> dict:
    """The run's summary, from the kernel's trade and refusal rows (arrays: every optimiser trial builds one)."""
    final_equity = float(equity["equity"].iloc[-1])

    def total(field: str) -> float:  # contiguous, as the frame's column: the same pairwise sum
        return float(np.ascontiguousarray(trade_rows[:, nb.TRADE_FIELDS.index(field)]).sum())

    refused = np.bincount(refusal_rows[:, 2].astype(np.int64), minlength=len(nb.REFUSAL_REASONS))
    by_reason = {reason: int(refused[k]) for k, reason in enumerate(nb.REFUSAL_REASONS)}
    exit_counts = collections.Counter(trade_rows[:, nb.TRADE_FIELDS.index("exit_reason")].astype(np.int64).tolist())
    realized = total("pnl")
    return {
        "symbols": list(symbols),
        "start": equity.index[0].isoformat(),
        "end": equity.index[-1].isoformat(),
        "bars": len(equity),
        "bar_length": str(pd.Timedelta(bar_ns)),
        "fill_lag_bars": lag,
        "initial_capital": float(config.initial_capital),
        "final_equity": final_equity,
        "total_return": final_equity / config.initial_capital - 1.0,
        "max_drawdown": json_safe(equity["drawdown"].max()),
        "num_trades": len(trade_rows),
        "num_round_trips": int((trade_rows[:, nb.TRADE_FIELDS.index("is_partial")] == 0).sum()),
        "realized_pnl": realized,
        "unrealized_pnl": final_equity - config.initial_capital - realized,
        "fees_total": total("fees"),
        "slippage_total": total("slippage_cost"),
        "carry_total": total("carry"),
        "exit_reasons": {nb.FILL_KINDS[code]: count for code, count in exit_counts.most_common()},
        "refusals": by_reason,
        "refusals_total": int(sum(by_reason.values())),
        "circuit_breaker_events": len(breaker_times),
        "circuit_breaker_times": [t.isoformat() for t in breaker_times],
        "max_portfolio_heat": json_safe(equity["portfolio_heat"].max()),
        "notes": notes,
        "execution_rules": EXECUTION_RULES,
        "config": config.to_dict(),
    }


def _execution_summary(config: EngineConfig, counts: np.ndarray, layout: DetailLayout, derived_bars: int) -> dict:
    """Which cost and fill rules this run used, and how often the non-default ones acted."""
    costs = config.costs
    return {
        "fees": ("maker/taker: take-profits are limit orders at the maker rate" if costs.maker_fee_rate is not None
                 else "one rate for every fill"),
        "slippage_model": costs.slippage_model,
        "quote_volume_derived_bars": derived_bars,
        "exits_cut_by_volume_cap": int(counts[nb.C_EXITS_CAPPED]),
        "carry_per_hour": {"long": costs.long_carry_rate_per_hour, "short": costs.short_carry_rate_per_hour},
        "stop_updates": config.stop_updates,
        "stop_moves_refused": int(counts[nb.C_STOP_MOVES_REFUSED]),
        "intrabar": {
            "detail_timeframe": layout.timeframe,
            "bars_with_detail": layout.bars_covered,
            "bars_reaching_stop_and_target": int(counts[nb.C_BOTH_HIT]),
            "resolved_stop_first": int(counts[nb.C_DETAIL_STOP_FIRST]),
            "resolved_target_first": int(counts[nb.C_DETAIL_TARGET_FIRST]),
            "coarse_rule": int(counts[nb.C_DETAIL_NONE]),
        },
    }
