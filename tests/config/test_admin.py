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


def test_backtest_change_page_shows_trades_and_metrics(admin_client):
    config = f.backtest_config()
    f.backtest_trade(config, exit_reason="stop_loss")
    f.backtest_metric(config, equity=123456.0)
    response = admin_client.get(reverse("admin:backtests_backtestconfig_change", args=[config.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "stop_loss" in body and "123456" in body


def test_result_tables_are_read_only(admin_client):
    config = f.backtest_config()
    trade = f.backtest_trade(config)
    assert admin_client.get(reverse("admin:backtests_backtesttrade_add")).status_code == 403
    response = admin_client.post(reverse("admin:backtests_backtesttrade_change", args=[trade.pk]),
                                 {"pnl": "999"})
    assert response.status_code == 403
    trade.refresh_from_db()
    assert trade.pnl == 8.8
