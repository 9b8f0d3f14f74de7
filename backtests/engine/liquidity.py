"""The quote volume a fill is measured against under the volume-share slippage model.

A candle's ``quote_volume`` (volume in the quote currency, e.g. USDT) where the source gives it; otherwise it
is derived as base ``volume`` x the bar's typical price ``(high + low + close) / 3``, the usual stand-in for
its volume-weighted average price (Binance's own quote volume is the sum of price x quantity over the bar's
trades, which this approximates). The bundled Binance files carry base volume only, so the derivation is
what every bundled run uses; the run's summary counts the bars it was needed for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def quote_volume(candles: pd.DataFrame) -> tuple[np.ndarray, int]:
    """Each bar's quote volume, and how many bars had it derived from base volume x typical price."""
    derived = (candles["volume"].to_numpy(dtype=np.float64) if "volume" in candles else np.full(len(candles), np.nan))
    if len(candles) and "volume" in candles:
        typical = (candles["high"].to_numpy(dtype=np.float64) + candles["low"].to_numpy(dtype=np.float64)
                   + candles["close"].to_numpy(dtype=np.float64)) / 3.0
        derived = derived * typical
    if "quote_volume" not in candles:
        return derived, int(np.count_nonzero(~np.isnan(derived)))
    given = candles["quote_volume"].to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(given)
    return np.where(missing, derived, given), int(np.count_nonzero(missing & ~np.isnan(derived)))


def last_bar_quote_volume(dense_quote_volume: np.ndarray) -> np.ndarray:
    """(bars x symbols): the quote volume of each symbol's last completed bar before each grid bar.

    Orders fill at or after a bar's open, when that bar's own volume is not yet known, so a fill is
    measured against the previous bar the symbol traded (forward-filled over its missing bars); NaN before
    its first bar.
    """
    frame = pd.DataFrame(dense_quote_volume).shift(1).ffill()
    return frame.to_numpy(dtype=np.float64)
