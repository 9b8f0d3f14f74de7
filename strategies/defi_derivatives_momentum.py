"""DeFi derivatives momentum: ride trends in perp/options DEX tokens when their protocols are busy.

Thesis
    Derivatives-DEX tokens (SNX, PERP, GMX, LYRA, GNS) trend hard when trading activity on their
    protocols grows: more volume means more fees to stakers. Enter established up-trends with
    momentum and volume behind them, confirmed by rising protocol fees (or volume) where the on-chain
    data exists; cut losers with an ATR stop and bank half at a first ATR target.

Timeframe and universe
    4h candles of SNX, PERP, GMX, LYRA, GNS. A symbol without candles is skipped with a note.

Entry (long only; at the bar where all of these first become true, after the warm-up)
    * trend: ``close > EMA(ema_fast) > EMA(ema_slow)``;
    * momentum: MACD(12, 26, 9) histogram > 0 and rising versus the previous bar;
    * RSI(14, Wilder) in ``[50, rsi_high]`` (strong, not yet overbought);
    * volume: ``volume / SMA20(volume) >= volume_ratio_min``;
    * on-chain confirmation: the 7-day mean of protocol ``fees`` (``volume`` when the frame has no
      fees) is at or above its value 7 days earlier. Where that series is undefined (no on-chain
      frame, NaN rows, or its first 14 days) the **price-only rule** applies: the confirmation is
      dropped and the four price conditions decide alone; ``data.notes`` names the missing ranges;
    * sentiment (a secondary input): the Crypto Fear & Greed index known at the bar's close (yesterday's
      reading, published after its day ends) is at least ``fear_greed_min``: momentum is not bought into
      a fearful market. Where the index is unknown the filter is dropped (noted);
    * regime (``use_regime_filter``, default on): BTC and ETH both close above their EMA(200).

Exit
    * whole position: close below EMA(ema_slow), or close below EMA(ema_fast) with a negative MACD
      histogram (momentum gone);
    * stop: ``close - atr_stop_mult * ATR(14)`` set at the entry bar (the engine keeps it until exit);
    * partial take-profit: half the position at ``close + tp_atr_mult * ATR(14)``.
    Stop and target are emitted on entry bars only; a new entry signal while a position is still open
    (the setup switched off and on again) re-anchors both to that bar, as the engine contract says.

Sizing
    By the engine, not the strategy: ``EngineConfig(sizing="risk")`` risks 1% of equity to the stop,
    each position clamped to 2-5% of equity (``RiskLimits`` defaults).

Parameters (default; search range)
    ``ema_fast`` 20 (10..20 step 10), ``ema_slow`` 50 (50..100 step 50), ``rsi_high`` 70 (65..75 step 5),
    ``volume_ratio_min`` 1.2 (1.0..1.4 step 0.2), ``atr_stop_mult`` 2.0 (1.5..2.5 step 0.5),
    ``tp_atr_mult`` 3.0 (2..3 step 1), ``fear_greed_min`` 40 (20..40 step 20), ``use_regime_filter`` True
    (False/True): 864 combinations.

Data
    Candles (OHLCV) of the universe; BTC/ETH candles in ``data.regime``; optional on-chain frames
    (``fees`` and/or ``volume`` columns, point-in-time aligned by the caller) in ``data.onchain``; the Fear & Greed index in ``data.sentiment``. No bundled
    or public on-chain history exists for these protocols' fees/volume/TVL (see the data README), so the
    on-chain rule is missing everywhere unless ingested: runs disclose it and count the bars as fallback.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from strategies import _common
from strategies.base import DataInput, MarketData, Param

RSI_LOW = 50.0
TAKE_PROFIT_FRACTION = 0.5
ONCHAIN_TREND_DAYS = 7
ONCHAIN_COLUMNS = ("fees", "volume")
ONCHAIN_PURPOSE = "entries only while protocol fees (or volume) are not falling"
ONCHAIN_FALLBACK = "price-only rule (entries without on-chain confirmation)"


class DefiDerivativesMomentum(_common.PerSymbolStrategy):
    """Trend + momentum entries on DeFi derivatives tokens, confirmed by rising protocol fees."""

    name = "defi_derivatives_momentum"
    label = "DeFi derivatives momentum"
    # Phase 0: trend following with tight stops and trailing exits: many small losses, fewer big wins.
    predicted_win_rate = 0.40
    universe = ("SNX", "PERP", "GMX", "LYRA", "GNS")
    timeframe = "4h"
    warmup_bars = 200
    needs_onchain = True
    needs_sentiment = True
    inputs = (
        DataInput("onchain", "onchain", ONCHAIN_COLUMNS, ONCHAIN_PURPOSE, ONCHAIN_FALLBACK),
        DataInput("fear_greed", "sentiment", ("fear_greed",),
                  "momentum entries only while the market is not fearful (Fear & Greed >= fear_greed_min)", "no sentiment filter", primary=False),
    )
    parameters = {
        "fear_greed_min": Param(40.0, 20.0, 40.0, step=20.0, kind="float"),
        "ema_fast": Param(20, 10, 20, step=10),
        "ema_slow": Param(50, 50, 100, step=50),
        "rsi_high": Param(70.0, 65.0, 75.0, step=5.0, kind="float"),
        "volume_ratio_min": Param(1.2, 1.0, 1.4, step=0.2, kind="float"),
        "atr_stop_mult": Param(2.0, 1.5, 2.5, step=0.5, kind="float"),
        "tp_atr_mult": Param(3.0, 2.0, 3.0, step=1.0, kind="float"),
        "use_regime_filter": _common.regime_param(),
    }

    def validate_params(self) -> None:
        _common.require_below(self.params, "ema_fast", "ema_slow")

    def required_indicators(self) -> list[tuple[str, dict]]:
        return [
            ("ema", {"window": self.params["ema_fast"]}),
            ("ema", {"window": self.params["ema_slow"]}),
            ("macd", {"fast": 12, "slow": 26, "signal": 9}),
            ("rsi", {"window": 14}),
            ("volume_ratio", {"window": 20}),
            ("atr", {"window": 14}),
        ]

    def _onchain_confirmation(self, symbol: str, data: MarketData, index: pd.Index) -> pd.Series:
        """1.0 rising/flat fees, 0.0 falling, NaN where undefined (price-only rule applies there)."""
        def compute() -> pd.Series:
            column, metric = _common.first_available(data, symbol, ONCHAIN_COLUMNS, index)
            _common.note_missing(data, self.name, symbol, f"on-chain {column or 'fees/volume'}", metric,
                                 ONCHAIN_FALLBACK)
            window = _common.days_to_bars(ONCHAIN_TREND_DAYS, self.timeframe)
            smoothed = metric.rolling(window, min_periods=window).mean()
            return _common.trend_up(smoothed, window)

        if not _common.own_bars(data, symbol, index):
            return compute()
        return data.memo_context((self.name, "onchain confirmation", symbol), compute)

    def _signals_for(self, symbol: str, candles: pd.DataFrame, data: MarketData,
                     gate: _common.RegimeGate) -> pd.DataFrame:
        p = self.params
        close = _common.close_of(data, symbol).to_numpy()
        ema_fast = _common.feature(data, symbol, "ema", p["ema_fast"]).to_numpy()
        ema_slow = _common.feature(data, symbol, "ema", p["ema_slow"]).to_numpy()
        hist = _common.feature(data, symbol, "macd")["hist"].to_numpy()
        rsi = _common.feature(data, symbol, "rsi", 14).to_numpy()
        volume_ratio = _common.feature(data, symbol, "volume_ratio", 20).to_numpy()
        atr, stop = _common.atr_stop(candles, p["atr_stop_mult"], data=data, symbol=symbol)
        confirmation = self._onchain_confirmation(symbol, data, candles.index).to_numpy()
        regime = gate.on(candles.index).to_numpy()
        mood_ok, mood_known = _common.sentiment_at_least(data, symbol, p["fear_greed_min"], candles.index, self.name)

        setup = (
            (close > ema_fast) & (ema_fast > ema_slow)
            & (hist > 0) & (hist > _common.shifted(hist))
            & (rsi >= RSI_LOW) & (rsi <= p["rsi_high"])
            & (volume_ratio >= p["volume_ratio_min"])
            & (np.isnan(confirmation) | (confirmation == 1.0))
            & mood_ok
            & regime
        )
        entry = _common.after_warmup(_common.edge(setup), self.warmup_bars) & ~np.isnan(stop)
        return self.signals_frame(
            candles.index, entry=entry, exit=(close < ema_slow) | ((close < ema_fast) & (hist < 0)),
            stop=stop, take_profit=close + p["tp_atr_mult"] * atr, take_profit_fraction=TAKE_PROFIT_FRACTION,
            ema_fast=ema_fast, ema_slow=ema_slow, macd_hist=hist, rsi=rsi, volume_ratio=volume_ratio, atr=atr,
            onchain_rising=confirmation, uses_onchain=~np.isnan(confirmation), uses_fear_greed=mood_known,
            regime_ok=regime)
