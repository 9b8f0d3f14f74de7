"""The notebook API: one call gives the same performance as a stored run's computation, and writes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import interfaces.notebook as nb
from backtests.models import BacktestConfig, BacktestMetric, BacktestTrade
from backtests.services import backtest_compute, backtest_create
from strategies.base import BaseStrategy, Param

ROOT = Path(__file__).resolve().parents[2]
START, END = "2022-01-01", "2022-07-01"


@pytest.fixture(scope="module")
def bundled_candles(django_db_setup, django_db_blocker):
    from marketdata.models import Candle
    from marketdata.sample import sample_load

    with django_db_blocker.unblock():
        sample_load(symbols=["BTC", "ETH"], timeframes=["1h"])
        yield
        Candle.objects.all().delete()


def _stored_counts() -> tuple[int, int, int]:
    return BacktestConfig.objects.count(), BacktestTrade.objects.count(), BacktestMetric.objects.count()


@pytest.mark.django_db
def test_backtest_equals_the_stored_runs_computation_and_writes_nothing(bundled_candles):
    before = _stored_counts()
    result = nb.backtest("sma_crossover", START, END, symbols=["BTC", "ETH"], fast=10, slow=40, stop_pct=0.05)
    assert _stored_counts() == before

    config = backtest_create(strategy="sma_crossover", symbols=["BTC", "ETH"], timeframe="1h",
                             start=pd.Timestamp(START, tz="UTC").to_pydatetime(),
                             end=pd.Timestamp(END, tz="UTC").to_pydatetime(),
                             parameters={"fast": 10, "slow": 40, "stop_pct": 0.05}, queue=False)
    outcome = backtest_compute(config)
    assert result.performance == outcome.performance
    assert result.performance["n_trades"] > 0
    pd.testing.assert_frame_equal(result.trades, outcome.result.trades)

    assert isinstance(result.equity, pd.Series) and result.equity.index[0] >= pd.Timestamp(START, tz="UTC")
    assert result.equity.iloc[-1] == pytest.approx(result.performance["final_equity"])
    assert len(result.trades) == result.performance["n_legs"]
    assert result.parameters == {"fast": 10, "slow": 40, "stop_pct": 0.05} and result.timeframe == "1h"
    assert isinstance(result.notes, list)
    text = repr(result)
    assert text.startswith("Backtest sma_crossover(fast=10, slow=40, stop_pct=0.05) on BTC, ETH 1h, 2022-01-01 .. 2022-07-01")
    for word in ("return", "Sharpe", "max drawdown", f"positions {result.performance['n_trades']}"):
        assert word in text


@pytest.mark.django_db
def test_a_class_defined_in_the_notebook_runs_without_registering(bundled_candles):
    class Dip(BaseStrategy):
        name = "dip_in_notebook"
        universe = ("BTC",)
        parameters = {"drop": Param(0.03, 0.01, 0.1, kind="float")}
        warmup_bars = 24
        regime_symbols = ()

        def generate_signals(self, data):
            out = {}
            for symbol, candles in data.candles.items():
                frame = self.empty_signals(candles.index)
                change = candles["close"].pct_change(24)
                frame["entry"] = change < -self.params["drop"]
                frame["exit"] = change > self.params["drop"]
                frame["stop"] = candles["close"] * 0.9
                out[symbol] = frame
            return out

    result = nb.backtest(Dip, START, END, params={"drop": 0.05}, costs={"fee_rate": 0.0})
    assert result.strategy == "dip_in_notebook" and result.parameters == {"drop": 0.05}
    assert result.symbols == ["BTC"] and result.performance["n_trades"] > 0


@pytest.mark.django_db
def test_bad_input_is_a_clear_value_error(bundled_candles):
    with pytest.raises(ValueError, match="unknown strategy 'nope'"):
        nb.backtest("nope", START, END)
    with pytest.raises(ValueError, match="parameter 'fast'"):
        nb.backtest("sma_crossover", START, END, fast=10_000)
    with pytest.raises(ValueError, match="end must be after start"):
        nb.backtest("sma_crossover", END, START)
    with pytest.raises(ValueError, match="no 1h candles for SOL"):
        nb.backtest("sma_crossover", START, END, symbols=["SOL"])


def test_setup_is_idempotent_and_works_in_a_fresh_interpreter():
    nb.setup()
    nb.setup()
    code = ("import interfaces.notebook as nb\nnb.setup(); nb.setup()\n"
            "from django.apps import apps\nassert apps.ready\n")
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env["DJANGO_DEBUG"] = "1"
    completed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 0, completed.stderr


@pytest.mark.django_db
def test_the_readme_notebook_example_runs(bundled_candles):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("import interfaces.notebook as nb", 1)[1].split("```", 1)[0]
    code = "import interfaces.notebook as nb" + block.replace(".show()", "")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    result = namespace["r"]
    assert result.performance["n_trades"] > 0 and "Sharpe" in repr(result)
    equity_figure, candles_figure = result.plot(), result.plot("BTC")
    assert len(equity_figure.data) == 2 and equity_figure.data[0].name == "equity"
    assert candles_figure.data[0].type == "candlestick"
    assert sum(len(trace.x) for trace in candles_figure.data[1:]) == 2 * len(result.trades)  # entry and exit
