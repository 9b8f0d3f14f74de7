"""Layer-2 ecosystem growth: own ARB/OP while their chains are gaining TVL and the price trend agrees.

Thesis
    Layer-2 tokens re-rate when capital moves onto their chains. Fast TVL growth that the price trend
    confirms is the signal; a price trend without growth, or growth while the price falls, is not.

Timeframe and universe
    4h candles of ARB and OP. A symbol without candles (ARB before March 2023) is skipped with a note.

Entry (long only; at the bar where all of these first become true, after the warm-up)
    * growth: chain ``tvl`` changed by more than ``tvl_growth_min`` over ``tvl_growth_days`` days.
      Where that change is undefined (no on-chain frame, NaN rows, the first ``tvl_growth_days`` of
      data) the **price-only rule** applies: the close's change over the same days must exceed
      ``tvl_growth_min`` instead (price momentum stands in for ecosystem growth); ``data.notes`` names
      the missing ranges;
    * trend: ``close > EMA(ema_slow)`` and ``EMA(ema_fast) > EMA(ema_slow)``;
    * regime (``use_regime_filter``, default on): BTC and ETH both close above their EMA(200).

Exit
    * whole position when the trend breaks (close < EMA(ema_slow) or EMA(ema_fast) < EMA(ema_slow)) or
      TVL shrinks over ``tvl_growth_days`` (only where the TVL change is defined);
    * stop: ``close - atr_stop_mult * ATR(14)`` set at the entry bar; no fixed take-profit.

Sizing
    By the engine: ``EngineConfig(sizing="risk")`` risks 1% of equity to the stop, each position clamped
    to 2-5% of equity (``RiskLimits`` defaults).

Parameters (default; search range)
    ``tvl_growth_days`` 14 (7..21 step 7), ``tvl_growth_min`` 0.10 (0.05..0.20 step 0.05),
    ``ema_fast`` 20 (10..20 step 10), ``ema_slow`` 50 (50..100 step 50),
    ``atr_stop_mult`` 2.5 (2.0..3.0 step 0.5), ``use_regime_filter`` True (False/True): 288 combinations.

Data
    Candles (OHLCV); BTC/ETH candles in ``data.regime``; optional on-chain frames with ``tvl``
    (point-in-time aligned by the caller) in ``data.onchain``: the bundled DefiLlama chain TVL of
    Arbitrum (from 2021-08-17) and Optimism (from 2021-07-14) to 2025-08-02. Declared in ``inputs``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from strategies import _common
from strategies.base import DataInput, MarketData, Param


class Layer2EcosystemGrowth(_common.PerSymbolStrategy):
    """TVL growth momentum plus price trend on layer-2 tokens."""

    name = "layer2_growth"
    label = "Layer-2 ecosystem growth"
    # Phase 0: TVL-growth momentum with a trend filter: slightly under half the positions win.
    predicted_win_rate = 0.45
    universe = ("ARB", "OP")
    timeframe = "4h"
    warmup_bars = 200
    needs_onchain = True
    inputs = (DataInput("tvl", "onchain", ("tvl",), "chain TVL growth over tvl_growth_days (DefiLlama chain TVL)",
                        "price momentum over the same days replaces TVL growth"),)
    parameters = {
        "tvl_growth_days": Param(14, 7, 21, step=7),
        "tvl_growth_min": Param(0.10, 0.05, 0.20, step=0.05, kind="float"),
        "ema_fast": Param(20, 10, 20, step=10),
        "ema_slow": Param(50, 50, 100, step=50),
        "atr_stop_mult": Param(2.5, 2.0, 3.0, step=0.5, kind="float"),
        "use_regime_filter": _common.regime_param(),
    }

    def validate_params(self) -> None:
        _common.require_below(self.params, "ema_fast", "ema_slow")

    def required_indicators(self) -> list[tuple[str, dict]]:
        return [
            ("ema", {"window": self.params["ema_fast"]}),
            ("ema", {"window": self.params["ema_slow"]}),
            ("atr", {"window": 14}),
        ]

    def _signals_for(self, symbol: str, candles: pd.DataFrame, data: MarketData,
                     gate: _common.RegimeGate) -> pd.DataFrame:
        p = self.params
        close = _common.close_of(data, symbol)
        ema_fast = _common.feature(data, symbol, "ema", p["ema_fast"])
        ema_slow = _common.feature(data, symbol, "ema", p["ema_slow"])
        atr, stop = _common.atr_stop(candles, p["atr_stop_mult"], data=data, symbol=symbol)
        window = _common.days_to_bars(p["tvl_growth_days"], self.timeframe)

        def growth_over() -> tuple[pd.Series, pd.Series]:
            tvl = _common.onchain_series(data, symbol, "tvl", candles.index)
            _common.note_missing(data, self.name, symbol, "on-chain tvl", tvl,
                                 "price-only rule (price momentum replaces TVL growth)")
            tvl_growth = _common.pct_change_over(tvl, window)
            return tvl_growth, tvl_growth.where(tvl_growth.notna(), _common.pct_change_over(close, window))

        tvl_growth, growth = (series.to_numpy() for series in
                              data.memo((self.name, "growth", symbol, window), growth_over))
        regime = gate.on(candles.index).to_numpy()
        close, ema_fast, ema_slow = close.to_numpy(), ema_fast.to_numpy(), ema_slow.to_numpy()

        trend = (close > ema_slow) & (ema_fast > ema_slow)
        setup = (growth > p["tvl_growth_min"]) & trend & regime
        entry = _common.after_warmup(_common.edge(setup), self.warmup_bars) & ~np.isnan(stop)
        return self.signals_frame(
            candles.index, entry=entry, exit=(close < ema_slow) | (ema_fast < ema_slow) | (tvl_growth < 0),
            stop=stop, ema_fast=ema_fast, ema_slow=ema_slow, tvl_growth=tvl_growth, growth_used=growth,
            uses_tvl=~np.isnan(tvl_growth), atr=atr, regime_ok=regime)
