"""One backtest in one line, for notebooks: nothing is written to the database.

>>> import interfaces.notebook as nb                                      # doctest: +SKIP
>>> nb.setup()                                                            # doctest: +SKIP
>>> result = nb.backtest("sma_crossover", "2022-01-01", "2023-01-01", stop_pct=0.05)  # doctest: +SKIP
>>> result.performance["sharpe"], result.equity.plot()                    # doctest: +SKIP

:func:`backtest` makes the same calls as a stored run (``backtests.services.backtest_compute``): the candles
and point-in-time fundamentals of the database (``backtests.data.market_data_load``), the engine with the
platform's default costs and risk limits (``backtests.evaluation.evaluate_window``), the performance summary.
``strategy`` is a registered name (built-in or of ``STRATEGIES_DIR``) or a ``BaseStrategy`` subclass, e.g.
one defined in the notebook itself.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

#: The settings module ``setup()`` uses when ``DJANGO_SETTINGS_MODULE`` is unset (what ``manage.py`` sets).
DEFAULT_SETTINGS = "config.settings"


def setup(settings_module: str = DEFAULT_SETTINGS) -> None:
    """Configure Django once (``DJANGO_SETTINGS_MODULE`` defaults to ``config.settings``); later calls do
    nothing. In a Jupyter kernel (which runs an event loop) Django's guard against database calls from async
    code is relaxed, as ``shell_plus --notebook`` does."""
    import django
    from django.apps import apps

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    if "ipykernel" in sys.modules:
        os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if not apps.ready:
        django.setup()


def _fmt_pct(value: Any) -> str:
    return "n/a" if value is None else f"{value:+.2%}"


def _fmt_dd(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def _fmt_num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2f}"


@dataclass
class Result:
    """A backtest's outcome: ``performance`` (the run's statistics), ``equity`` (equity per bar from the
    start), ``trades`` (one row per closed position leg), ``notes`` (data and strategy notes), and the engine's
    full result in ``raw`` (signals, orders, refusals, the equity frame)."""

    strategy: str
    parameters: dict[str, Any]
    symbols: list[str]
    timeframe: str
    start: pd.Timestamp
    end: pd.Timestamp
    performance: dict[str, Any]
    equity: pd.Series
    trades: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    raw: Any = None
    candles: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        perf = self.performance
        params = ", ".join(f"{key}={value!r}" for key, value in self.parameters.items())
        lines = [
            f"Backtest {self.strategy}({params}) on {', '.join(self.symbols)} {self.timeframe}, "
            f"{self.start:%Y-%m-%d} .. {self.end:%Y-%m-%d}",
            f"  return {_fmt_pct(perf.get('total_return'))}  CAGR {_fmt_pct(perf.get('cagr'))}  "
            f"Sharpe {_fmt_num(perf.get('sharpe'))}  max drawdown {_fmt_dd(perf.get('max_drawdown'))}",
            f"  positions {perf.get('n_trades', 0)}  win rate {_fmt_pct(perf.get('win_rate'))}  "
            f"profit factor {_fmt_num(perf.get('profit_factor'))}  final equity {_fmt_num(perf.get('final_equity'))}",
        ]
        if self.notes:
            lines.append(f"  notes: {len(self.notes)} (see .notes)")
        return "\n".join(lines)

    def plot(self, symbol: str | None = None):
        """A Plotly figure: the equity with its drawdown, or, given ``symbol``, its candles with the trades
        (``fig.show()`` in a notebook; ``fig.write_html(path)`` for a file)."""
        from analytics import charts
        from backtests.metrics import drawdown_series

        if symbol is None:
            return charts.portfolio_figure(self.equity, drawdown_series(self.equity),
                                           title=f"{self.strategy}: equity and drawdown")
        candles = self.candles.get(symbol)
        if candles is not None:
            candles = candles.loc[candles.index >= self.start]
        trades = self.trades[self.trades["symbol"] == symbol] if len(self.trades) else None
        return charts.price_trades_figure(candles, trades, title=f"{self.strategy}: {symbol} {self.timeframe}")


def backtest(
    strategy: Any,
    start: Any,
    end: Any,
    symbols: list[str] | None = None,
    timeframe: str | None = None,
    *,
    params: dict[str, Any] | None = None,
    costs: dict[str, Any] | None = None,
    **parameters: Any,
) -> Result:
    """Run ``strategy`` from ``start`` to ``end`` (dates or timestamps, UTC) on ``symbols`` (default: its
    universe) and ``timeframe`` (default: its own) with the strategy parameters given as keywords (or as the
    dict ``params``; missing ones take their defaults). ``costs`` overrides the engine's defaults
    (``initial_capital``, ``fee_rate``, ``slippage_rate``, ``latency_ms``, ``risk_limits``, ``cost_model``). ``ValueError``
    on a bad parameter, period or an empty data range. Reads the database; writes nothing."""
    setup()
    from backtests.data import market_data_load
    from backtests.evaluation import evaluate_window
    from backtests.services import engine_config
    from core.timeutil import check_period, utc_timestamp
    from marketdata.timeframes import timeframe_delta
    from strategies.registry import build_strategy, get_strategy

    cls = get_strategy(strategy) if isinstance(strategy, str) else strategy
    instance = build_strategy(cls, {**(params or {}), **parameters})
    begin, finish = utc_timestamp(start), utc_timestamp(end)
    check_period(begin, finish)
    timeframe = timeframe or cls.timeframe
    symbols = list(symbols or cls.universe)
    loaded = market_data_load(strategy=instance, symbols=symbols, timeframe=timeframe, start=begin.to_pydatetime(),
                              end=finish.to_pydatetime())
    if not loaded.market.candles:
        raise ValueError(f"no {timeframe} candles for {', '.join(symbols)} between {begin:%Y-%m-%d} and "
                         f"{finish:%Y-%m-%d}: ingest or load data first (manage.py load_sample_data)")
    window = evaluate_window(instance, loaded.market, engine_config(costs or {}, timeframe), begin, finish,
                             timeframe_delta(timeframe))
    if window.result is None:
        raise ValueError(f"no {timeframe} candles for {', '.join(symbols)} between {begin:%Y-%m-%d} and "
                         f"{finish:%Y-%m-%d}")
    equity = window.result.equity
    return Result(
        strategy=cls.name or cls.__name__, parameters=dict(instance.params), symbols=symbols, timeframe=timeframe,
        start=begin, end=finish, performance=window.performance,
        equity=equity.loc[equity.index >= begin, "equity"], trades=window.result.trades,
        notes=[*loaded.market.notes, *window.result.summary.get("notes", [])], raw=window.result,
        candles=loaded.market.candles,
    )
