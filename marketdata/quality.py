"""Data-quality checks of one candle series (pure: pandas/numpy in, JSON-safe dict out; no Django).

``assess_candles(frame, timeframe)`` reports, for candles of one symbol and timeframe:

- ``gaps``: runs of missing bars against the expected grid between the first and the last candle,
  each ``(gap_start, gap_end, missing_bars)`` with ``gap_start`` the first missing bar and
  ``gap_end`` the first bar present again (exclusive end), so ``missing_bars = (end - start) / bar``.
- ``duplicates``: rows repeating an ``open_time`` (the database's unique constraint keeps this at
  0 for stored data; files can have them).
- ``invalid_ohlc``: rows breaking ``low <= open, close <= high`` or with ``low <= 0``;
  ``negative_volume``: rows with ``volume < 0``.
- ``zero_volume``: rows with ``volume == 0``; ``flat``: rows with ``open == high == low == close``.
- ``outliers``: bars whose close-to-close log return r is far from its recent typical size:
  ``|r - median| > k * max(1.4826 * MAD, floor)`` over the previous ``window`` returns (median and
  MAD = median absolute deviation, 1.4826 scales MAD to a standard deviation for normal returns;
  defaults k = 10, window = 168 bars, floor = 0.001 so that a stablecoin's run of zero returns does
  not turn every 0.1% tick into an outlier). A return across a gap is not judged.
- ``first``/``last`` candle times, ``rows``, ``expected_rows`` (grid bars from first to last).
- ``score`` in [0, 1]::

      score = completeness * max(0, 1 - (invalid_ohlc + negative_volume + duplicates + outliers) / rows
                                      - 0.5 * zero_volume / rows - 0.25 * flat / rows)
      completeness = rows_unique / expected_rows

  Missing bars cost in proportion; broken rows and outliers cost one bar each; zero-volume and flat
  bars are suspicious but can be genuine (quiet markets, price-only sources), so they cost less.
  An empty series scores 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from marketdata.timeframes import timeframe_delta

OUTLIER_K = 10.0
OUTLIER_WINDOW = 168
OUTLIER_MIN_PERIODS = 24
OUTLIER_FLOOR = 1e-3
MAX_LISTED_OUTLIERS = 50


@dataclass(frozen=True)
class Gap:
    start: pd.Timestamp
    end: pd.Timestamp
    missing_bars: int

    def as_dict(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "missing_bars": self.missing_bars}


def find_gaps(times: pd.DatetimeIndex | pd.Series, timeframe: str) -> list[Gap]:
    """Missing bars between consecutive distinct ``times`` on the ``timeframe`` grid."""
    delta = timeframe_delta(timeframe)
    unique = pd.DatetimeIndex(times).as_unit("ns").unique().sort_values()
    if len(unique) < 2:
        return []
    steps = np.diff(unique.asi8)
    holes = np.flatnonzero(steps > delta.value)
    return [Gap(unique[i] + delta, unique[i + 1], int(steps[i] // delta.value) - 1) for i in holes]


def find_outliers(close: pd.Series, *, k: float = OUTLIER_K, window: int = OUTLIER_WINDOW,
                  floor: float = OUTLIER_FLOOR, contiguous: np.ndarray | None = None) -> pd.Series:
    """Log returns judged outliers (see the module docstring), indexed by the bar they end at."""
    returns = np.log(close.astype("float64")).diff()
    if contiguous is not None:
        returns[~contiguous] = np.nan
    history = returns.shift(1).rolling(window, min_periods=OUTLIER_MIN_PERIODS)
    median = history.median()
    mad = (returns.shift(1) - median).abs().rolling(window, min_periods=OUTLIER_MIN_PERIODS).median()
    scale = np.maximum(1.4826 * mad, floor)
    flagged = (returns - median).abs() > k * scale
    return returns[flagged.fillna(False)]


def assess_candles(frame: pd.DataFrame, timeframe: str, *, outlier_k: float = OUTLIER_K,
                   outlier_window: int = OUTLIER_WINDOW) -> dict:
    """The quality report of one series; ``frame`` is indexed by ``open_time`` (or has that column)
    and has ``open high low close volume``. JSON-safe result; see the module docstring."""
    if "open_time" in frame.columns:
        frame = frame.set_index("open_time")
    frame = frame.sort_index(kind="stable")
    delta = timeframe_delta(timeframe)
    rows = len(frame)
    if rows == 0:
        return {"rows": 0, "expected_rows": 0, "first": None, "last": None, "missing_bars": 0, "gaps": [],
                "duplicates": 0, "invalid_ohlc": 0, "negative_volume": 0, "zero_volume": 0, "flat": 0,
                "outlier_count": 0, "outliers": [], "score": 0.0}
    index = pd.DatetimeIndex(frame.index).as_unit("ns")
    duplicates = int(index.duplicated().sum())
    unique_rows = rows - duplicates
    expected = int((index.max() - index.min()) // delta) + 1
    gaps = find_gaps(index, timeframe)
    o, h, lo, c, v = (frame[name].to_numpy("float64") for name in ("open", "high", "low", "close", "volume"))
    invalid = int((~((lo <= np.minimum(o, c)) & (h >= np.maximum(o, c)) & (lo > 0))).sum())
    negative_volume = int((v < 0).sum())
    zero_volume = int((v == 0).sum())
    flat = int(((o == h) & (h == lo) & (lo == c)).sum())
    deduped = frame[~index.duplicated()]
    contiguous = np.r_[False, np.diff(pd.DatetimeIndex(deduped.index).as_unit("ns").asi8) == delta.value]
    outliers = find_outliers(deduped["close"], k=outlier_k, window=outlier_window, contiguous=contiguous)
    penalty = (invalid + negative_volume + duplicates + len(outliers)) / rows
    penalty += 0.5 * zero_volume / rows + 0.25 * flat / rows
    completeness = min(1.0, unique_rows / expected)
    score = completeness * max(0.0, 1.0 - penalty)
    return {
        "rows": rows,
        "expected_rows": expected,
        "first": index.min().isoformat(),
        "last": index.max().isoformat(),
        "missing_bars": sum(g.missing_bars for g in gaps),
        "gaps": [g.as_dict() for g in gaps],
        "duplicates": duplicates,
        "invalid_ohlc": invalid,
        "negative_volume": negative_volume,
        "zero_volume": zero_volume,
        "flat": flat,
        "outlier_count": len(outliers),
        "outliers": [{"open_time": t.isoformat(), "log_return": round(float(r), 6)}
                     for t, r in outliers.iloc[:MAX_LISTED_OUTLIERS].items()],
        "score": round(float(score), 4),
    }
