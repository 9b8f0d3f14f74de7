"""Bad command-line input: a one-line error naming the option and a non-zero exit, before any work."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analytics.models import HoldoutLock, WalkForwardRun
from marketdata.models import Candle

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("args, message", [
    (["ingest_ohlcv", "--symbols", "BTC", "--timeframe", "1h", "--start", "0001-01-01", "--end", "2024-01-02"],
     "--start 0001-01-01 is outside 2009-01-03 .. 2100-01-01"),
    (["ingest_ohlcv", "--symbols", "BTC", "--timeframe", "1h", "--start", "2024-01-01", "--end", "9999-12-31"],
     "--end 9999-12-31 is outside"),
    (["ingest_ohlcv", "--symbols", "BTC", "--timeframe", "1h", "--start", "2024-02-30", "--end", "2024-03-01"],
     "--start: '2024-02-30' is not a date"),
    (["research", "--start", "2022-13-01"], "--start: '2022-13-01' is not a date"),
    (["research", "--start", "2023-01-01", "--end", "2022-01-01"], "--end must be after --start"),
    (["research", "--train-months", "0"], "--train-months must be at least 1, got 0"),
    (["research", "--test-months", "-3"], "--test-months must be at least 1, got -3"),
    (["research", "--holdout", "1.5"], "--holdout: the holdout fraction must be between 0.2 and 0.5"),
    (["research", "--holdout", "0"], "--holdout: the holdout fraction must be between 0.2 and 0.5"),
    (["lookahead", "--strategy", "curve_wars", "--start", "2022-01-01", "--end", "2023-01-01", "--parameters",
      "[1,2]"], "--parameters must be a JSON object"),
    (["lookahead", "--strategy", "curve_wars", "--start", "2022-01-01", "--end", "2023-01-01", "--parameters",
      "{oops"], "--parameters is not valid JSON"),
    (["lookahead", "--strategy", "curve_wars", "--start", "1900-01-01", "--end", "2023-01-01"],
     "--start 1900-01-01 is outside"),
    (["data_quality", "--symbols", "DOGE"], "--symbols: unknown symbol 'DOGE'"),
    (["data_quality", "--symbols", "BTC,ETH"], "no candles stored for BTC, ETH: nothing to assess"),
    (["research", "--permutations", "-1"], "--permutations must be 0 (skip) or more, got -1"),
])
def test_bad_input_is_one_line_and_does_no_work(args, message):
    with pytest.raises(CommandError) as raised:
        call_command(*args)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert Candle.objects.count() == WalkForwardRun.objects.count() == HoldoutLock.objects.count() == 0


def test_a_missing_secret_key_is_one_line_not_a_traceback(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {key: value for key, value in os.environ.items() if key not in ("DJANGO_SECRET_KEY", "DJANGO_DEBUG")}
    for command in (["createsuperuser", "--noinput"], ["check"]):
        done = subprocess.run([sys.executable, str(root / "manage.py"), *command], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 1
        assert done.stderr.strip().splitlines() == [
            "configuration error: DJANGO_SECRET_KEY is not set. Set it in the environment, or set DJANGO_DEBUG=1 "
            "for local development (never in production)."]


def test_research_progress_keeps_its_clock_moving_during_a_long_step(monkeypatch):
    import io
    import sys
    import time

    from interfaces.management.commands.research import Command

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    Command()._progress()("strategy curve_wars ...")  # one message, then a step that says nothing for a while
    time.sleep(2.3)
    assert "strategy curve_wars ... [00:02]" in terminal.getvalue()
