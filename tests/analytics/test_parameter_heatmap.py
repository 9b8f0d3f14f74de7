"""The objective over the full grid of any two parameters of a walk-forward, on its research range only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from analytics import services
from analytics.models import HoldoutLock
from backtests.models import ResearchJob
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_the_full_grid_of_two_parameters_with_the_chosen_cell_equal_to_the_research_result(btc_candles_in_db,
                                                                                            monkeypatch):
    from strategies.base import Param
    from strategies.examples import SmaCrossover

    monkeypatch.setattr(SmaCrossover, "parameters", {"fast": Param(10, 5, 20, step=5), "slow": Param(50, 30, 70,
                        step=20), "stop_pct": Param(0.05, 0.05, 0.15, step=0.05, kind="float")})
    run = f.executed_walkforward(max_trials=4)
    evaluations = HoldoutLock.objects.get().evaluations
    heat = services.parameter_heatmap(run, "fast", "stop_pct")
    assert heat["x_values"] == [5, 10, 15, 20] and heat["y_values"] == pytest.approx([0.05, 0.1, 0.15])
    assert heat["evaluations"] == 12 and all(len(row) == 4 for row in heat["z"]) and len(heat["z"]) == 3
    chosen = run.final_parameters
    cell = heat["z"][heat["y_values"].index(chosen["stop_pct"])][heat["x_values"].index(chosen["fast"])]
    assert cell == pytest.approx(run.summary["final_train_metrics"]["sharpe"])  # the same range, the same result
    assert heat["fixed"] == {"slow": chosen["slow"]}
    assert HoldoutLock.objects.get().evaluations == evaluations  # never evaluated on the holdout
    with pytest.raises(ValueError, match="choose two different parameters of sma_crossover"):
        services.parameter_heatmap(run, "fast", "nope")


def test_the_api_and_the_admin_queue_it_and_show_the_chart(btc_candles_in_db, admin_client,
                                                           django_capture_on_commit_callbacks, monkeypatch):
    from strategies.base import Param
    from strategies.examples import SmaCrossover

    monkeypatch.setattr(SmaCrossover, "parameters", {"fast": Param(10, 5, 15, step=5), "slow": Param(50, 30, 50,
                        step=20), "stop_pct": Param(0.05, 0.05, 0.1, step=0.05, kind="float")})
    run = f.executed_walkforward(max_trials=3)
    api = "/api/v1/backtesting/parameter-heatmap"
    bad = admin_client.post(api, {"walkforward_id": run.pk, "x": "fast", "y": "fast"}, content_type="application/json")
    assert bad.status_code == 400 and "two different parameters" in str(bad.json())
    with django_capture_on_commit_callbacks(execute=True):
        ok = admin_client.post(api, {"walkforward_id": run.pk, "x": "fast", "y": "slow"},
                               content_type="application/json")
    assert ok.status_code == 202
    job = ResearchJob.objects.get(kind="parameter_heatmap")
    assert job.status == "succeeded" and job.result["evaluations"] == 6
    form = admin_client.get(reverse("admin:analytics_walkforwardrun_heatmap", args=[run.pk])).content.decode()
    assert "fast (3 values)" in form
    with django_capture_on_commit_callbacks(execute=True):
        posted = admin_client.post(reverse("admin:analytics_walkforwardrun_heatmap", args=[run.pk]),
                                   {"x": "slow", "y": "stop_pct"})
    assert posted.status_code == 302
    page = admin_client.get(posted.url).content.decode()
    assert 'id="job-heatmap"' in page and "slow x stop_pct" in page
