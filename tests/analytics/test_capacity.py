"""The capacity curve: Sharpe and return against starting capital under the volume-share cost model."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.capacity import DEFAULT_CAPITALS, capacity_config, capacity_curve, read_outs
from analytics.capacity_services import capacity_test
from backtests.engine import EngineConfig


def points(*sharpes):
    return [{"capital": 10.0 ** (4 + i), "sharpe_ratio": s} for i, s in enumerate(sharpes)]


def test_capacity_is_the_last_capital_keeping_half_the_small_account_sharpe():
    assert read_outs(points(2.0, 1.8, 1.1, 0.4, -0.3)) == {"capacity": 1e6, "edge_gone_at": 1e8}
    assert read_outs(points(2.0, 2.0, 2.0)) == {"capacity": 1e6, "edge_gone_at": None}
    assert read_outs(points(-0.5, -1.0)) == {"capacity": None, "edge_gone_at": 1e4}
    assert read_outs(points(1.0, None, 1.0)) == {"capacity": 1e4, "edge_gone_at": 1e5}  # no trades: no Sharpe


def test_every_point_runs_under_the_volume_share_model_at_its_capital():
    seen = []

    def evaluate(config: EngineConfig):
        seen.append((config.initial_capital, config.costs.slippage_model, config.fee_rate))
        return {"sharpe_ratio": 1.0}

    curve = capacity_curve(evaluate, EngineConfig(fee_rate=0.002), capitals=(1e3, 1e6))
    assert seen == [(1e3, "volume_share", 0.002), (1e6, "volume_share", 0.002)]
    assert curve["model"]["max_volume_share"] == EngineConfig().costs.max_volume_share
    with pytest.raises(ValueError, match="strictly increasing"):
        capacity_curve(evaluate, EngineConfig(), capitals=(1e6, 1e3))
    assert capacity_config(EngineConfig(), 5e5).costs.slippage_model == "volume_share"


@pytest.mark.django_db
def test_on_real_btc_candles_costs_grow_with_capital_until_the_volume_cap_binds(btc_candles_in_db):
    """BTC 1h, 2022-01..04, an SMA crossover: at 10 000 USDT the fills are a sliver of an hour's volume; at
    100 million the volume cap cuts fills and slippage per unit traded is many times larger."""
    curve = capacity_test("sma_crossover", {"fast": 10, "slow": 30, "stop_pct": 0.05},
                          pd.Timestamp("2022-02-01", tz="UTC"), pd.Timestamp("2022-05-01", tz="UTC"),
                          timeframe="1h", capitals=(1e4, 1e6, 1e8, 1e10))
    by_capital = {p["capital"]: p for p in curve["points"]}
    assert [p["capital"] for p in curve["points"]] == [1e4, 1e6, 1e8, 1e10]
    small, large, huge = by_capital[1e4], by_capital[1e8], by_capital[1e10]
    assert small["n_trades"] > 0 and small["exits_cut_by_volume_cap"] == small["refused_for_volume"] == 0
    assert small["slippage_per_traded"] < by_capital[1e6]["slippage_per_traded"] < large["slippage_per_traded"]
    assert large["refused_for_volume"] > 0 and large["exits_cut_by_volume_cap"] > 0  # the cap binds
    assert huge["n_trades"] == 0 and huge["refused_for_volume"] > 0  # no fill reaches the minimum position
    assert set(curve) >= {"capacity", "edge_gone_at", "points", "model"}
    assert DEFAULT_CAPITALS == (1e4, 1e5, 1e6, 1e7, 1e8)


def test_the_report_says_the_curve_in_words_and_draws_it():
    from analytics.charts import capacity_figure
    from analytics.report import capacity_lines, execution_lines

    curve = {"points": [{"capital": 1e4, "sharpe_ratio": 1.2, "total_return": 0.08, "n_trades": 40,
                         "slippage_per_traded": 0.0051, "refused_for_volume": 0, "exits_cut_by_volume_cap": 0},
                        {"capital": 1e8, "sharpe_ratio": -0.4, "total_return": -0.03, "n_trades": 12,
                         "slippage_per_traded": 0.031, "refused_for_volume": 20, "exits_cut_by_volume_cap": 3}],
             "capacity": 1e4, "edge_gone_at": 1e8, "keep": 0.5,
             "model": {"slippage_rate": 0.005, "volume_impact": 1.0, "max_volume_share": 0.025}}
    lines = capacity_lines(curve)
    assert lines[1] == ("10k: Sharpe 1.20, return 8.0%, 40 positions, slippage 0.51% of the value traded")
    assert "23 fills refused or cut by the volume cap" in lines[2]
    assert lines[-1].startswith("Capacity: 10k USDT") and "the edge is gone at 100M" in lines[-1]
    fig = capacity_figure(curve)
    assert fig is not None and fig.layout.xaxis.type == "log" and len(fig.data) == 2
    assert capacity_figure({"points": curve["points"][:1]}) is None

    execution = {"fees": "one rate for every fill", "slippage_model": "fixed", "stop_updates": "tighten",
                 "stop_moves_refused": 3, "carry_per_hour": {"long": 0.0, "short": 1.25e-05},
                 "intrabar": {"detail_timeframe": "15m", "bars_with_detail": 200,
                              "bars_reaching_stop_and_target": 2, "resolved_stop_first": 1,
                              "resolved_target_first": 1, "coarse_rule": 0}}
    text = " ".join(execution_lines(execution))
    assert "2 bars reached both stop and target: 1 resolved target first" in text
    assert "3 stop moves refused" in text and "short 0.00125%" in text
    for bad in ("{", "None", "True", "False"):
        assert bad not in text and bad not in " ".join(lines)
