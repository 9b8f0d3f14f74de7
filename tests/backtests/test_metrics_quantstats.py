"""backtests.metrics against quantstats, an independent implementation, on the same daily returns.

quantstats conventions matched here: ``sharpe`` = mean / std(ddof=1) * sqrt(periods); ``sortino`` uses
sqrt(sum(negative^2) / n) as downside deviation; ``cagr`` counts years as ``len(returns) / periods``;
a non-zero annual rf is de-annualised as ``(1 + rf) ** (1 / periods) - 1``. We pass quantstats the
*daily returns* (small values, so it does not mistake them for prices) and ``periods=365``.
Importing quantstats (seaborn, scipy) costs about 2.5 s, which is why these tests live in their own file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtests import metrics as m

qs = pytest.importorskip("quantstats")


@pytest.fixture
def daily_return_series() -> pd.Series:
    rng = np.random.default_rng(11)
    return pd.Series(rng.normal(0.001, 0.02, 500), index=pd.date_range("2024-01-01", periods=500, tz="UTC"))


def test_sharpe_matches_quantstats(daily_return_series):
    ours = m.sharpe_ratio(daily_return_series)
    theirs = qs.stats.sharpe(daily_return_series, periods=365)
    assert ours == pytest.approx(theirs, rel=1e-10)


def test_sharpe_with_risk_free_rate_matches_quantstats(daily_return_series):
    ours = m.sharpe_ratio(daily_return_series, risk_free_rate=0.04)
    theirs = qs.stats.sharpe(daily_return_series, rf=0.04, periods=365)
    assert ours == pytest.approx(theirs, rel=1e-10)
    assert ours < m.sharpe_ratio(daily_return_series)


def test_sortino_matches_quantstats(daily_return_series):
    assert m.sortino_ratio(daily_return_series) == pytest.approx(
        qs.stats.sortino(daily_return_series, periods=365), rel=1e-10
    )


def test_volatility_and_cagr_match_quantstats(daily_return_series):
    assert m.volatility(daily_return_series) == pytest.approx(
        qs.stats.volatility(daily_return_series, periods=365), rel=1e-10
    )
    assert m.cagr(daily_return_series) == pytest.approx(
        qs.stats.cagr(daily_return_series, periods=365), rel=1e-10
    )


def test_max_drawdown_and_calmar_match_quantstats_on_daily_curve(daily_return_series):
    equity = pd.concat(
        [pd.Series([1.0], index=[daily_return_series.index[0] - pd.Timedelta(days=1)]),
         (1 + daily_return_series).cumprod()]
    )
    mdd = m.max_drawdown(equity)
    assert mdd == pytest.approx(-qs.stats.max_drawdown(daily_return_series), rel=1e-10)
    ours = m.calmar_ratio(m.daily_returns(equity), mdd)
    assert ours == pytest.approx(qs.stats.calmar(daily_return_series, periods=365), rel=1e-10)
