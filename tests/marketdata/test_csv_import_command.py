"""The import_ohlcv_csv command."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from marketdata.models import Candle
from tests.marketdata.test_csv_import import kline_lines, write

pytestmark = pytest.mark.django_db


def test_imports_files_and_prints_counts(tmp_path):
    path = write(tmp_path / "BTCUSDT-1h-2023-01.zip", kline_lines(10, scale=1000))
    out = StringIO()

    call_command("import_ohlcv_csv", str(path), "--symbol", "BTC", "--timeframe", "1h", stdout=out)

    assert "total: 10 rows, inserted 10, skipped 0" in out.getvalue()
    assert Candle.objects.filter(symbol="BTC", source="binance_csv").count() == 10


def test_bad_file_is_a_command_error_naming_the_line(tmp_path):
    lines = kline_lines(3)
    lines[2] = lines[2].replace("102.0", "x", 1)
    path = write(tmp_path / "bad.csv", lines)

    with pytest.raises(CommandError, match=r"bad\.csv, line 3"):
        call_command("import_ohlcv_csv", str(path), "--symbol", "BTC", "--timeframe", "1h", stdout=StringIO())
