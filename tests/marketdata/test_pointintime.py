"""Daily fundamentals are visible only after their day ends plus the publication lag."""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketdata.pointintime import align_daily_to_bars

HOUR = pd.Timedelta(hours=1)


def _daily_tvl() -> pd.DataFrame:
    days = pd.date_range("2023-01-01", periods=3, freq="D", tz="UTC")
    return pd.DataFrame({"tvl": [100.0, 200.0, 300.0]}, index=days)


def _hourly_bars(days: int = 4) -> pd.DatetimeIndex:
    return pd.date_range("2023-01-01", periods=24 * days, freq="h", tz="UTC")


def test_day_d_value_is_never_visible_during_day_d():
    bars = _hourly_bars()
    joined = align_daily_to_bars(_daily_tvl(), bars, HOUR)
    for day, value in [("2023-01-01", 100.0), ("2023-01-02", 200.0), ("2023-01-03", 300.0)]:
        during_day = joined.loc[day]
        assert (during_day["tvl"] != value).all(), f"TVL of {day} leaked into {day}"


def test_value_appears_after_day_end_plus_lag():
    joined = align_daily_to_bars(_daily_tvl(), _hourly_bars(), HOUR)
    # The bar opening 2023-01-02 00:00 closes at 01:00 = end of Jan 1 + 1 h lag: Jan 1's value is first visible.
    assert np.isnan(joined.loc["2023-01-01 23:00", "tvl"])
    assert joined.loc["2023-01-02 00:00", "tvl"] == 100.0
    assert joined.loc["2023-01-02 00:00", "as_of"] == pd.Timestamp("2023-01-01", tz="UTC")
    assert joined.loc["2023-01-03 00:00", "tvl"] == 200.0


def test_longer_lag_delays_visibility():
    joined = align_daily_to_bars(_daily_tvl(), _hourly_bars(), HOUR, publication_lag=pd.Timedelta(hours=6))
    assert np.isnan(joined.loc["2023-01-02 04:00", "tvl"])
    assert joined.loc["2023-01-02 05:00", "tvl"] == 100.0


def test_daily_bars_see_the_previous_day_only():
    bars = pd.date_range("2023-01-01", periods=4, freq="D", tz="UTC")
    joined = align_daily_to_bars(_daily_tvl(), bars, pd.Timedelta(days=1))
    # The daily bar of Jan 2 closes at Jan 3 00:00, before Jan 2's value (Jan 3 01:00) is published:
    # it sees Jan 1's value, and no bar ever sees its own day's value.
    assert np.isnan(joined["tvl"].iloc[0])
    assert list(joined["tvl"].iloc[1:]) == [100.0, 200.0, 300.0]


def test_empty_inputs_give_nan_not_invented_values():
    bars = _hourly_bars(1)
    joined = align_daily_to_bars(pd.DataFrame({"tvl": []}, index=pd.DatetimeIndex([], tz="UTC")), bars, HOUR)
    assert joined["tvl"].isna().all() and len(joined) == len(bars)


def test_a_series_that_stopped_becomes_missing_not_frozen():
    days = pd.date_range("2022-12-28", "2022-12-30", freq="D", tz="UTC")  # a vendor export ending 2022-12-30
    daily = pd.DataFrame({"revenue": [1.0, 2.0, 3.0]}, index=days)
    bars = pd.date_range("2022-12-28", "2023-01-10", freq="1D", tz="UTC")
    aligned = align_daily_to_bars(daily, bars, pd.Timedelta(days=1), max_age=pd.Timedelta(days=3))
    revenue = aligned["revenue"]
    # The 30th's value is visible from the bar closing 2022-12-31 01:00 (the bar of the 31st closes on 1 Jan)
    assert revenue.loc["2022-12-31"] == 3.0 and revenue.loc["2023-01-02"] == 3.0
    # ... and three days after it became visible it is no longer a stand-in for the missing days.
    assert revenue.loc["2023-01-04":].isna().all() and aligned["as_of"].loc["2023-01-04":].isna().all()
