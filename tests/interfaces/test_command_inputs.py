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
])
def test_bad_input_is_one_line_and_does_no_work(args, message):
    with pytest.raises(CommandError) as raised:
        call_command(*args)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert Candle.objects.count() == WalkForwardRun.objects.count() == HoldoutLock.objects.count() == 0
