"""One backtest of several strategies under one risk manager (pure: engine + metrics, no Django).

Each strategy alone is evaluated by ``backtests.evaluation.evaluate_window``; the engine's risk limits
(position size, portfolio heat, correlation, circuit breaker) then act only across the symbols of that one
strategy. :func:`portfolio_backtest` puts the signals of several strategies into ONE engine run on a
common time grid (the finest timeframe, e.g. 1h), so that the heat cap, the breaker and the correlation
limit act across strategies, as they would on one account.

How each member's signals reach the grid
----------------------------------------
* The member's market is cut like ``evaluate_window`` cuts it: ``[start - warmup_bars * bar, end)`` with
  ``start`` the later of the member's own start and the portfolio's, candles kept only for symbols with a
  bar in ``[start, end)``; its own ``generate_signals`` runs on it behind ``StartGate`` (no entries before
  that start).
* A signal on the member bar opening at ``t`` is decided at that bar's close ``t + bar``. It is placed on
  the grid bar whose close is ``t + bar`` (the grid bar opening at ``t + bar - grid``), so it fills at the
  next grid bar's open, ``t + bar``: the moment it fills in the member's own run, never earlier (no
  look-ahead) and never later. A member on the grid's timeframe keeps its signals where they are.
* When the symbol's grid candles lack that bar, the signal goes to the symbol's next grid bar, provided
  it opens before the member's next decision (``t + 2 * bar - grid``); otherwise it is dropped. Both are
  counted in ``notes``. Signals decided before the portfolio's start are dropped (warm-up).
* Elsewhere the grid rows carry no signal: boolean columns False, ``direction`` +1, the other columns
  (``stop``, ``take_profit``, ``take_profit_fraction``...) NaN. The kernel reads ``stop`` and
  ``take_profit`` at an entry row as the initial levels and, while a position is open, a non-NaN value as
  a new level from the next bar on (NaN: unchanged), so NaN rows between the member's bars change nothing;
  ``take_profit_fraction`` NaN is read as 1.0 and is only read with an entry or a new target;
  ``direction`` is only read at entry rows.
* Stops and targets are then checked on every grid bar (finer than the member's own bars): the same
  levels, but a bar that gaps through a level fills at the grid bar's open.

Symbols may not overlap between members (one account holds one position per symbol); regime-only symbols
(``MarketData.regime``) are read, not traded, so they may be shared. Symbols are laid out member by member
in the order given, which is the order the kernel processes same-bar entries in (a later member's entry is
the one the heat cap refuses when two arrive on the same bar).

The grid starts at ``start``: earlier grid candles are cut, so the correlation check has no returns from
before ``start`` (it is skipped until half a ``correlation_window`` of returns exists).

Strategies with a ``yield_accrual`` hook (stable LP) get ``backtests.evaluation.yield_contribution`` apart
per member, on their own bars, with the exposure of their own symbols in the portfolio (not in equity).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from backtests.engine import EngineConfig, run_signals
from backtests.engine.run import BacktestResult
from backtests.evaluation import StartGate, slice_market, yield_contribution
from backtests.metrics import performance_summary, positions, win_rate
from core.jsonsafe import json_safe
from core.timeutil import utc_index, utc_timestamp
from strategies.base import BaseStrategy, MarketData

#: Signal columns whose non-empty value matters to the kernel (for the moved / dropped counts).
_BOOL_SIGNALS = ("entry", "exit", "scale_in")
_LEVEL_SIGNALS = ("stop", "take_profit")


@dataclass
class PortfolioMember:
    """One strategy of the portfolio: built with its parameters, with its data at its own timeframe."""

    name: str
    strategy: BaseStrategy
    market: MarketData  # candles incl. warm-up before ``start``, onchain, sentiment, regime...
    bar: pd.Timedelta  # the bar length of its timeframe (e.g. 4h)
    start: pd.Timestamp  # it may open positions from here on; earlier bars are warm-up only


@dataclass
class PortfolioResult:
    """The combined run. ``result`` is the engine's (``None`` when no member had data in the window);
    ``equity`` the equity from ``start``; :meth:`to_dict` is the JSON-safe report without the frames."""

    start: pd.Timestamp
    end: pd.Timestamp
    result: BacktestResult | None
    equity: pd.Series
    performance: dict
    members: dict[str, dict]
    circuit_breaker_events: dict
    refusals: dict[str, int]
    max_portfolio_heat: float | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return json_safe({
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "performance": self.performance,
            "members": self.members,
            "circuit_breaker_events": self.circuit_breaker_events,
            "refusals": self.refusals,
            "max_portfolio_heat": self.max_portfolio_heat,
            "notes": list(self.notes),
            "summary": self.result.summary if self.result is not None else None,
        })


def grid_signals(frame: pd.DataFrame, bar: pd.Timedelta, grid_index: pd.DatetimeIndex, grid_bar: pd.Timedelta,
                 start: pd.Timestamp | None = None) -> tuple[pd.DataFrame, int, int]:
    """A member's signal frame (on its own bars of length ``bar``) laid on one symbol's grid candles.

    Returns the frame indexed like ``grid_index`` and how many signal rows were moved to a later grid bar
    or dropped because the grid lacks the bar they belong on (see the module docstring). Rows decided
    before ``start`` are dropped without being counted.
    """
    original_grid = grid_index
    member_index = utc_index(pd.DatetimeIndex(frame.index)).as_unit("ns")
    grid_index = utc_index(pd.DatetimeIndex(grid_index)).as_unit("ns")
    decided = member_index + (bar - grid_bar)  # the grid bar opening here closes with the member bar
    # a row may wait for a missing grid bar up to the member's next decision, never past it (so no two rows
    # share a grid bar)
    limit = (decided + bar).asi8.copy()
    limit[:-1] = np.minimum(limit[:-1], decided.asi8[1:])
    pos = grid_index.searchsorted(decided, side="left")
    in_window = (np.ones(len(decided), dtype=bool) if start is None
                 else np.asarray(decided >= utc_timestamp(start)))
    found = pos < len(grid_index)
    target = np.full(len(decided), np.iinfo(np.int64).max, dtype=np.int64)
    target[found] = grid_index.asi8[pos[found]]
    placed = in_window & found & (target < limit)
    exact = placed & (target == decided.asi8)
    meaningful = np.zeros(len(frame), dtype=bool)
    for column in _BOOL_SIGNALS:
        if column in frame:
            meaningful |= _truthy(frame[column])
    for column in _LEVEL_SIGNALS:
        if column in frame:
            meaningful |= frame[column].notna().to_numpy()
    moved = int((meaningful & placed & ~exact).sum())
    dropped = int((meaningful & in_window & ~placed).sum())
    rows = frame.iloc[np.flatnonzero(placed)]
    at = grid_index[pos[placed]]
    columns = {}
    for column in frame.columns:
        values = pd.Series(rows[column].to_numpy(), index=at)
        if column == "direction":
            fill: Any = 1
        elif values.dtype == np.bool_ or column in _BOOL_SIGNALS:
            fill = False
        else:
            fill = np.nan
        columns[column] = values.reindex(grid_index, fill_value=fill)
    out = pd.DataFrame(columns, index=grid_index).set_axis(original_grid)
    return out, moved, dropped


def _truthy(values: pd.Series) -> np.ndarray:
    """A signal column as booleans, NaN read as False (as the engine reads it)."""
    array = values.to_numpy()
    if array.dtype == np.bool_:
        return array
    return np.asarray(pd.notna(array) & (array != 0), dtype=bool)


def _member_stats(member: PortfolioMember, symbols: list[str], result: BacktestResult | None) -> dict:
    stats: dict[str, Any] = {"symbols": list(symbols), "timeframe": str(member.bar),
                             "start": utc_timestamp(member.start).isoformat(), "n_trades": 0, "n_legs": 0,
                             "pnl": 0.0, "win_rate": None, "refusals": {}, "yield": None}
    if result is None or not symbols:
        return stats
    legs = result.trades.loc[result.trades["symbol"].isin(symbols)]
    joined = positions(legs)
    refused = result.refusals.loc[result.refusals["symbol"].isin(symbols), "reason"].value_counts()
    stats.update({
        "n_trades": len(joined),
        "n_legs": len(legs),
        "pnl": float(legs["pnl"].sum()),
        "win_rate": win_rate(joined),
        "refusals": {str(reason): int(count) for reason, count in refused.items() if count},
    })
    return stats


def _symbol_exposure(result: BacktestResult, candles: Mapping[str, pd.DataFrame], symbols: list[str]) -> pd.Series:
    """The value of the positions in ``symbols`` over equity at each grid close (the engine's exposure,
    restricted to those symbols), rebuilt from the fills."""
    index = result.equity.index
    orders = result.orders.loc[result.orders["symbol"].isin(symbols)]
    gross = pd.Series(0.0, index=index)
    for symbol in symbols:
        fills = orders.loc[orders["symbol"] == symbol]
        if fills.empty:
            continue
        signed = np.where(fills["side"] == "buy", 1.0, -1.0) * fills["quantity"].to_numpy(dtype=float)
        change = pd.Series(signed, index=pd.DatetimeIndex(fills["time"])).groupby(level=0).sum()
        held = change.reindex(index, fill_value=0.0).cumsum()
        held = held.where(held.abs() > 1e-9 * float(np.abs(signed).max()), 0.0)
        price = candles[symbol]["close"].reindex(index).ffill()
        gross = gross.add((held.abs() * price).fillna(0.0), fill_value=0.0)
    equity = result.equity["equity"]
    return (gross / equity).where(equity > 0, 0.0)


def _member_yield(member: PortfolioMember, window: MarketData, signals: dict[str, pd.DataFrame],
                  result: BacktestResult, candles: Mapping[str, pd.DataFrame], symbols: list[str],
                  start: pd.Timestamp, grid_bar: pd.Timedelta) -> dict | None:
    """``yield_contribution`` of one member on its own bars: the exposure held at each member bar's close
    (the grid close at the same moment) times the strategy's per-bar yield rate."""
    if not signals or member.strategy.yield_accrual(window, signals) is None:
        return None
    exposure = _symbol_exposure(result, candles, symbols)
    first = min(frame.index[0] for frame in signals.values())
    last = max(frame.index[-1] for frame in signals.values())
    bars = pd.date_range(first, last, freq=member.bar)  # the member's own engine grid
    at_close = exposure.reindex(bars + (member.bar - grid_bar), method="ffill").fillna(0.0)
    own = SimpleNamespace(signals=signals, equity=pd.DataFrame({"exposure": at_close.to_numpy()}, index=bars))
    return yield_contribution(member.strategy, window, own, start)


def portfolio_backtest(members: Sequence[PortfolioMember], grid_candles: Mapping[str, pd.DataFrame],
                       config: EngineConfig, start: pd.Timestamp, end: pd.Timestamp) -> PortfolioResult:
    """Run ``members`` together in one engine run on ``grid_candles`` over ``[start, end)``.

    ``grid_candles``: candles of every member's traded symbols at the common (finest) grid, covering
    ``[start, end)`` (earlier bars are cut); ``config.bar_length`` is the grid's bar (inferred from the
    candles when ``None``). Statistics are computed on the equity from ``start``. ``ValueError`` for no or
    duplicate members, a member finer than the grid, or a symbol traded by two members.
    """
    if not members:
        raise ValueError("a portfolio needs at least one member")
    names = [member.name for member in members]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"member names must be unique, repeated: {duplicated}")
    start, end = utc_timestamp(start), utc_timestamp(end)
    if start >= end:
        raise ValueError(f"start ({start}) must be before end ({end})")

    grid: dict[str, pd.DataFrame] = {}
    for symbol, frame in grid_candles.items():
        index = utc_index(pd.DatetimeIndex(frame.index)).as_unit("ns")
        inside = np.asarray((index >= start) & (index < end))
        if inside.any():
            grid[symbol] = frame.loc[inside].set_axis(index[inside])
    grid_bar = _grid_bar(grid, config, members)

    notes: list[str] = []
    owner: dict[str, str] = {}
    grid_frames: dict[str, pd.DataFrame] = {}
    prepared: list[tuple[PortfolioMember, MarketData | None, dict[str, pd.DataFrame], list[str]]] = []
    for member in members:
        bar = pd.Timedelta(member.bar)
        if bar < grid_bar:
            raise ValueError(f"member {member.name}: its bar {bar} is finer than the grid's {grid_bar}")
        member = replace(member, bar=bar)
        begin = max(utc_timestamp(member.start), start)
        window = slice_market(member.market, begin - bar * int(member.strategy.warmup_bars), end)
        tradable = {s: f for s, f in window.candles.items() if (f.index >= begin).any()}
        if not tradable:
            notes.append(f"{member.name}: no candles in the window, not traded")
            prepared.append((member, None, {}, []))
            continue
        window = replace(window, candles=tradable)
        signals = StartGate(member.strategy, begin).generate_signals(window)
        missing = [s for s in signals if s not in window.candles]
        if missing:
            raise ValueError(f"{member.name}: signals for symbols without candles: {missing}")
        notes.extend(f"{member.name}: {note}" for note in window.notes)
        traded: list[str] = []
        for symbol, frame in signals.items():
            if symbol in owner:
                raise ValueError(f"symbol {symbol} is traded by two members: {owner[symbol]} and {member.name}")
            owner[symbol] = member.name
            if symbol not in grid:
                notes.append(f"{member.name}: {symbol} has no grid candles in the window, not traded")
                continue
            on_grid, moved, dropped = grid_signals(frame, bar, grid[symbol].index, grid_bar, start)
            if moved:
                notes.append(f"{member.name}: {symbol}: {moved} signal bar(s) moved to a later grid bar "
                             "(the grid bar closing with them is missing)")
            if dropped:
                notes.append(f"{member.name}: {symbol}: {dropped} signal bar(s) dropped (no grid bar before "
                             "the next member bar)")
            grid_frames[symbol] = on_grid
            traded.append(symbol)
        if not signals:
            notes.append(f"{member.name}: no signals")
        prepared.append((member, window, signals, traded))

    if not grid_frames:
        notes.append("no member has candles in the window: nothing was run")
        return PortfolioResult(
            start=start, end=end, result=None, equity=pd.Series(dtype=float), performance={},
            members={m.name: _member_stats(m, [], None) for m, *_ in prepared},
            circuit_breaker_events={"count": 0, "times": []}, refusals={}, max_portfolio_heat=None,
            notes=notes)

    candles = {symbol: grid[symbol] for symbol in grid_frames}
    detail = {symbol: frame for member, *_ in prepared for symbol, frame in member.market.detail.items()
              if symbol in grid_frames}  # finer than the grid or ignored by the engine
    result = run_signals(candles, grid_frames, config, notes=notes, detail=detail)
    result.summary["strategy"] = "portfolio"
    result.summary["parameters"] = {member.name: dict(member.strategy.params) for member in members}
    equity_frame = result.equity.loc[result.equity.index >= start]
    performance = performance_summary(equity_frame["equity"], result.trades,
                                      position=equity_frame["exposure"] > 0)
    stats: dict[str, dict] = {}
    for member, member_window, signals, traded in prepared:
        stats[member.name] = _member_stats(member, traded, result)
        if member_window is not None and traded:
            begin = max(utc_timestamp(member.start), start)
            stats[member.name]["yield"] = _member_yield(member, member_window, signals, result, candles, traded, begin,
                                                        grid_bar)
    refusals = {reason: count for reason, count in result.summary["refusals"].items() if count}
    breaker = {"count": int(result.summary["circuit_breaker_events"]),
               "times": list(result.summary["circuit_breaker_times"])}
    heat = json_safe(equity_frame["portfolio_heat"].max()) if len(equity_frame) else None
    return PortfolioResult(start=start, end=end, result=result, equity=equity_frame["equity"],
                           performance=performance, members=stats, circuit_breaker_events=breaker,
                           refusals=refusals, max_portfolio_heat=heat, notes=notes)


def _grid_bar(grid: Mapping[str, pd.DataFrame], config: EngineConfig,
              members: Sequence[PortfolioMember]) -> pd.Timedelta:
    if config.bar_length is not None:
        return pd.Timedelta(config.bar_length)
    steps = [frame.index.to_series().diff().min() for frame in grid.values() if len(frame) > 1]
    if not grid:  # nothing will be laid on the grid: any bar no coarser than the members' will do
        return min(pd.Timedelta(member.bar) for member in members)
    if not steps:
        raise ValueError("cannot infer the grid's bar length from the candles; set EngineConfig.bar_length")
    return pd.Timedelta(min(steps))
