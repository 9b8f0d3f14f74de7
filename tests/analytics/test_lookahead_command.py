"""``manage.py lookahead`` on the bundled real candles: the five strategies pass; a peeking one is caught;
the exit code says which (0 passed, 1 look-ahead found, 2 nothing checked or bad input)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from strategies.base import BaseStrategy, Param
from strategies.registry import RESEARCH_STRATEGIES, STRATEGIES
from tests.analytics.test_lookahead_peeks import VetoedCrossover

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


class PeekingCrossover(BaseStrategy):
    """Enters when tomorrow's close is higher: a deliberate look-ahead."""

    name = "peeking_test_strategy"
    universe = ("BTC",)
    parameters = {"stop_pct": Param(0.05, 0.01, 0.2, kind="float")}
    regime_symbols = ()

    def generate_signals(self, data):
        out = {}
        for symbol, candles in data.candles.items():
            frame = self.empty_signals(candles.index)
            future = candles["close"].shift(-1)
            frame["entry"] = (future > candles["close"] * 1.01).to_numpy()
            frame["exit"] = (future < candles["close"]).to_numpy()
            frame["stop"] = candles["close"] * (1 - self.params["stop_pct"])
            out[symbol] = frame
        return out


def _load(symbols):
    from marketdata.sample import sample_load

    sample_load(symbols=[*symbols, "BTC", "ETH"], timeframes=["1h"])


def _load_btc(start="2023-01-01", end="2023-03-01"):
    """Only the BTC 1h rows of the bundled 2021-2023 file in ``[start, end)`` (quick to load)."""
    from marketdata.csv_import import load_candle_table
    from marketdata.sample import read_sample_file, sample_files

    (bundled,) = [f for f in sample_files(symbols=["BTC"], timeframes=["1h"]) if "2021_2023" in f.relative_path]
    frame, _ = read_sample_file(bundled)
    window = frame[(frame["open_time"] >= pd.Timestamp(start, tz="UTC")) & (frame["open_time"] < pd.Timestamp(end, tz="UTC"))]
    load_candle_table(window, name=bundled.relative_path, symbol="BTC", timeframe="1h", source=bundled.source)


def _run(*args) -> tuple[int, str]:
    """(exit code, stdout) of ``manage.py lookahead`` through call_command."""
    out = io.StringIO()
    try:
        call_command("lookahead", *args, stdout=out, stderr=io.StringIO())
    except SystemExit as exit_info:
        return int(exit_info.code), out.getvalue()
    return 0, out.getvalue()


# ----------------------------------------------------------------------------------------------- exit 0
@pytest.mark.parametrize("strategy", [cls.name for cls in RESEARCH_STRATEGIES])
def test_each_research_strategy_passes_on_real_data(strategy):
    cls = STRATEGIES[strategy]
    _load(cls.universe)
    code, text = _run("--strategy", strategy, "--start", "2022-06-01", "--end", "2023-12-01", "--sample", "4")
    assert code == 0
    assert "PASSED: no look-ahead found at " in text.splitlines()[-1]


def test_a_pass_says_how_many_cuts_where():
    _load_btc()
    code, text = _run("--strategy", "sma_crossover", "--start", "2023-01-05", "--end", "2023-03-01")
    assert code == 0
    assert text.splitlines()[-1] == "PASSED: no look-ahead found at 40 cuts (20 at signals, 20 elsewhere)"
    code, text = _run("--strategy", "sma_crossover", "--start", "2023-01-05", "--end", "2023-03-01",
                      "--sample", "5", "--non-signal-sample", "0")
    assert code == 0 and text.splitlines()[-1] == "PASSED: no look-ahead found at 5 cuts (5 at signals, 0 elsewhere)"


def test_the_replay_passes_an_honest_strategy():
    _load_btc()
    code, text = _run("--strategy", "sma_crossover", "--start", "2023-02-01", "--end", "2023-02-08", "--mode", "replay")
    assert code == 0
    last = text.splitlines()[-1]
    assert last.startswith("PASSED: no look-ahead found at 168 cuts (every bar after the warm-up: ")


# ----------------------------------------------------------------------------------------------- exit 1
def test_a_peeking_strategy_is_caught_with_bar_column_and_values(monkeypatch):
    monkeypatch.setitem(STRATEGIES, PeekingCrossover.name, PeekingCrossover)
    _load(())
    code, text = _run("--strategy", PeekingCrossover.name, "--start", "2023-01-01", "--end", "2023-02-01",
                      "--sample", "3")
    assert code == 1 and text.splitlines()[-1].startswith("FAILED: look-ahead found: ")
    first = text.splitlines()[1]  # bar, column and both values
    assert first.startswith("  BTC 2023-01-") and "(data cut at this bar)" in first
    assert "'entry': full run True, cut run False" in text or "'exit': full run True, cut run False" in text


def test_the_vetoing_peek_passes_signal_cuts_and_fails_the_replay(monkeypatch):
    monkeypatch.setitem(STRATEGIES, VetoedCrossover.name, VetoedCrossover)
    _load_btc()
    window = ("--strategy", VetoedCrossover.name, "--start", "2023-01-03", "--end", "2023-03-01")
    code, text = _run(*window, "--sample", "200", "--non-signal-sample", "0")
    assert code == 0 and "PASSED" in text  # cutting at every signal bar cannot see it
    code, text = _run(*window, "--mode", "replay")
    assert code == 1
    assert text.splitlines()[-1].startswith("FAILED: look-ahead found: 38 differences at 19 of ")
    assert "  BTC 2023-01-03 11:00 'entry': full run False, cut run True (data cut at this bar)" in text
    assert "  BTC 2023-01-03 11:00 'stop': full run NaN, cut run 15884.9" in text


# ----------------------------------------------------------------------------------------------- exit 2
BAD_INPUT = [
    (["--strategy", "sma_crossover", "--start", "2023-02-01", "--end", "2023-01-01"], "--end must be after --start"),
    (["--strategy", "sma_crossover", "--start", "2023-02-01", "--end", "2023-02-01"], "--end must be after --start"),
    (["--strategy", "sma_crossover", "--start", "2023-01-01", "--end", "2023-02-01", "--symbols", "BTC,DOGE"],
     "--symbols: unknown symbol 'DOGE'; supported: BTC, ETH"),
    (["--strategy", "no_such_strategy", "--start", "2023-01-01", "--end", "2023-02-01"],
     "unknown strategy 'no_such_strategy'; known: "),
    (["--strategy", "sma_crossover", "--start", "2023-01-01", "--end", "2023-02-01", "--parameters", "{oops"],
     "--parameters is not valid JSON"),
    (["--strategy", "sma_crossover", "--start", "2023-01-01", "--end", "2023-02-01", "--parameters", '{"fast": 500}'],
     "parameter 'fast'=500 is invalid"),
    (["--strategy", "sma_crossover", "--start", "2023-01-01", "--end", "2023-02-01", "--timeframe", "7m"],
     "unknown timeframe '7m'"),
    (["--strategy", "sma_crossover", "--start", "2023-13-01", "--end", "2023-02-01"],
     "--start: '2023-13-01' is not a date"),
    (["--strategy", "sma_crossover", "--start", "2023-01-01", "--end", "2023-02-01", "--sample", "0"],
     "--sample must be at least 1, got 0"),
    (["--strategy", "sma_crossover", "--start", "2023-01-01", "--end", "2023-02-01", "--non-signal-sample", "-2"],
     "--non-signal-sample must be at least 0, got -2"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT, ids=[m.split(";")[0][:40] for _, m in BAD_INPUT])
def test_bad_input_exits_2_with_one_line(args, message):
    with pytest.raises(CommandError) as raised:
        call_command("lookahead", *args, stdout=io.StringIO())
    assert raised.value.returncode == 2
    assert message in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize(("args", "message"), [
    (["--start", "2020-01-01", "--end", "2020-02-01"],
     "no 1h candles for BTC between 2020-01-01 and 2020-02-01: nothing to check"),
    (["--start", "2023-01-01", "--end", "2023-02-01", "--symbols", "LYRA"],  # a known symbol, never loaded
     "no 1h candles for LYRA between 2023-01-01 and 2023-02-01: nothing to check"),
    (["--start", "2023-01-01", "--end", "2023-02-01", "--symbols", "LYRA", "--mode", "replay"],
     "no 1h candles for LYRA between 2023-01-01 and 2023-02-01: nothing to check"),
    # Candles, but all inside the warm-up: this printed PASSED and exited 0 before.
    (["--start", "2023-01-01", "--end", "2023-01-02"],
     "BTC 1h between 2023-01-01 and 2023-01-02: no bar after the warm-up of 50 bars (the longest signal frame has "
     "24): nothing to check"),
])
def test_nothing_checked_exits_2_and_never_passes(args, message):
    _load_btc()
    out = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("lookahead", "--strategy", "sma_crossover", *args, stdout=out)
    assert raised.value.returncode == 2 and str(raised.value) == message
    assert "PASSED" not in out.getvalue()


def test_nothing_checked_in_json_is_reported_then_exits_2():
    out = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("lookahead", "--strategy", "sma_crossover", "--start", "2020-01-01", "--end", "2020-02-01",
                     "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert raised.value.returncode == 2
    assert report["status"] == "nothing checked" and report["passed"] is False and report["cuts_checked"] == 0
    assert report["data_notes"] == ["BTC: no 1h candles between 2019-12-29 and 2020-02-01; not traded"]


def test_a_missing_symbol_beside_a_checked_one_is_a_note():
    _load_btc()
    code, text = _run("--strategy", "sma_crossover", "--start", "2023-01-05", "--end", "2023-02-01",
                      "--symbols", "BTC,LYRA", "--sample", "2")
    assert code == 0 and "note: LYRA: no 1h candles between" in text and "PASSED" in text


@pytest.mark.parametrize(("args", "message"), [
    (["--start", "2023-02-01", "--end", "2023-01-01"], "CommandError: --end must be after --start"),
    (["--start", "2023-01-01", "--end", "2023-02-01", "--symbols", "DOGE"], "CommandError: --symbols: unknown symbol"),
    (["--start", "2023-01-01", "--end", "2023-02-01", "--mode", "everything"], "invalid choice: 'everything'"),
], ids=["start-after-end", "unknown-symbol", "bad-mode"])
def test_the_process_exits_2_with_one_line_on_stderr_and_no_traceback(args, message):
    result = subprocess.run([sys.executable, "manage.py", "lookahead", "--strategy", "sma_crossover", *args],
                            capture_output=True, text=True, cwd=ROOT, env={**os.environ, "DJANGO_DEBUG": "1"},
                            timeout=120)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr and result.stdout == ""
    if message.startswith("CommandError"):
        assert len(result.stderr.strip().splitlines()) == 1


def test_the_help_documents_the_exit_codes():
    from interfaces.management.commands.lookahead import Command

    assert "0 = passed" in Command.help and "1 = look-ahead found" in Command.help
    assert "2 = nothing checked" in Command.help and "bad input" in Command.help
