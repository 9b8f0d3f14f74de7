"""Stable LP yield optimiser: hold the one stablecoin position that earns the best yield, leave on a depeg.

Thesis
    Stablecoin liquidity earns a yield (LP fees, lending interest) that differs between coins and over
    time. Rotate into the coin with the best yield, and step out as soon as its peg or its liquidity
    looks unsafe (USDC fell to 0.88 on 11 March 2023 with SVB; a draining pool precedes such events).

Timeframe and universe
    1h candles of USDC, DAI, FRAX (quoted in USD/USDT). A coin without candles is skipped with a note.
    At most one coin is held at a time.

Yield estimate (per coin, per bar; the first that is defined wins)
    * the lenders' APY of the coin's Aave (Ethereum) reserve, ``supply_apy`` (daily mean of the hourly rate);
    * 7-day mean daily ``fees`` x 365 / ``tvl`` (both from ``data.onchain``);
    * the coin's configured APY (:attr:`StableLPYieldOptimizer.DEFAULT_FALLBACK_APY`, or the ``fallback_apy``
      constructor argument). These APYs are *assumptions* supplied by the user, not data; ``data.notes``
      says where they were used, and the run's data coverage counts those bars as fallback.

Rules (a forward loop over bars; state = the coin the strategy believes it holds)
    * healthy coin: ``|close - 1| <= depeg_threshold`` and its liquidity not down more than
      ``liquidity_drop_pct`` over ``liquidity_window_days`` days. Liquidity is the coin's circulating
      ``supply`` (redemptions drain it before and during a run on the coin), or its ``tvl`` where no supply
      series exists. Where the change is undefined the **price-only rule** applies: only the peg decides
      (noted in ``data.notes``);
    * exit (whole position) as soon as the held coin is unhealthy;
    * entry into the healthy coin with the highest yield when nothing is held (ties: universe order);
    * switch (exit the held coin, enter the other on the same bar) when another healthy coin yields more
      than ``min_yield_edge`` above the held one, and both have a candle on that bar;
    * regime (``use_regime_filter``, default on): new entries and switches only while BTC and ETH close
      above their EMA(200) (depegs cluster in market stress); an open position is kept regardless;
    * stop: ``1 - depeg_threshold - stop_buffer``, set at the entry bar (a tight stop just below the
      depeg line, for gaps through it between two closes).
    The state does not see the engine's fills: after a stop-out (or an entry the engine refused) the
    strategy still believes it holds the coin until its own exit rule fires.

Yield accrual (the engine does not pay yield)
    The engine's P&L is the price P&L only. :meth:`StableLPYieldOptimizer.yield_accrual` returns, per bar,
    the yield rate earned by the coin held according to the signals (a position filled at the open after
    an entry bar earns from that bar through the exit bar): ``(1 + apy) ** (1 / bars_per_year) - 1``.
    It is a return on the position's value, not on equity: multiply by the position's weight (2-5% of
    equity under the default risk limits) to get the portfolio contribution. Callers report it
    separately from (or add it to) the engine's equity curve and must say which.

Sizing
    By the engine: ``EngineConfig(sizing="risk")`` risks 1% of equity to the stop, each position clamped
    to 2-5% of equity (``RiskLimits`` defaults). With a stop ~2.5% away the 5% cap always binds.

Parameters (default; search range)
    ``depeg_threshold`` 0.02 (0.01..0.03 step 0.01), ``liquidity_drop_pct`` 0.10 (0.05..0.20 step 0.05),
    ``liquidity_window_days`` 7 (7..14 step 7), ``min_yield_edge`` 0.005 (0..0.01 step 0.005),
    ``stop_buffer`` 0.005 (0.005..0.01 step 0.005), ``use_regime_filter`` True (False/True): 288 combinations.

Data
    Candles of the coins; BTC/ETH candles in ``data.regime``; optional on-chain frames with ``supply_apy``,
    ``supply``, ``fees`` and ``tvl`` (point-in-time aligned by the caller) in ``data.onchain``. Declared in
    ``inputs``: ``yield`` and ``liquidity``, both primary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from numba import njit

from marketdata.timeframes import bars_per_day
from strategies import _common
from strategies.base import BaseStrategy, DataInput, MarketData, Param

YIELD_MEAN_DAYS = 7
PEG = 1.0
#: Float slack so that 0.97 with a 0.03 threshold counts as "at the threshold" (0.97 - 1 = -0.0300000000000000266).
PEG_EPSILON = 1e-12


class StableLPYieldOptimizer(BaseStrategy):
    """Rotate into the best-yielding healthy stablecoin; exit on a depeg or a draining TVL."""

    name = "stable_lp_yield"
    label = "Stable LP yield optimiser"
    # Phase 0: carry on stablecoins: most positions earn a little; the losses are the rare depegs.
    predicted_win_rate = 0.65
    universe = ("USDC", "DAI", "FRAX")
    timeframe = "1h"
    warmup_bars = 336
    needs_onchain = True
    inputs = (
        DataInput("yield", "onchain", ("supply_apy", "fees"), "which coin earns most (Aave lenders' APY, or fees/TVL)",
                  "the configured APY (an assumption)"),
        DataInput("liquidity", "onchain", ("supply", "tvl"),
                  "exit when the coin's supply (or TVL) drains by more than liquidity_drop_pct",
                  "peg-only health rule (exit on depeg only)"),
    )
    #: Assumed APY per coin where no on-chain yield is available (user assumptions, not data).
    DEFAULT_FALLBACK_APY: ClassVar[dict[str, float]] = {"USDC": 0.03, "DAI": 0.04, "FRAX": 0.05}
    parameters = {
        "depeg_threshold": Param(0.02, 0.01, 0.03, step=0.01, kind="float"),
        "liquidity_drop_pct": Param(0.10, 0.05, 0.20, step=0.05, kind="float"),
        "liquidity_window_days": Param(7, 7, 14, step=7),
        "min_yield_edge": Param(0.005, 0.0, 0.01, step=0.005, kind="float"),
        "stop_buffer": Param(0.005, 0.005, 0.01, step=0.005, kind="float"),
        "use_regime_filter": _common.regime_param(),
    }

    def __init__(self, fallback_apy: Mapping[str, float] | None = None, **params: Any) -> None:
        super().__init__(**params)
        apy = dict(type(self).DEFAULT_FALLBACK_APY)
        for symbol, value in (fallback_apy or {}).items():
            if symbol not in self.universe:
                raise ValueError(f"fallback_apy: {symbol!r} is not in the universe {list(self.universe)}")
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
                raise ValueError(f"fallback_apy[{symbol!r}]={value!r} must be a number in [0, 1)")
            apy[symbol] = float(value)
        self.fallback_apy: dict[str, float] = apy

    def required_indicators(self) -> list[tuple[str, dict]]:
        return []

    # ------------------------------------------------------------------ per-coin inputs

    def _coin_inputs(self, symbol: str, candles: pd.DataFrame, data: MarketData) -> dict[str, np.ndarray]:
        """apy, healthy (1/0/NaN), liquidity_change and the input flags of one coin, arrays on its own bars."""
        p = self.params
        own = candles.index
        fallback = self.fallback_apy[symbol]
        onchain_apy, apy = data.memo_context((self.name, "apy", symbol, fallback),
                                     lambda: self._apy(symbol, data, own, fallback))
        days = p["liquidity_window_days"]

        def liquidity_change_over() -> pd.Series:
            _, liquidity = _common.first_available(data, symbol, ("supply", "tvl"), own)
            change = _common.pct_change_over(liquidity, _common.days_to_bars(days, self.timeframe))
            _common.note_missing(data, self.name, symbol, "on-chain supply/tvl", change,
                                 "price-only rule (exit on depeg only)")
            return change

        liquidity_change = data.memo_context((self.name, "liquidity change", symbol, days), liquidity_change_over).to_numpy()
        close = _common.close_of(data, symbol).to_numpy()
        peg_ok = np.abs(close - PEG) <= p["depeg_threshold"] + PEG_EPSILON
        liquidity_ok = np.isnan(liquidity_change) | (liquidity_change >= -p["liquidity_drop_pct"])
        healthy = np.where(np.isnan(close), np.nan, (peg_ok & liquidity_ok).astype("float64"))
        return {"apy": apy.to_numpy(), "healthy": healthy, "liquidity_change": liquidity_change,
                "uses_yield": ~np.isnan(onchain_apy.to_numpy()), "uses_liquidity": ~np.isnan(liquidity_change)}

    def _apy(self, symbol: str, data: MarketData, own: pd.Index, fallback: float) -> tuple[pd.Series, pd.Series]:
        """(on-chain APY or NaN, the APY used: on-chain where known, else ``fallback``) on ``symbol``'s bars."""
        fees = _common.onchain_series(data, symbol, "fees", own)
        tvl = _common.onchain_series(data, symbol, "tvl", own)
        window = _common.days_to_bars(YIELD_MEAN_DAYS, self.timeframe)
        fee_apy = fees.rolling(window, min_periods=window).mean() * 365.0 / tvl.where(tvl > 0)
        lending_apy = _common.onchain_series(data, symbol, "supply_apy", own)
        onchain_apy = lending_apy.where(lending_apy.notna(), fee_apy)
        _common.note_missing(data, self.name, symbol, "on-chain yield (Aave supply APY, fees/tvl)", onchain_apy,
                             f"configured APY {fallback:.2%} used (an assumption)")
        return onchain_apy, onchain_apy.where(onchain_apy.notna(), fallback)

    # ------------------------------------------------------------------ signals

    def generate_signals(self, data: MarketData) -> dict[str, pd.DataFrame]:
        present = [s for s in self.universe if data.candles.get(s) is not None and not data.candles[s].empty]
        for symbol in self.universe:
            if symbol not in present:
                _common.note_missing_candles(data, self.name, symbol)
        if not present:
            return {}
        index = data.candles[present[0]].index
        for symbol in present[1:]:
            index = index.union(data.candles[symbol].index)
        inputs = {s: self._coin_inputs(s, data.candles[s], data) for s in present}
        bars = {s: index.get_indexer(data.candles[s].index) for s in present}  # each coin's bars in the union
        regime = _common.regime_gate(self.params, data, index, self.regime_symbols, self.name).to_numpy(dtype=bool)
        entries, exits = self._rotate(present, inputs, bars, len(index), regime)
        stop_level = PEG - self.params["depeg_threshold"] - self.params["stop_buffer"]
        out: dict[str, pd.DataFrame] = {}
        for k, symbol in enumerate(present):
            coin, own = inputs[symbol], bars[symbol]
            out[symbol] = self.signals_frame(
                data.candles[symbol].index, entry=entries[own, k], exit=exits[own, k], stop=stop_level,
                apy=coin["apy"], healthy=coin["healthy"], liquidity_change=coin["liquidity_change"],
                uses_yield=coin["uses_yield"], uses_liquidity=coin["uses_liquidity"], regime_ok=regime[own])
        return out

    def _rotate(self, symbols: list[str], inputs: dict[str, dict[str, np.ndarray]], bars: dict[str, np.ndarray],
                n_bars: int, regime: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The forward state loop (:func:`rotate_kernel`) on the union of the coins' bars (a coin without a bar
        there: NaN, neither healthy nor unhealthy); returns boolean (bars x coins) entry and exit matrices."""
        healthy = np.full((n_bars, len(symbols)), np.nan)
        apy = np.full((n_bars, len(symbols)), np.nan)
        for k, symbol in enumerate(symbols):
            healthy[bars[symbol], k] = inputs[symbol]["healthy"]
            apy[bars[symbol], k] = inputs[symbol]["apy"]
        return rotate_kernel(healthy, apy, np.ascontiguousarray(regime, dtype=np.bool_), int(self.warmup_bars),
                             float(self.params["min_yield_edge"]))

    # ------------------------------------------------------------------ yield

    def yield_accrual(self, data: MarketData, signals: dict[str, pd.DataFrame]) -> pd.Series:
        """Per-bar yield rate of the coin held according to ``signals`` (see the module docstring).

        Returns a float Series on the union of the signal frames' indexes (0.0 where nothing is held).
        """
        if not signals:
            return pd.Series(dtype="float64")
        bars_per_year = 365.0 * bars_per_day(self.timeframe)
        frames = list(signals.values())
        index = frames[0].index
        for frame in frames[1:]:
            index = index.union(frame.index)
        total = pd.Series(0.0, index=index)
        for frame in frames:
            state = pd.Series(np.nan, index=frame.index)
            state[frame["entry"].astype(bool)] = 1.0
            state[frame["exit"].astype(bool)] = 0.0
            # Our own position state carried forward from the bar after each signal (not market data).
            held = state.shift(1).ffill().fillna(0.0)
            rate = (1.0 + frame["apy"]) ** (1.0 / bars_per_year) - 1.0
            total = total.add((held * rate).reindex(index, fill_value=0.0), fill_value=0.0)
        return total


@njit(cache=True)
def rotate_kernel(healthy: np.ndarray, apy: np.ndarray, regime: np.ndarray, warmup: int,
                  edge: float) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Bar by bar from ``warmup``: exit the held coin when it turns unhealthy; when the regime allows, enter the
    healthy coin with the highest APY (ties: the first in universe order) if nothing is held, or rotate into it
    when it beats the held (still healthy) coin by more than ``edge``. A per-bar state machine (each bar depends
    on what is held), so it is compiled rather than vectorised."""
    n_bars, n_coins = healthy.shape
    entries = np.zeros((n_bars, n_coins), dtype=np.bool_)
    exits = np.zeros((n_bars, n_coins), dtype=np.bool_)
    held = -1
    for t in range(warmup, n_bars):
        if held >= 0 and healthy[t, held] == 0.0:
            exits[t, held] = True
            held = -1
        if not regime[t]:
            continue
        best = -1
        for k in range(n_coins):  # np.argmax over the healthy coins: the first maximum, or the first NaN
            if healthy[t, k] != 1.0:
                continue
            if np.isnan(apy[t, k]):
                best = k
                break
            if best < 0 or apy[t, k] > apy[t, best]:
                best = k
        if best < 0:
            continue
        if held < 0:
            entries[t, best] = True
            held = best
        elif best != held and healthy[t, held] == 1.0 and apy[t, best] > apy[t, held] + edge:
            exits[t, held] = True
            entries[t, best] = True
            held = best
    return entries, exits
