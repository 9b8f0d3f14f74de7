"""Curve wars specialist: buy oversold dips in the Curve ecosystem tokens while their TVL holds up.

Thesis
    CRV, CVX and FXS trade around the fight for Curve gauge votes; their prices overshoot on
    sell-offs (unlocks, emissions dumps) and revert while the underlying liquidity stays. Buy the
    statistically oversold dip only when protocol TVL (or fees) is not falling, so a structural
    outflow is not mistaken for noise; take the reversion back to the mean.

Timeframe and universe
    4h candles of CRV, CVX, FXS. A symbol without candles is skipped with a note.

Entry (long only; at the bar where all of these first become true, after the warm-up)
    * close below the lower Bollinger band (SMA20 +/- ``bb_std`` population standard deviations);
    * RSI(14, Wilder) below ``rsi_entry``;
    * TVL filter: protocol ``tvl`` (``fees`` when there is no TVL column) is not lower than
      ``tvl_window_days`` days ago. Where that comparison is undefined (no on-chain frame, NaN rows, the
      first ``tvl_window_days`` of data) the **price-only rule** applies: the filter is dropped and the
      band/RSI conditions decide; ``data.notes`` names the missing ranges;
    * sentiment (a secondary input): the Crypto Fear & Greed index known at the bar's close is at least
      ``fear_greed_min``: no dip is bought in extreme fear, when sell-offs tend to be structural (LUNA,
      FTX). Where the index is unknown the filter is dropped (noted);
    * regime (``use_regime_filter``, default on): BTC and ETH both close above their EMA(200).

Exit
    * whole position at the middle band (close >= SMA20) or when RSI(14) > ``rsi_exit``;
    * stop: ``close - atr_stop_mult * ATR(14)`` set at the entry bar; no fixed take-profit (the middle
      band is the target, taken by the exit signal).

Sizing
    By the engine: ``EngineConfig(sizing="risk")`` risks 1% of equity to the stop, each position clamped
    to 2-5% of equity (``RiskLimits`` defaults).

Parameters (default; search range)
    ``bb_std`` 2.0 (1.5..2.5 step 0.5), ``rsi_entry`` 30 (25..35 step 5), ``rsi_exit`` 55 (50..60 step 5),
    ``atr_stop_mult`` 2.0 (1.5..2.5 step 0.5), ``tvl_window_days`` 7 (7..14 step 7),
    ``fear_greed_min`` 25 (10..25 step 15), ``use_regime_filter`` True (False/True): 648 combinations.

Data
    Candles (OHLCV); BTC/ETH candles in ``data.regime``; optional on-chain frames with ``tvl`` and/or
    ``fees`` (point-in-time aligned by the caller) in ``data.onchain``; the Fear & Greed index in ``data.sentiment``. No bundled
    or public on-chain history exists for these protocols' fees/volume/TVL (see the data README), so the
    on-chain rule is missing everywhere unless ingested: runs disclose it and count the bars as fallback.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from strategies import _common
from strategies.base import DataInput, MarketData, Param

BB_WINDOW = 20
RSI_WINDOW = 14
ONCHAIN_COLUMNS = ("tvl", "fees")
ONCHAIN_PURPOSE = "dips bought only while protocol TVL (or fees) is not falling"
ONCHAIN_FALLBACK = "price-only rule (no TVL filter)"


class CurveWarsSpecialist(_common.PerSymbolStrategy):
    """Bollinger/RSI mean reversion on CRV, CVX, FXS, filtered by a non-falling TVL."""

    name = "curve_wars"
    label = "Curve wars specialist"
    # Phase 0: a relative-momentum rotation with stops wins somewhat under half its positions.
    predicted_win_rate = 0.45
    universe = ("CRV", "CVX", "FXS")
    timeframe = "4h"
    warmup_bars = 200
    needs_onchain = True
    needs_sentiment = True
    inputs = (
        DataInput("onchain", "onchain", ONCHAIN_COLUMNS, ONCHAIN_PURPOSE, ONCHAIN_FALLBACK),
        DataInput("fear_greed", "sentiment", ("fear_greed",),
                  "dips bought only outside extreme fear (Fear & Greed >= fear_greed_min), when outflows are structural", "no sentiment filter", primary=False),
    )
    parameters = {
        "fear_greed_min": Param(25.0, 10.0, 25.0, step=15.0, kind="float"),
        "bb_std": Param(2.0, 1.5, 2.5, step=0.5, kind="float"),
        "rsi_entry": Param(30.0, 25.0, 35.0, step=5.0, kind="float"),
        "rsi_exit": Param(55.0, 50.0, 60.0, step=5.0, kind="float"),
        "atr_stop_mult": Param(2.0, 1.5, 2.5, step=0.5, kind="float"),
        "tvl_window_days": Param(7, 7, 14, step=7),
        "use_regime_filter": _common.regime_param(),
    }

    def required_indicators(self) -> list[tuple[str, dict]]:
        return [
            ("bbands", {"window": BB_WINDOW, "std": self.params["bb_std"]}),
            ("rsi", {"window": RSI_WINDOW}),
            ("atr", {"window": 14}),
        ]

    def _tvl_not_falling(self, symbol: str, data: MarketData, index: pd.Index) -> pd.Series:
        days = self.params["tvl_window_days"]

        def compute() -> pd.Series:
            column, metric = _common.first_available(data, symbol, ONCHAIN_COLUMNS, index)
            _common.note_missing(data, self.name, symbol, f"on-chain {column or 'tvl/fees'}", metric,
                                 ONCHAIN_FALLBACK)
            return _common.trend_up(metric, _common.days_to_bars(days, self.timeframe))

        if not _common.own_bars(data, symbol, index):
            return compute()
        return data.memo_context((self.name, "tvl not falling", symbol, days), compute)

    def _signals_for(self, symbol: str, candles: pd.DataFrame, data: MarketData,
                     gate: _common.RegimeGate) -> pd.DataFrame:
        p = self.params
        close = _common.close_of(data, symbol).to_numpy()
        bands = _common.feature(data, symbol, "bbands", BB_WINDOW, p["bb_std"])
        lower, middle = bands["lower"].to_numpy(), bands["middle"].to_numpy()
        rsi = _common.feature(data, symbol, "rsi", RSI_WINDOW).to_numpy()
        atr, stop = _common.atr_stop(candles, p["atr_stop_mult"], data=data, symbol=symbol)
        tvl_ok = self._tvl_not_falling(symbol, data, candles.index).to_numpy()
        regime = gate.on(candles.index).to_numpy()
        mood_ok, mood_known = _common.sentiment_at_least(data, symbol, p["fear_greed_min"], candles.index, self.name)

        setup = (
            (close < lower) & (rsi < p["rsi_entry"])
            & (np.isnan(tvl_ok) | (tvl_ok == 1.0))
            & mood_ok
            & regime
        )
        entry = _common.after_warmup(_common.edge(setup), self.warmup_bars) & ~np.isnan(stop)
        return self.signals_frame(
            candles.index, entry=entry, exit=(close >= middle) | (rsi > p["rsi_exit"]),
            stop=stop, bb_lower=lower, bb_middle=middle, rsi=rsi, atr=atr, tvl_not_falling=tvl_ok,
            uses_onchain=~np.isnan(tvl_ok), uses_fear_greed=mood_known, regime_ok=regime)
