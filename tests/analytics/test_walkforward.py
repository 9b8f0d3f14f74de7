"""Tests of analytics.walkforward: windows, holdout, degradation and stability."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from analytics import walkforward as wf


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_holdout_is_last_30_percent_rounded_to_day():
    research_end, holdout_start = wf.holdout_split("2020-01-01", "2020-11-07")  # 311 days
    assert research_end == holdout_start
    assert holdout_start == ts("2020-01-01") + pd.Timedelta(days=217)  # floor(311 * 0.7) = 217.7 -> 217
    holdout_days = (ts("2020-11-07") - holdout_start).days
    assert holdout_days >= 0.3 * 311


def test_holdout_split_validates_arguments():
    with pytest.raises(ValueError):
        wf.holdout_split("2021-01-01", "2020-01-01")
    with pytest.raises(ValueError):
        wf.holdout_split("2020-01-01", "2021-01-01", fraction=1.0)


def test_rolling_windows_step_through_range_without_passing_end():
    windows = wf.walk_forward_windows("2021-01-01", "2022-08-15", train_months=6, test_months=3)
    assert [w.train_start for w in windows] == [ts("2021-01-01"), ts("2021-04-01"), ts("2021-07-01"),
                                               ts("2021-10-01")]
    for w in windows:
        assert w.train_end == w.test_start == w.train_start + pd.DateOffset(months=6)
        assert w.test_end == w.test_start + pd.DateOffset(months=3)
        assert w.test_end <= ts("2022-08-15")
    # consecutive test periods tile the range without gaps or overlap
    assert all(a.test_end == b.test_start for a, b in itertools.pairwise(windows))
    assert [w.index for w in windows] == [0, 1, 2, 3]


def test_custom_step_and_dict_output():
    windows = wf.walk_forward_windows("2021-01-01", "2022-01-01", train_months=3, test_months=1, step_months=2)
    assert [w.train_start.month for w in windows] == [1, 3, 5, 7, 9]
    assert windows[0].to_dict()["test_end"] == "2021-05-01T00:00:00+00:00"


def test_too_short_range_raises():
    with pytest.raises(ValueError, match="shorter than one window"):
        wf.walk_forward_windows("2021-01-01", "2021-06-01", train_months=6, test_months=3)


def test_holdout_overlap_check():
    start, end = "2020-01-01", "2024-01-01"
    research_end, holdout_start = wf.holdout_split(start, end)
    safe = wf.walk_forward_windows(start, research_end)
    wf.check_no_holdout_overlap(safe, holdout_start)  # does not raise
    leaking = wf.walk_forward_windows(start, end)
    with pytest.raises(ValueError, match="overlap the holdout"):
        wf.check_no_holdout_overlap(leaking, holdout_start)


@pytest.mark.parametrize(
    ("train", "test", "expected"),
    [(2.0, 1.0, 0.5), (1.0, -0.5, -0.5), (0.0, 1.0, None), (-1.0, 0.5, None), (None, 1.0, None),
     (1.0, float("nan"), None)],
)
def test_degradation(train, test, expected):
    assert wf.degradation(train, test) == expected


def test_stability_summarises_test_periods():
    periods = [
        {"train_metrics": {"sharpe": 2.0}, "test_metrics": {"sharpe": 1.0, "total_return": 0.05}},
        {"train_metrics": {"sharpe": 1.0}, "test_metrics": {"sharpe": -0.5, "total_return": -0.02}},
        {"train_metrics": {"sharpe": -1.0}, "test_metrics": {"sharpe": 0.5, "total_return": 0.01}},
        {"train_metrics": {"sharpe": 1.5}, "test_metrics": {"sharpe": None, "total_return": None},
         "degradation": None},
    ]
    result = wf.stability(periods)
    assert result["n_periods"] == 4
    assert result["share_positive_test_objective"] == pytest.approx(2 / 4)
    assert result["share_profitable_test"] == pytest.approx(2 / 4)
    assert result["test_sharpe_mean"] == pytest.approx(1.0 / 3)
    assert result["test_sharpe_std"] == pytest.approx(pd.Series([1.0, -0.5, 0.5]).std())
    assert result["mean_degradation"] == pytest.approx((0.5 - 0.5) / 2)  # third is undefined (train < 0)
    assert result["worst_test_objective"] == -0.5


def test_stability_of_no_periods():
    assert wf.stability([])["share_positive_test_objective"] is None
