"""Point-in-time joins of daily fundamentals onto candles (pure module, no Django).

A daily value for UTC day D (TVL, fees, sentiment) describes the whole day, so it is only known after D ends;
data providers publish it later still. Here a value for day D becomes visible at ``D + 1 day + publication_lag``
(default lag: one hour). A strategy decides at the close of bar t, so the value joined onto bar t is the latest
one whose visibility time is at or before that bar's close. Nothing later can leak into an earlier bar.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_PUBLICATION_LAG = pd.Timedelta(hours=1)
#: How long a daily value stands in for the missing next ones: beyond this age (from its visibility time)
#: a series that stopped (a vendor export ending in 2022, a delisted protocol) is *missing*, not frozen.
DEFAULT_MAX_AGE = pd.Timedelta(days=3)


def available_at(days: pd.Index, publication_lag: pd.Timedelta = DEFAULT_PUBLICATION_LAG) -> pd.DatetimeIndex:
    """When each daily value becomes visible: the end of its UTC day plus the publication lag."""
    day_start = pd.DatetimeIndex(pd.to_datetime(days, utc=True)).normalize()
    return day_start + pd.Timedelta(days=1) + publication_lag


def align_daily_to_bars(
    daily: pd.DataFrame,
    bar_index: pd.DatetimeIndex,
    bar_length: pd.Timedelta,
    publication_lag: pd.Timedelta = DEFAULT_PUBLICATION_LAG,
    max_age: pd.Timedelta = DEFAULT_MAX_AGE,
) -> pd.DataFrame:
    """Join ``daily`` (indexed by day) onto bars (indexed by open time), as known at each bar's close.

    Returns a frame on ``bar_index`` with the daily columns plus ``as_of`` (the day whose value is shown);
    bars before any value is visible get NaN (never a back-filled value), and so do bars whose latest
    visible value is older than ``max_age`` (the series stopped: never a frozen last value).
    """
    columns = list(daily.columns)
    if daily.empty or len(bar_index) == 0:
        out = pd.DataFrame(index=bar_index, columns=[*columns, "as_of"], dtype="float64")
        out["as_of"] = pd.Series(pd.NaT, index=bar_index, dtype="datetime64[ns, UTC]")
        return out
    known = daily.copy()
    known["as_of"] = pd.DatetimeIndex(pd.to_datetime(known.index, utc=True)).normalize()
    known["visible_at"] = available_at(known.index, publication_lag)
    known = known.sort_values("visible_at").reset_index(drop=True)
    known["visible_at"] = known["visible_at"].astype("datetime64[ns, UTC]")
    bars = pd.DataFrame({"bar_close": (pd.DatetimeIndex(bar_index) + bar_length).astype("datetime64[ns, UTC]")})
    joined = pd.merge_asof(bars, known, left_on="bar_close", right_on="visible_at", direction="backward")
    stale = (joined["bar_close"] - joined["visible_at"]) > max_age
    joined.loc[stale, [*columns, "as_of"]] = np.nan
    joined.index = bar_index
    return joined[[*columns, "as_of"]]
