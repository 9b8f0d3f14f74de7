"""analytics.lookahead: honest strategies pass, peeking ones are caught with the difference reported, and
a check that checked nothing says so instead of passing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import analytics.lookahead as lookahead
from analytics.lookahead import LOOKAHEAD_FOUND, NOTHING_CHECKED, PASSED, lookahead_check
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
    assert report.signal_bars > 0 and report.signal_cuts == min(3, report.signal_bars)
    # Strategies whose exit holds on every flat bar signal everywhere: they leave no bar for the others.
    assert report.non_signal_cuts <= 3 and len(report.cuts) == report.signal_cuts + report.non_signal_cuts
    assert report.passed and report.status == PASSED, report.to_dict()["differences"][:5]
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
    assert report.passed and report.signal_bars == 0 and len(report.cuts) == 4 == report.non_signal_cuts
    assert all(cut >= btc_data.candles["BTC"].index[10] for cut in report.cuts)
    assert "no entry/exit" in report.notes[0]


def test_sampling_is_seeded(btc_data):
    first = lookahead_check(PeekingStrategy(), btc_data, sample=3, seed=7).cuts
    again = lookahead_check(PeekingStrategy(), btc_data, sample=3, seed=7).cuts
    assert first == again


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sample": 0}, "sample must be an integer >= 1, got 0"),
    ({"sample": 2.5}, "sample must be an integer >= 1, got 2.5"),
    ({"mode": "exhaustive"}, "mode must be one of sample, replay, got 'exhaustive'"),
    ({"non_signal_sample": -1}, "non_signal_sample must be an integer >= 0, got -1"),
])
def test_bad_arguments_raise_a_one_line_value_error(btc_data, kwargs, message):
    with pytest.raises(ValueError) as raised:
        lookahead_check(SilentStrategy(), btc_data, **kwargs)
    assert str(raised.value) == message


class ExplodingStrategy(SilentStrategy):
    """Fails if it is run at all (a check on empty data must not even try)."""

    def generate_signals(self, data: MarketData) -> dict[str, pd.DataFrame]:
        raise AssertionError("run on empty data")


@pytest.mark.parametrize("mode", ["sample", "replay"])
def test_empty_data_is_nothing_checked_never_a_pass(mode):
    for data in (MarketData(candles={}), MarketData(candles={"BTC": pd.DataFrame(
            columns=["open", "high", "low", "close", "volume"], index=pd.DatetimeIndex([], tz="UTC"))})):
        report = lookahead_check(ExplodingStrategy(), data, mode=mode)
        payload = json.loads(json.dumps(report.to_dict(), allow_nan=False))
        assert report.status == payload["status"] == NOTHING_CHECKED
        assert report.passed is payload["passed"] is False
        assert payload["cuts_checked"] == payload["signal_cuts"] == payload["non_signal_cuts"] == 0
        assert payload["mode"] == mode and "no candles" in payload["notes"][0]


@pytest.mark.parametrize("mode", ["sample", "replay"])
def test_no_bar_after_the_warm_up_is_nothing_checked(btc_data, mode):
    short = btc_data.cut(btc_data.candles["BTC"].index[9])  # 10 bars, the warm-up is 10
    report = lookahead_check(SilentStrategy(), short, mode=mode)
    assert report.status == NOTHING_CHECKED and not report.passed and report.cuts == []
    assert "no bar after the warm-up of 10 bars" in report.notes[-1]
    eleven = btc_data.cut(btc_data.candles["BTC"].index[10])
    assert lookahead_check(SilentStrategy(), eleven, mode=mode).cuts == [eleven.candles["BTC"].index[10]]


def test_a_strategy_that_trades_nothing_is_nothing_checked(btc_data):
    class Abstains(SilentStrategy):
        def generate_signals(self, data):
            return {}

    report = lookahead_check(Abstains(), btc_data)
    assert report.status == NOTHING_CHECKED and "no signal frame" in report.notes[0]


def test_the_report_keeps_its_keys_and_adds_the_new_ones(btc_data):
    report = lookahead_check(PeekingStrategy(), btc_data, sample=2, seed=0)
    payload = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    old = {"passed", "cuts_checked", "cuts", "signal_bars", "difference_count", "differences", "notes",
           "strategy", "params"}
    new = {"status", "mode", "signal_cuts", "non_signal_cuts", "differing_cuts", "warmup_bars", "bars",
           "data_notes", "elapsed_seconds"}
    assert set(payload) == old | new
    assert payload["status"] == LOOKAHEAD_FOUND and payload["passed"] is False and payload["mode"] == "sample"
    assert payload["cuts_checked"] == len(payload["cuts"]) == payload["signal_cuts"] + payload["non_signal_cuts"] == 4
    assert payload["bars"] == {"BTC": 300} and payload["strategy"] == "PeekingStrategy"


def test_signal_and_non_signal_cuts_are_sampled_apart(btc_data):
    strategy = PeekingStrategy()
    signals = strategy.generate_signals(btc_data)["BTC"]
    signal_times = set(signals.index[signals["entry"]])
    report = lookahead_check(strategy, btc_data, sample=5, non_signal_sample=7, seed=3)
    assert (report.signal_cuts, report.non_signal_cuts, len(report.cuts)) == (5, 7, 12)
    assert report.cuts == sorted(report.cuts)
    assert sum(cut in signal_times for cut in report.cuts) == 5
    assert all(cut >= btc_data.candles["BTC"].index[PeekingStrategy.warmup_bars] for cut in report.cuts)
    # The signal cuts are drawn first: a seed cuts at the same signal bars with or without the others.
    alone = lookahead_check(strategy, btc_data, sample=5, non_signal_sample=0, seed=3)
    assert alone.cuts == [cut for cut in report.cuts if cut in signal_times] and alone.non_signal_cuts == 0


def test_the_replay_cuts_at_every_bar_after_the_warm_up(btc_data):
    seen: list[tuple[int, int]] = []
    report = lookahead_check(SilentStrategy(), btc_data, mode="replay", progress=lambda *a: seen.append(a))
    index = btc_data.candles["BTC"].index
    assert report.status == PASSED and report.mode == "replay"
    assert report.cuts == list(index[10:]) and report.non_signal_cuts == 290 and report.signal_cuts == 0
    assert seen[0] == (1, 290) and seen[-1] == (290, 290) and len(seen) == 290


def test_the_replay_compares_the_decision_at_each_bar(btc_data):
    report = lookahead_check(PeekingStrategy(), btc_data, mode="replay")
    close = btc_data.candles["BTC"]["close"]
    rises = close.index[(close.shift(-1) > close).to_numpy()]
    # Each bar whose next close is higher: the full run entered, the cut run (no next bar) did not.
    assert report.difference_count == report.differing_cuts == len(rises)
    assert all(d.column == "entry" and d.timestamp == d.cut_at and d.full_value and not d.cut_value
               for d in report.differences)
    assert report.signal_cuts == len(rises) and report.non_signal_cuts == len(report.cuts) - len(rises)


def test_differences_kept_are_capped_but_counted(btc_data, monkeypatch):
    report = lookahead_check(FullSampleStrategy(), btc_data, sample=1, non_signal_sample=0)
    (cut,) = report.cuts
    bars = int((btc_data.candles["BTC"].index <= cut).sum())
    assert len(report.differences) == lookahead.MAX_DIFFERENCES_PER_CUT < bars <= report.difference_count
    monkeypatch.setattr(lookahead, "MAX_REPLAY_DIFFERENCES", 7)
    replay = lookahead_check(PeekingStrategy(), btc_data, mode="replay")
    assert len(replay.differences) == 7 < replay.difference_count
    assert f"kept the first 7 of {replay.difference_count} differences" in replay.notes


def test_the_data_notes_are_reported_apart_and_left_alone(btc_data):
    import dataclasses

    data = dataclasses.replace(btc_data, notes=["ETH: no 1h candles between 2022-01-01 and 2022-02-01; not traded"])
    report = lookahead_check(SilentStrategy(), data, sample=2)
    assert report.data_notes == data.notes and report.notes == [report.notes[0]]
    assert data.notes == ["ETH: no 1h candles between 2022-01-01 and 2022-02-01; not traded"]


def test_the_fast_cut_is_data_cut():
    """The cuts are found by binary search: the same frames as ``MarketData.cut`` for every table."""
    from strategies.lending_value import LendingProtocolValue

    data = make_market_data(LendingProtocolValue, bars=260, seed=4)
    assert data.onchain and data.regime
    shuffled = data.candles["AAVE"].sample(frac=1.0, random_state=0)  # unsorted: the boolean-mask fallback
    data = MarketData(candles={**data.candles, "AAVE": shuffled}, onchain=data.onchain, regime=data.regime,
                      vendors={"AAVE": {"tvl": "DefiLlama"}})
    cutter = lookahead._Cutter(data)
    for end in (data.candles["COMP"].index[0], data.candles["COMP"].index[100], data.candles["COMP"].index[-1],
                data.candles["COMP"].index[5] + pd.Timedelta(minutes=1)):
        fast, slow = cutter(end), data.cut(end)
        assert fast.notes == [] and fast.vendors == slow.vendors
        for table in ("candles", "onchain", "social", "regime", "sentiment"):
            ours, theirs = getattr(fast, table), getattr(slow, table)
            assert ours.keys() == theirs.keys()
            for key in ours:
                pd.testing.assert_frame_equal(ours[key], theirs[key], check_freq=False)


def test_lookahead_and_strategies_import_no_django():
    code = "import sys, analytics.lookahead, strategies.registry; print('django' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    assert result.stdout.strip() == "False"
