"""Real peeks on real candles: each of these small strategies looks at the future in one classic way, and
the look-ahead check must catch it (the vetoing peek in replay mode, the others in the default sample mode
too). A causal twin of each rule passes.

The candles are the bundled Binance BTC/USDT 1h file (``marketdata/sample_data``), 2023-01 and 2023-02
(1,416 bars), read straight from the file: these tests need no database.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.lookahead import LOOKAHEAD_FOUND, PASSED, lookahead_check
from strategies.base import BaseStrategy, MarketData

WARMUP = 50


@pytest.fixture(scope="module")
def btc() -> MarketData:
    from marketdata.sample import read_sample_file, sample_files

    (bundled,) = [f for f in sample_files(symbols=["BTC"], timeframes=["1h"]) if "2021_2023" in f.relative_path]
    frame, _ = read_sample_file(bundled)
    candles = frame.set_index("open_time")[["open", "high", "low", "close", "volume"]]
    candles = candles[(candles.index >= "2023-01-01") & (candles.index < "2023-03-01")]
    assert len(candles) == 1416 and candles.index.is_monotonic_increasing
    return MarketData(candles={"BTC": candles})


class _OnBTC(BaseStrategy):
    universe = ("BTC",)
    regime_symbols = ()
    warmup_bars = WARMUP

    def rule(self, close: pd.Series) -> tuple[pd.Series, pd.Series]:
        raise NotImplementedError

    def generate_signals(self, data: MarketData) -> dict[str, pd.DataFrame]:
        close = data.candles["BTC"]["close"]
        entry, exit_ = self.rule(close)
        frame = self.empty_signals(close.index)
        frame["entry"] = entry.fillna(False).to_numpy(dtype=bool)
        frame["exit"] = exit_.fillna(False).to_numpy(dtype=bool)
        frame["stop"] = (close * 0.95).where(frame["entry"].to_numpy())
        return {"BTC": frame}


def sma_cross(close: pd.Series, fast: int = 10, slow: int = 30) -> tuple[pd.Series, pd.Series]:
    fast_sma, slow_sma = close.rolling(fast).mean(), close.rolling(slow).mean()
    above = fast_sma > slow_sma
    below = fast_sma < slow_sma
    return above & below.shift(1, fill_value=False), below & above.shift(1, fill_value=False)


def breakout(close: pd.Series, window: int = 24) -> tuple[pd.Series, pd.Series]:
    return close > close.rolling(window).max().shift(1), close < close.rolling(window).min().shift(1)


def next_bar_falls(close: pd.Series) -> pd.Series:
    """The peek: True when the NEXT bar closes lower (unknowable at this bar's close)."""
    return close.shift(-1) < close


# ----------------------------------------------------------------------------- (a) the vetoing peek
class CausalCrossover(_OnBTC):
    name = "causal_crossover"

    def rule(self, close):
        return sma_cross(close)


class VetoedCrossover(_OnBTC):
    """SMA 10/30 crossover whose entries are skipped when the next bar falls; no column shows the veto."""

    name = "vetoed_crossover"

    def rule(self, close):
        entry, exit_ = sma_cross(close)
        return entry & ~next_bar_falls(close), exit_


class CausalBreakout(_OnBTC):
    name = "causal_breakout"

    def rule(self, close):
        return breakout(close)


class VetoedBreakout(_OnBTC):
    """Close above the previous 24h high, skipped when the next bar falls."""

    name = "vetoed_breakout"

    def rule(self, close):
        entry, exit_ = breakout(close)
        return entry & ~next_bar_falls(close), exit_


def vetoed_bars(causal: type[_OnBTC], data: MarketData) -> pd.DatetimeIndex:
    """Bars after the warm-up where the causal rule enters and the peek vetoes it (computed independently)."""
    close = data.candles["BTC"]["close"]
    entry, _ = causal().rule(close)
    vetoed = np.array(entry & next_bar_falls(close), dtype=bool)
    vetoed[:WARMUP] = False
    return close.index[vetoed]


#: What the default sample mode (20 signal + 20 other cuts, seed 0) finds on this data: (status, cuts hit).
SAMPLE_MODE_OUTCOME = {VetoedCrossover: (LOOKAHEAD_FOUND, 2), VetoedBreakout: (PASSED, 0)}


@pytest.mark.parametrize(("peeking", "causal", "vetoed"), [(VetoedCrossover, CausalCrossover, 19),
                                                           (VetoedBreakout, CausalBreakout, 75)],
                         ids=["crossover", "breakout"])
def test_the_signal_vetoing_peek_is_caught_by_the_replay(btc, peeking, causal, vetoed):
    expected = vetoed_bars(causal, btc)
    assert len(expected) == vetoed

    replay = lookahead_check(peeking(), btc, mode="replay")
    assert replay.status == LOOKAHEAD_FOUND and not replay.passed
    assert len(replay.cuts) == 1416 - WARMUP == replay.signal_cuts + replay.non_signal_cuts
    # Exactly the vetoed bars differ, each at its own cut: the full run skipped the entry (and so set no
    # stop), the causal replay took it. Two differences per vetoed bar: entry and stop.
    assert replay.differing_cuts == vetoed and replay.difference_count == 2 * vetoed
    assert {d.cut_at for d in replay.differences} == set(expected)
    assert all(d.timestamp == d.cut_at and d.column == "entry" and not d.full_value and d.cut_value
               for d in replay.differences if d.column == "entry")
    assert {d.column for d in replay.differences} == {"entry", "stop"}  # the stop is set on entry bars

    assert lookahead_check(causal(), btc, mode="replay").status == PASSED


@pytest.mark.parametrize(("peeking", "causal"), [(VetoedCrossover, CausalCrossover),
                                                 (VetoedBreakout, CausalBreakout)], ids=["crossover", "breakout"])
def test_how_the_sample_mode_fares_with_the_vetoing_peek(btc, peeking, causal):
    expected = set(vetoed_bars(causal, btc))
    # Cutting at signal bars alone can never catch it, however many: the full run enters only where the
    # veto did not fire, and there the cut run (which never vetoes) enters too.
    every_signal = lookahead_check(peeking(), btc, sample=10_000, non_signal_sample=0)
    assert len(every_signal.cuts) == every_signal.signal_cuts == every_signal.signal_bars > 20
    assert every_signal.status == PASSED and every_signal.non_signal_cuts == 0

    # The non-signal cuts catch it exactly when one lands on a vetoed bar; whether one does is luck.
    report = lookahead_check(peeking(), btc)
    assert (report.signal_cuts, report.non_signal_cuts) == (20, 20)
    hit = {cut for cut in report.cuts if cut in expected}
    assert report.differing_cuts == len(hit) and {d.cut_at for d in report.differences} == hit
    assert (report.status, report.differing_cuts) == SAMPLE_MODE_OUTCOME[peeking]

    # Cutting at every bar where it does not signal finds every vetoed bar (as the replay does).
    dense = lookahead_check(peeking(), btc, sample=1, non_signal_sample=10_000)
    assert dense.differing_cuts == len(expected)


# ----------------------------------------------------------------------------- (b)-(e) peeks on every bar
class CentredWindow(_OnBTC):
    """Close crossing a centred 5-bar mean (the mean at t averages t-2..t+2)."""

    name = "centred_window"

    def rule(self, close):
        mean = close.rolling(5, center=True).mean()
        return ((close > mean) & (close.shift(1) <= mean.shift(1)),
                (close < mean) & (close.shift(1) >= mean.shift(1)))


class ShiftedIndicator(_OnBTC):
    """A causal crossover that carries an indicator column built with shift(-1) (the next bar's return)."""

    name = "shifted_indicator"

    def generate_signals(self, data):
        out = super().generate_signals(data)
        close = data.candles["BTC"]["close"]
        out["BTC"]["next_return"] = (close.shift(-1) / close - 1.0).to_numpy()
        return out

    def rule(self, close):
        return sma_cross(close)


class FullSampleZScore(_OnBTC):
    """Enters when the z-score of close (mean and std of the whole series) drops below -1."""

    name = "full_sample_zscore"

    def rule(self, close):
        z = (close - close.mean()) / close.std()
        return (z < -1.0) & (z.shift(1) >= -1.0), (z > 0.0) & (z.shift(1) <= 0.0)


class DailyCloseJoined(_OnBTC):
    """Enters when the hour is 1% below the day's close: the daily resample joined back onto the hours."""

    name = "daily_close_joined"

    def day_close(self, close: pd.Series) -> pd.Series:
        daily = close.resample("1D").last()
        return pd.Series(daily.reindex(close.index.floor("D")).to_numpy(), index=close.index)

    def rule(self, close):
        below = close < self.day_close(close) * 0.99
        return below & ~below.shift(1, fill_value=False), close > self.day_close(close) * 1.01


class DailyTransform(DailyCloseJoined):
    name = "daily_transform"

    def day_close(self, close):
        return close.resample("1D").transform("last")


#: peek -> (cuts checked, cuts that differ, differences, columns) in the default sample mode on this data.
EVERY_BAR_PEEKS = {
    CentredWindow: (40, 33, 62, {"entry", "exit", "stop"}),
    ShiftedIndicator: (40, 40, 40, {"next_return"}),
    FullSampleZScore: (28, 28, 302, {"entry", "exit", "stop"}),
    DailyCloseJoined: (40, 29, 186, {"entry", "exit", "stop"}),
    DailyTransform: (40, 29, 186, {"entry", "exit", "stop"}),
}


@pytest.mark.parametrize("peeking", list(EVERY_BAR_PEEKS), ids=[cls.name for cls in EVERY_BAR_PEEKS])
def test_every_bar_peeks_are_caught_by_the_default_sample_mode(btc, peeking):
    report = lookahead_check(peeking(), btc)
    assert report.status == LOOKAHEAD_FOUND and not report.passed
    cuts, differing, differences, columns = EVERY_BAR_PEEKS[peeking]
    assert (len(report.cuts), report.differing_cuts, report.difference_count) == (cuts, differing, differences)
    assert {d.column for d in report.differences} <= columns and report.differences
    if peeking is not ShiftedIndicator:  # the decisions themselves change, not only a debug column
        assert {d.column for d in report.differences} & {"entry", "exit"}
    # The replay catches them too.
    assert lookahead_check(peeking(), btc, mode="replay").status == LOOKAHEAD_FOUND


def test_the_peeks_differ_at_the_cut_bar_itself(btc):
    """The cut run has no future at all, so a peek shows at the cut bar (the shifted column on every cut)."""
    report = lookahead_check(ShiftedIndicator(), btc)
    assert all(d.timestamp == d.cut_at and np.isnan(d.cut_value) for d in report.differences)
