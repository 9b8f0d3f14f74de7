"""The admin lists every model; result tables are read-only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from analytics.models import HoldoutLock, WalkForwardPeriod, WalkForwardRun
from backtests.models import ResearchJob
from tests import factories as f

pytestmark = pytest.mark.django_db

PROJECT_APPS = ("marketdata", "backtests", "analytics")


def _project_models():
    return [m for app in PROJECT_APPS for m in apps.get_app_config(app).get_models()]


def test_every_project_model_is_registered():
    missing = [m.__name__ for m in _project_models() if not admin.site.is_registered(m)]
    assert missing == []


@pytest.mark.parametrize("model", _project_models(), ids=lambda m: m.__name__)
def test_changelist_opens(admin_client, model):
    config = f.backtest_config()
    f.backtest_trade(config)
    f.backtest_metric(config)
    f.candle()
    f.indicator_value()
    f.onchain_metric()
    f.social_metric()
    f.sentiment_index()
    ResearchJob.objects.create(kind="data_quality")
    run = WalkForwardRun.objects.create(strategy="sma_crossover", start=f.T0, end=f.T0 + timedelta(days=400))
    WalkForwardPeriod.objects.create(run=run, index=0, train_start=f.T0, train_end=f.T0 + timedelta(days=180),
                                     test_start=f.T0 + timedelta(days=180), test_end=f.T0 + timedelta(days=270))
    HoldoutLock.objects.create(strategy="sma_crossover", dataset_key="BTC|1h", holdout_start=f.T0,
                               holdout_end=f.T0 + timedelta(days=30))
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = admin_client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


def test_backtest_page_shows_trades_and_links_the_snapshots_without_inlining_them(admin_client):
    from datetime import timedelta

    config = f.backtest_config(summary={"notes": ["BTC: data quality score 0.80 is below 0.9"],
                                        "refusals": {"portfolio_heat": 2, "missing_stop": 0},
                                        "performance": {"n_legs": 1}})
    f.backtest_trade(config, exit_reason="stop_loss")
    for hour in range(300):
        f.backtest_metric(config, timestamp=f.T0 + timedelta(hours=hour), equity=123456.0 + hour)
    response = admin_client.get(reverse("admin:backtests_backtestconfig_change", args=[config.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "stop_loss" in body and "2 by portfolio heat" in body and "data quality score 0.80" in body
    assert "123700" not in body  # the 300 snapshots are not inlined: a chart and a CSV link instead
    assert "(CSV, 300 rows)" in body
    assert 'name="_save"' not in body and "<textarea" not in body  # a run is immutable: a view, no Save
    assert "deletelink" not in body  # nor a Delete button
    csv_body = admin_client.get(reverse("admin:backtests_backtestconfig_metrics_csv", args=[config.pk]))
    lines = csv_body.content.decode().splitlines()
    assert lines[0].startswith("timestamp,equity") and len(lines) == 301 and ",123755.0," in lines[-1]
    trades = admin_client.get(reverse("admin:backtests_backtestconfig_trades_csv", args=[config.pk]))
    assert "stop_loss" in trades.content.decode()


def test_result_tables_are_read_only(admin_client):
    config = f.backtest_config()
    trade = f.backtest_trade(config)
    assert admin_client.get(reverse("admin:backtests_backtesttrade_add")).status_code == 403
    response = admin_client.post(reverse("admin:backtests_backtesttrade_change", args=[trade.pk]),
                                 {"pnl": "999"})
    assert response.status_code == 403
    trade.refresh_from_db()
    assert trade.pnl == 8.8


def test_a_research_run_is_started_followed_and_its_report_opened_from_the_admin(admin_client, btc_candles_in_db,
                                                                                 settings, tmp_path,
                                                                                 django_capture_on_commit_callbacks):
    from backtests.models import ResearchJob

    settings.REPORTS_DIR = tmp_path
    form = {"strategies": ["sma_crossover"], "max_trials": 2, "holdout_fraction": 0.3, "mc_iterations": 20,
            "permutations": 0, "seed": 1}
    assert admin_client.get(reverse("admin:backtests_researchjob_changelist")).content.decode().count(
        "Start a research run") == 1
    page = admin_client.get(reverse("admin:backtests_researchjob_start_research")).content.decode()
    assert "Fan out over the cluster" in page and 'name="cluster"' in page
    bad = admin_client.post(reverse("admin:backtests_researchjob_start_research"), {**form, "holdout_fraction": 0.9})
    assert bad.status_code == 200 and "Ensure this value is less than or equal to 0.5" in bad.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:backtests_researchjob_start_research"), form)
    job = ResearchJob.objects.get(kind="research")
    assert job.params["cluster"] is False  # the form's "Fan out over the cluster" box, left unticked
    assert response.status_code == 302 and response.url == reverse("admin:backtests_researchjob_change",
                                                                   args=[job.pk])
    assert job.status == "succeeded", job.error
    page = admin_client.get(response.url).content.decode()
    assert "open the research report" in page
    report = admin_client.get(reverse("admin:backtests_researchjob_report", args=[job.pk]))
    assert report.status_code == 200 and "Crypto strategy research report" in report.content.decode()
    ResearchJob.objects.filter(pk=job.pk).update(result={"paths": {"html": "/etc/passwd"}})
    assert admin_client.get(reverse("admin:backtests_researchjob_report", args=[job.pk])).status_code == 404


def test_a_walkforward_run_page_is_a_view_without_save_or_delete(admin_client):
    from analytics.models import WalkForwardRun

    run = WalkForwardRun.objects.create(strategy="sma_crossover", symbols=["BTC"], start=f.T0,
                                        end=f.T0 + timedelta(days=90))
    body = admin_client.get(reverse("admin:analytics_walkforwardrun_change", args=[run.pk])).content.decode()
    assert 'name="_save"' not in body and "deletelink" not in body and "sma_crossover" in body


def test_walkforward_monte_carlo_and_stress_pages_draw_their_charts(admin_client, executed_walkforward):
    from analytics.models import StressEvent
    from analytics.services import montecarlo_job, stress_test_job
    from backtests.models import ResearchJob

    run = executed_walkforward
    page = admin_client.get(reverse("admin:analytics_walkforwardrun_change", args=[run.pk])).content.decode()
    assert 'id="wf-timeline"' in page and 'id="wf-sharpe"' in page and "plotly.min.js" in page
    assert "Test periods profitable" in page and "Locked holdout" in page and "full record (JSON)" in page
    config_id = run.holdout_metrics["config_id"]
    mc = ResearchJob.objects.create(kind="montecarlo", status="succeeded",
                                    result=montecarlo_job(config_id=config_id, iterations=200))
    page = admin_client.get(reverse("admin:backtests_researchjob_change", args=[mc.pk])).content.decode()
    assert 'id="job-mc"' in page and 'id="job-mc-fan"' in page
    StressEvent.objects.create(slug="early-2022", name="Early 2022", start=f.T0 + timedelta(days=20),
                               end=f.T0 + timedelta(days=40), warmup_days=10)
    stress = ResearchJob.objects.create(kind="stress_test", status="succeeded",
                                        result=stress_test_job(strategy="sma_crossover", events=["early-2022"],
                                                               symbols=["BTC"], parameters={"stop_pct": 0.05}))
    page = admin_client.get(reverse("admin:backtests_researchjob_change", args=[stress.pk])).content.decode()
    assert 'id="job-stress"' in page
