"""analytics.lookahead: honest strategies pass, peeking ones are caught with the difference reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analytics.lookahead import lookahead_check
from strategies.base import BaseStrategy, MarketData, Param
from strategies.registry import RESEARCH_STRATEGIES
from strategies.stable_lp_yield import StableLPYieldOptimizer
from tests.strategies.synthetic import make_market_data


class PeekingStrategy(BaseStrategy):
    """Buys when tomorrow's close is higher: uses close.shift(-1), i.e. the future."""

    name = "peeking"
    universe = ("BTC",)
    parameters = {"unused": Param(1, 1, 2)}
    regime_symbols = ()

    def generate_signals(self, data: MarketData) -> dict[str, pd.DataFrame]:
        close = data.candles["BTC"]["close"]
        frame = self.empty_signals(close.index)
        frame["entry"] = (close.shift(-1) > close).to_numpy()
        frame["stop"] = close * 0.95
        return {"BTC": frame}


class FullSampleStrategy(BaseStrategy):
    """Compares each close with the mean of the whole sample (a full-sample statistic)."""

    name = "full_sample"
    universe = ("BTC",)
    regime_symbols = ()

    def generate_signals(self, data: MarketData) -> dict[str, pd.DataFrame]:
        close = data.candles["BTC"]["close"]
        frame = self.empty_signals(close.index)
        frame["entry"] = (close < close.mean()).to_numpy()
        frame["debug_mean"] = close.mean()
        return {"BTC": frame}


class SilentStrategy(BaseStrategy):
    name = "silent"
    universe = ("BTC",)
    regime_symbols = ()
    warmup_bars = 10

    def generate_signals(self, data: MarketData) -> dict[str, pd.DataFrame]:
        return {"BTC": self.empty_signals(data.candles["BTC"].index)}


@pytest.fixture(scope="module")
def btc_data() -> MarketData:
    return make_market_data(PeekingStrategy, bars=300, seed=5, onchain=False)


CASES = [(cls, {}, {}) for cls in RESEARCH_STRATEGIES] + [
    # Price-only stablecoin run where USDC is preferred, so its synthetic depeg forces a rotation.
    (StableLPYieldOptimizer, {"onchain": False}, {"fallback_apy": {"USDC": 0.08}}),
]


@pytest.mark.parametrize(("cls", "data_kwargs", "strategy_kwargs"), CASES,
                         ids=[f"{c.name}{'-' + next(iter(k)) if k else ''}" for c, k, _ in CASES])
def test_research_strategies_have_no_lookahead(cls, data_kwargs, strategy_kwargs):
    data = make_market_data(cls, bars=450, seed=1, **data_kwargs)
    report = lookahead_check(cls(**strategy_kwargs), data, sample=3, seed=0)
    assert report.signal_bars > 0 and len(report.cuts) == min(3, report.signal_bars)
    assert report.passed, report.to_dict()["differences"][:5]
    assert data.notes == []  # the caller's notes are left alone


def test_peeking_strategy_is_caught_at_the_cut_bar(btc_data):
    report = lookahead_check(PeekingStrategy(), btc_data, sample=5, seed=1)
    assert not report.passed
    assert report.difference_count >= 1
    entry_diffs = [d for d in report.differences if d.column == "entry"]
    assert entry_diffs
    for diff in entry_diffs:
        assert diff.symbol == "BTC" and diff.timestamp == diff.cut_at
        assert diff.full_value is True or diff.full_value == 1
        assert not diff.cut_value
    payload = json.loads(json.dumps(report.to_dict()))
    assert payload["passed"] is False
    assert payload["differences"][0]["timestamp"].startswith(str(entry_diffs[0].timestamp.year))


def test_full_sample_statistics_are_caught_in_debug_columns(btc_data):
    report = lookahead_check(FullSampleStrategy(), btc_data, sample=3, seed=0)
    assert not report.passed
    assert "debug_mean" in {d.column for d in report.differences}


def test_a_strategy_that_never_signals_is_still_checked(btc_data):
    report = lookahead_check(SilentStrategy(), btc_data, sample=4, seed=2)
    assert report.passed and report.signal_bars == 0 and len(report.cuts) == 4
    assert all(cut >= btc_data.candles["BTC"].index[10] for cut in report.cuts)
    assert "no entry/exit" in report.notes[0]


def test_sampling_is_seeded(btc_data):
    first = lookahead_check(PeekingStrategy(), btc_data, sample=3, seed=7).cuts
    again = lookahead_check(PeekingStrategy(), btc_data, sample=3, seed=7).cuts
    assert first == again


def test_sample_must_be_positive(btc_data):
    with pytest.raises(ValueError, match="sample"):
        lookahead_check(SilentStrategy(), btc_data, sample=0)


def test_lookahead_and_strategies_import_no_django():
    code = "import sys, analytics.lookahead, strategies.registry; print('django' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    assert result.stdout.strip() == "False"
