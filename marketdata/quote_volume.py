"""Quote volume from base volume where a source gives base volume only (pure; no Django).

The stand-in is base volume x the bar's typical price ``(high + low + close) / 3``, the usual proxy for its
volume-weighted average price (an exchange's own quote volume is the sum of price x quantity over the bar's
trades). Stored candles derived this way carry ``quote_volume_derived = True``.
"""

from __future__ import annotations

import numpy as np


def derived_quote_volume(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """Base volume x typical price, element by element (float64)."""
    typical = (np.asarray(high, dtype=np.float64) + np.asarray(low, dtype=np.float64)
               + np.asarray(close, dtype=np.float64)) / 3.0
    return np.asarray(volume, dtype=np.float64) * typical
