"""What the charts of one stored run are drawn from: its candles, the strategy's price indicators on them, its
trade legs and an equal-weight buy-and-hold of its symbols (read from the database; the admin's run page and
the research report's holdout charts both use it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analytics import charts
from analytics.evidence import buy_and_hold_returns
from backtests.models import BacktestConfig
from marketdata.indicators import compute_indicator, wide_column
from marketdata.selectors import candles_df
from strategies.registry import build_strategy

#: Candle charts of a run: one per symbol, for at most this many symbols.
CANDLE_CHARTS = 4
TRADE_COLUMNS = ("symbol", "side", "entry_time", "entry_price", "exit_time", "exit_price", "pnl", "exit_reason")


@dataclass
class RunChartInputs:
    candles: dict[str, pd.DataFrame]
    overlays: dict[str, dict[str, pd.Series]]
    trades: pd.DataFrame
    benchmark: pd.Series | None
    notes: list[str] = field(default_factory=list)

    def legs(self, symbol: str) -> pd.DataFrame | None:
        return self.trades[self.trades["symbol"] == symbol] if len(self.trades) else None


def run_chart_inputs(config: BacktestConfig, max_symbols: int = CANDLE_CHARTS) -> RunChartInputs:
    start, end = pd.Timestamp(config.start), pd.Timestamp(config.end)
    candles = {symbol: candles_df(symbol=symbol, timeframe=config.timeframe, start=start, end=end)
               for symbol in list(config.symbols)[:max_symbols]}
    candles = {symbol: frame for symbol, frame in candles.items() if not frame.empty}
    daily = buy_and_hold_returns(candles, list(candles), start, end)
    benchmark = config.initial_capital * (1.0 + daily).cumprod() if len(daily) else None
    try:
        requested = build_strategy(config.strategy, config.parameters).required_indicators()
    except ValueError:  # a strategy no longer registered: candles and trades without its indicators
        requested = []
    overlays = {symbol: price_overlays(bars, requested) for symbol, bars in candles.items()}
    trades = pd.DataFrame(list(config.trades.values(*TRADE_COLUMNS)), columns=list(TRADE_COLUMNS))
    notes = [f"candles of the first {max_symbols} of {len(config.symbols)} symbols"] \
        if len(config.symbols) > max_symbols else []
    return RunChartInputs(candles=candles, overlays=overlays, trades=trades, benchmark=benchmark, notes=notes)


def price_overlays(bars: pd.DataFrame, requested: list[tuple[str, dict]]) -> dict[str, pd.Series]:
    """The strategy's indicators that are in price units, computed on ``bars`` (named like ``sma_20``)."""
    overlays: dict[str, pd.Series] = {}
    for name, params in requested:
        if name not in charts.PRICE_INDICATORS:
            continue
        computed = compute_indicator(name, bars, **params)
        for column in computed.columns:
            if column not in ("percent_b", "width"):  # the price-unit outputs only
                overlays[wide_column(name, params, column if len(computed.columns) > 1 else "value")] = computed[column]
    return overlays
