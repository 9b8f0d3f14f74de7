"""Lending protocol value: buy AAVE/COMP/MKR when they are cheap for the fees they earn, once the trend turns.

Thesis
    Lending protocols earn real fees (interest spread, liquidations, stability fees). When the
    market values a protocol at a low multiple of those fees its token is cheap; buying only once the
    trend turns up avoids catching the falling knife.

Timeframe and universe
    1d candles of AAVE, COMP, MKR. A symbol without candles is skipped with a note.

Value condition (per bar)
    * **fee mode** (needs on-chain ``market_cap`` plus ``revenue``, or ``fees`` when revenue is absent):
      annualised fee yield = 30-day mean daily revenue x 365 / circulating market cap (the inverse of a
      price-to-earnings multiple). Protocols differ in level (MakerDAO's revenue yield is several times
      Compound's), so a protocol is judged against its own history: the z-score of its fee yield against
      the trailing ``zscore_window``-bar mean and standard deviation; cheap when ``z >= z_entry`` (it earns
      unusually much for its price), value gone when ``z <= -z_exit``.
    * **price-only proxy**, used on every bar where the fee-yield z-score is undefined (``data.notes`` says
      so with the date ranges): the z-score of the close against its own trailing ``zscore_window``-bar mean
      and standard deviation; cheap when ``z <= -z_entry``, value gone when ``z >= z_exit``. This is a
      *price* proxy for value (far below its recent mean), not a fundamental one.

Entry (long only, after the warm-up, on the first bar of a run of bars meeting all of these)
    the value condition held on this bar or any of the previous ``VALUE_LOOKBACK`` (10) bars, and the
    trend turns up on this bar: the close crosses above EMA(20) or the MACD(12, 26, 9) histogram crosses
    above zero; plus the regime filter (``use_regime_filter``, default on: BTC and ETH both close above
    their EMA(200)).

Exit
    * whole position when the value is gone (see above) or the trend fails (close below EMA(20) with a
      negative MACD histogram);
    * stop: ``close - atr_stop_mult * ATR(14)`` set at the entry bar; no fixed take-profit.

Sizing
    By the engine: ``EngineConfig(sizing="risk")`` risks 1% of equity to the stop, each position clamped
    to 2-5% of equity (``RiskLimits`` defaults).

Parameters (default; search range)
    ``zscore_window`` 60 (30..90 step 30), ``z_entry`` 1.5 (1.0..2.0 step 0.5), ``z_exit`` 0.5 (0..1 step 0.5),
    ``atr_stop_mult`` 2.5 (2.0..3.0 step 0.5), ``use_regime_filter`` True (False/True): 162 combinations.

Data
    Candles (OHLCV); BTC/ETH candles in ``data.regime``; optional on-chain frames with ``market_cap`` and
    ``revenue``/``fees`` (point-in-time aligned by the caller) in ``data.onchain``: the bundled Token
    Terminal series of Aave, Compound and MakerDAO run to 2022-12-30. Declared in ``inputs``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from strategies import _common
from strategies.base import DataInput, MarketData, Param

EMA_TREND = 20
VALUE_LOOKBACK = 10
FEE_MEAN_DAYS = 30


class LendingProtocolValue(_common.PerSymbolStrategy):
    """Fee yield on market cap (or a price z-score proxy) with MACD/EMA trend confirmation."""

    name = "lending_value"
    label = "Lending protocol value"
    # Phase 0: value mean reversion (revenue yield high against its own history): about half win.
    predicted_win_rate = 0.50
    universe = ("AAVE", "COMP", "MKR")
    timeframe = "1d"
    warmup_bars = 200
    needs_onchain = True
    inputs = (
        DataInput("earnings", "onchain", ("revenue", "fees"), "fee (revenue) yield on market cap vs its own history",
                  "price z-score against its rolling mean (a price proxy for value)"),
        DataInput("market_cap", "onchain", ("market_cap",), "the denominator of the fee yield",
                  "price z-score against its rolling mean (a price proxy for value)"),
    )
    parameters = {
        "zscore_window": Param(60, 30, 90, step=30),
        "z_entry": Param(1.5, 1.0, 2.0, step=0.5, kind="float"),
        "z_exit": Param(0.5, 0.0, 1.0, step=0.5, kind="float"),
        "atr_stop_mult": Param(2.5, 2.0, 3.0, step=0.5, kind="float"),
        "use_regime_filter": _common.regime_param(),
    }

    def required_indicators(self) -> list[tuple[str, dict]]:
        return [
            ("ema", {"window": EMA_TREND}),
            ("macd", {"fast": 12, "slow": 26, "signal": 9}),
            ("atr", {"window": 14}),
            ("sma", {"window": self.params["zscore_window"]}),
        ]

    def _fee_yield(self, symbol: str, data: MarketData, index: pd.Index) -> pd.Series:
        """Annualised fee (revenue) yield on market cap; NaN where either input is missing."""
        column, earnings = _common.first_available(data, symbol, ("revenue", "fees"), index)
        market_cap = _common.onchain_series(data, symbol, "market_cap", index)
        window = _common.days_to_bars(FEE_MEAN_DAYS, self.timeframe)
        # Daily values repeat on every bar of their day, so the rolling mean is a mean *daily* figure.
        per_day = earnings.rolling(window, min_periods=window).mean()
        fee_yield = per_day * 365.0 / market_cap.where(market_cap > 0)
        _common.note_missing(data, self.name, symbol, f"market cap or {column or 'revenue/fees'}",
                             earnings.where(market_cap.notna()),
                             "price-only value proxy (z-score of close vs its rolling mean)")
        return fee_yield

    def _signals_for(self, symbol: str, candles: pd.DataFrame, data: MarketData,
                     gate: _common.RegimeGate) -> pd.DataFrame:
        p = self.params
        close_series = _common.close_of(data, symbol)
        window = p["zscore_window"]
        zscore = data.memo(("zscore", symbol, window), lambda: rolling_zscore(close_series, window)).to_numpy()
        fee_yield = data.memo_context((self.name, "fee yield", symbol), lambda: self._fee_yield(symbol, data, candles.index))
        fee_z = data.memo_context((self.name, "fee yield z", symbol, window), lambda: rolling_zscore(fee_yield, window)).to_numpy()
        fee_mode = ~np.isnan(fee_z)
        # where the fee yield is undefined the price z-score decides (undefined: neither cheap nor gone)
        cheap = np.where(fee_mode, fee_z >= p["z_entry"], zscore <= -p["z_entry"])
        value_gone = np.where(fee_mode, fee_z <= -p["z_exit"], zscore >= p["z_exit"])

        close = close_series.to_numpy()
        ema = _common.feature(data, symbol, "ema", EMA_TREND).to_numpy()
        hist = _common.feature(data, symbol, "macd")["hist"].to_numpy()
        crosses_ema = (close > ema) & (_common.shifted(close) <= _common.shifted(ema))
        hist_turns = (hist > 0) & (_common.shifted(hist) <= 0)
        atr, stop = _common.atr_stop(candles, p["atr_stop_mult"], data=data, symbol=symbol)
        regime = gate.on(candles.index).to_numpy()

        recently_cheap = _any_within(cheap, VALUE_LOOKBACK + 1)
        trend_fails = (close < ema) & (hist < 0)
        signal = recently_cheap & (crosses_ema | hist_turns) & ~value_gone & regime
        entry = _common.after_warmup(_common.edge(signal), self.warmup_bars) & ~np.isnan(stop)
        return self.signals_frame(
            candles.index, entry=entry, exit=value_gone | trend_fails, stop=stop, zscore=zscore, fee_yield=fee_yield,
            fee_yield_z=fee_z, uses_earnings=fee_mode, uses_market_cap=fee_mode, ema_trend=ema, macd_hist=hist,
            atr=atr, regime_ok=regime)


def _any_within(condition: np.ndarray, bars: int) -> np.ndarray:
    """True where ``condition`` held on this bar or one of the ``bars - 1`` before it."""
    held = np.cumsum(condition, dtype=np.int64)
    before = np.zeros(len(held), dtype=np.int64)
    if bars < len(held):
        before[bars:] = held[:-bars]
    return held - before > 0


def rolling_zscore(series: pd.Series, window: int) -> pd.Series:
    """(value - rolling mean) / rolling population std over ``window`` bars; NaN where the std is 0."""
    rolling = series.rolling(window, min_periods=window)
    return (series - rolling.mean()) / rolling.std(ddof=0).where(lambda s: s > 0)
