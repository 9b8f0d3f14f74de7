"""The routes around the locked holdout are refused or counted (real BTC/ETH 1h candles, 2021-12..2022-05)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analytics import holdout, services
from analytics.models import HoldoutLock, StressEvent, WalkForwardRun
from backtests.models import BacktestConfig, RunStatus
from backtests.services import backtest_create, backtest_execute
from tests import factories as f

pytestmark = pytest.mark.django_db

START, END = f.WALKFORWARD_START, f.WALKFORWARD_END


def _walkforward(**overrides) -> WalkForwardRun:
    return f.executed_walkforward(**{"max_trials": 4, **overrides})


def _backtest(**overrides) -> BacktestConfig:
    values = dict(strategy="sma_crossover", symbols=["BTC"], timeframe="1h", start=START, end=END,
                  parameters={"fast": 12, "slow": 48}, queue=False)
    values.update(overrides)
    config = backtest_create(**values)
    backtest_execute(config.pk)
    config.refresh_from_db()
    return config


@pytest.fixture
def btc_eth_4h(btc_candles_in_db):
    from marketdata.sample import sample_load
    from marketdata.services import candles_resample

    sample_load(symbols=["ETH"], timeframes=["1h"])
    candles_resample(symbol="BTC", source_timeframe="1h", target_timeframe="4h")


def test_another_timeframe_shares_the_lock_and_cannot_optimise_inside_it(btc_eth_4h):
    first = _walkforward()
    lock = HoldoutLock.objects.get()
    four_hour = _walkforward(timeframe="4h")
    assert four_hour.status == RunStatus.SUCCEEDED, four_hour.error
    assert HoldoutLock.objects.count() == 1  # one lock per strategy, not per timeframe
    assert four_hour.summary["holdout_start"] == first.summary["holdout_start"]
    assert all(period.test_end <= lock.holdout_start for period in four_hour.periods.all())
    assert four_hour.holdout_metrics["evaluations"] == 2
    assert four_hour.holdout_metrics["contaminated"] is True  # a second dataset's result was seen on it


def test_a_symbol_subset_shares_the_lock(btc_eth_4h):
    _walkforward(symbols=["BTC", "ETH"])
    subset = _walkforward(symbols=["BTC"])
    assert subset.status == RunStatus.SUCCEEDED, subset.error
    assert HoldoutLock.objects.get().dataset_key == "BTC,ETH|1h"
    assert subset.holdout_metrics["configurations"] == 2 and subset.holdout_metrics["contaminated"] is True


def test_a_plain_backtest_over_the_holdout_is_counted_and_flagged(btc_candles_in_db):
    run = _walkforward()
    config = _backtest()
    assert config.status == RunStatus.SUCCEEDED, config.error
    touch = config.summary["holdout_touch"]
    assert touch["evaluations"] == 2 and touch["contaminated"] is True
    assert "touched the holdout of sma_crossover" in touch["message"]
    lock = HoldoutLock.objects.get()
    assert [entry["kind"] for entry in lock.history] == ["walk-forward holdout", "backtest"]
    assert lock.history[1]["source"] == f"backtest #{config.pk}"
    # A backtest that ends before the holdout touches nothing.
    before = _backtest(end=lock.holdout_start)
    assert "holdout_touch" not in before.summary and HoldoutLock.objects.get().evaluations == 2
    assert run.status == RunStatus.SUCCEEDED


def test_a_backtest_run_before_the_lock_existed_is_counted_when_it_is_set(btc_candles_in_db):
    peek = _backtest()
    run = _walkforward()
    lock = HoldoutLock.objects.get()
    assert [entry["kind"] for entry in lock.history] == ["backtest before the lock", "walk-forward holdout"]
    assert lock.history[0]["source"] == f"backtest #{peek.pk}"
    assert run.holdout_metrics["contaminated"] is True


def test_a_replay_of_the_chosen_configuration_counts_but_does_not_contaminate(btc_candles_in_db):
    run = _walkforward()
    lock = HoldoutLock.objects.get()
    event = StressEvent.objects.create(slug="inside", name="Inside the holdout", start=lock.holdout_start,
                                       end=lock.holdout_end, warmup_days=10)
    reports = services.stress_test("sma_crossover", run.final_parameters, [event], symbols=["BTC"])
    assert reports[0]["holdout_touch"]["evaluations"] == 2
    assert reports[0]["holdout_touch"]["contaminated"] is False
    services.montecarlo_job(config_id=run.holdout_metrics["config_id"], iterations=50)
    lock.refresh_from_db()
    assert lock.evaluations == 3 and lock.configuration_count == 1 and not lock.contaminated
    # other parameters in a stress window inside the holdout are a second configuration
    other = {**run.final_parameters, "stop_pct": 0.2 if run.final_parameters["stop_pct"] != 0.2 else 0.1}
    reports = services.stress_test("sma_crossover", other, [event], symbols=["BTC"])
    assert reports[0]["holdout_touch"]["contaminated"] is True


def test_an_edited_strategy_is_another_configuration(btc_candles_in_db, monkeypatch):
    _walkforward()
    monkeypatch.setattr(holdout, "strategy_source_hash", lambda strategy: "edited-code")
    again = _walkforward()
    assert again.final_parameters and again.holdout_metrics["contaminated"] is True


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.6, 1.0])
def test_a_fraction_outside_the_allowed_range_is_refused(db, fraction):
    with pytest.raises(ValueError, match=r"between 0\.2 and 0\.5"):
        services.walkforward_create(strategy="sma_crossover", start=START, end=END, holdout_fraction=fraction,
                                    queue=False)
    assert not WalkForwardRun.objects.exists()


def test_a_different_fraction_once_locked_is_refused_naming_the_lock(btc_candles_in_db):
    _walkforward()
    with pytest.raises(ValueError, match=r"refused: the holdout of sma_crossover \(2022-03-\d\d\.\.2022-05-01, "
                                         r"30%, set by BTC\|1h\) is locked; a holdout of 25%"):
        _walkforward(holdout_fraction=0.25)
    assert WalkForwardRun.objects.count() == 1


def test_a_walkforward_that_ends_before_the_lock_is_refused(btc_candles_in_db):
    _walkforward()
    early = _walkforward(end=datetime(2022, 3, 1, tzinfo=UTC))
    assert early.status == RunStatus.FAILED and "must start before it and reach into it" in early.error


def test_the_api_refuses_a_bad_or_changed_fraction(btc_candles_in_db, client, django_user_model):
    user = django_user_model.objects.create_user("researcher", password="x", is_staff=True)
    client.force_login(user)
    body = {"strategy": "sma_crossover", "start": "2021-12-01", "end": "2022-05-01", "holdout_fraction": 0.0}
    response = client.post("/api/v1/backtesting/walkforward/", body, content_type="application/json")
    assert response.status_code == 400 and "holdout_fraction" in response.json()
    _walkforward()
    response = client.post("/api/v1/backtesting/walkforward/", {**body, "holdout_fraction": 0.4},
                           content_type="application/json")
    assert response.status_code == 400
    assert "is locked" in str(response.json()["holdout_fraction"])


def test_research_refuses_holdout_zero_and_a_changed_fraction_before_any_work(btc_candles_in_db, tmp_path):
    with pytest.raises(CommandError, match=r"--holdout: the holdout fraction must be between 0\.2 and 0\.5"):
        call_command("research", "--holdout", "0", "--report-dir", str(tmp_path), stdout=io.StringIO())
    _walkforward()
    with pytest.raises(CommandError, match="is locked"):
        call_command("research", "--strategies", "sma_crossover", "--holdout", "0.4", "--report-dir", str(tmp_path),
                     stdout=io.StringIO())
    assert list(tmp_path.iterdir()) == []  # refused before the report folder was made


def test_the_admin_form_refuses_a_bad_or_changed_fraction(btc_candles_in_db):
    from interfaces.admin.analytics_forms import WalkForwardRunForm

    data = {"strategy": "sma_crossover", "symbols": ["BTC"], "timeframe": "1h", "start": "2021-12-01 00:00",
            "end": "2022-05-01 00:00", "train_months": 1, "test_months": 1, "objective": "sharpe",
            "holdout_fraction": 0.0, "settings": "{}", "seed": 7}
    form = WalkForwardRunForm(data=data)
    assert not form.is_valid() and "between 0.2 and 0.5" in form.errors["holdout_fraction"][0]
    _walkforward()
    form = WalkForwardRunForm(data={**data, "holdout_fraction": 0.4})
    assert not form.is_valid() and "is locked" in form.errors["holdout_fraction"][0]
    assert WalkForwardRunForm(data={**data, "holdout_fraction": 0.3}).is_valid()
