"""The quote volume a fill is measured against under the volume-share slippage model.

A candle's ``quote_volume`` (volume in the quote currency, e.g. USDT) where it is known; otherwise base
``volume`` x typical price (``marketdata.quote_volume``). The run's summary counts the bars that needed it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketdata.quote_volume import derived_quote_volume


def quote_volume(candles: pd.DataFrame) -> tuple[np.ndarray, int]:
    """Each bar's quote volume, and how many bars had it derived from base volume x typical price."""
    if "volume" in candles:
        derived = derived_quote_volume(candles["high"].to_numpy(), candles["low"].to_numpy(),
                                       candles["close"].to_numpy(), candles["volume"].to_numpy())
    else:
        derived = np.full(len(candles), np.nan)
    if "quote_volume" not in candles:
        return derived, int(np.count_nonzero(~np.isnan(derived)))
    given = candles["quote_volume"].to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(given)
    return np.where(missing, derived, given), int(np.count_nonzero(missing & ~np.isnan(derived)))


def impact_scale(close: np.ndarray, volume_impact: float, window: int) -> np.ndarray:
    """(bars x symbols): ``volume_impact * sigma``, sigma the standard deviation of each symbol's last
    ``window`` bar log returns before the bar (at least 2; NaN before that: no impact term)."""
    returns = pd.DataFrame(np.log(close)).diff()
    sigma = returns.rolling(window, min_periods=2).std().shift(1)
    return volume_impact * sigma.to_numpy(dtype=np.float64)


def last_bar_quote_volume(dense_quote_volume: np.ndarray) -> np.ndarray:
    """(bars x symbols): the quote volume of each symbol's last completed bar before each grid bar.

    Orders fill at or after a bar's open, when that bar's own volume is not yet known, so a fill is
    measured against the previous bar the symbol traded (forward-filled over its missing bars); NaN before
    its first bar.
    """
    frame = pd.DataFrame(dense_quote_volume).shift(1).ffill()
    return frame.to_numpy(dtype=np.float64)
