"""Each of the five strategies runs on the bundled real candles through the backtest service (the path the
API and the admin use), and says which data it lacked instead of inventing it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backtests import services
from backtests.models import RunStatus
from strategies.registry import RESEARCH_STRATEGIES

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("strategy", RESEARCH_STRATEGIES, ids=lambda cls: cls.name)
def test_strategy_runs_on_bundled_data(strategy):
    from marketdata.sample import sample_load

    sample_load(symbols=[*strategy.universe, "BTC", "ETH"], timeframes=["1h"])
    config = services.backtest_create(strategy=strategy.name, start=datetime(2022, 6, 1, tzinfo=UTC),
                                      end=datetime(2023, 6, 1, tzinfo=UTC), queue=False)
    services.backtest_execute(config.pk)
    config.refresh_from_db()
    assert config.status == RunStatus.SUCCEEDED, config.error
    assert config.metrics.count() > 0 and config.final_equity > 0
    notes = " ".join(config.summary["notes"])
    if strategy.timeframe != "1h":
        assert f"{strategy.timeframe} candles built from stored 1h candles" in notes
    if strategy.needs_onchain:
        assert "price-only" in notes  # no on-chain data is bundled: the documented price-only rule, said so
    for missing in {"LYRA", "DAI", "FRAX"} & set(strategy.universe):
        assert missing in notes


def test_stablecoin_yield_is_reported_apart_from_the_equity_curve():
    from marketdata.sample import sample_load

    sample_load(symbols=["USDC", "BTC", "ETH"], timeframes=["1h"])
    config = services.backtest_create(strategy="stable_lp_yield", start=datetime(2021, 6, 1, tzinfo=UTC),
                                      end=datetime(2022, 6, 1, tzinfo=UTC), parameters={"use_regime_filter": False},
                                      queue=False)
    services.backtest_execute(config.pk)
    config.refresh_from_db()
    earned = config.summary["performance"]["yield"]
    assert config.status == RunStatus.SUCCEEDED and config.num_trades >= 1
    # a 3% APY on a position of at most 5% of equity for at most a year: between 0 and 0.15%
    assert 0.0 < earned["yield_return"] <= 0.0016
    assert "not in the equity curve" in earned["convention"]
