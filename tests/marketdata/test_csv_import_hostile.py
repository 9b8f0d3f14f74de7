"""Hostile candle files: wrong symbol, corrupt or truncated archives, decompression bombs, a bad member after
a good one. Each is a one-line error and nothing is imported."""

from __future__ import annotations

import gzip
import zipfile
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from marketdata import csv_import
from marketdata.models import Candle
from tests.marketdata.test_csv_import import kline_lines, write

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("import_ohlcv_csv", *args, stdout=out)
    return out.getvalue()


def test_a_btc_dump_imported_as_eth_is_refused_unless_forced(tmp_path):
    path = write(tmp_path / "BTCUSDT-1h-2024-01.zip", kline_lines(5))
    with pytest.raises(CommandError, match=r"the file name says BTCUSDT \(BTC\), not ETH; use --force"):
        run(str(path), "--symbol", "ETH", "--timeframe", "1h")
    assert Candle.objects.count() == 0
    assert "inserted 5" in run(str(path), "--symbol", "ETH", "--timeframe", "1h", "--force")


def test_a_dump_named_for_another_timeframe_is_refused(tmp_path):
    path = write(tmp_path / "BTCUSDT-1m-2024-01.zip", kline_lines(5))
    with pytest.raises(CommandError, match="says 1m candles, not 1h"):
        run(str(path), "--symbol", "BTC", "--timeframe", "1h")


def test_a_ticker_column_naming_another_symbol_is_refused(tmp_path):
    path = tmp_path / "candles.csv"
    path.write_text("date,open,high,low,close,volume,ticker\n2024-01-01 00:00,1,2,0.5,1.5,10,BTCUSDT\n")
    with pytest.raises(CommandError, match="its ticker column names BTC, not ETH"):
        run(str(path), "--symbol", "ETH", "--timeframe", "1h")


def test_a_bad_second_member_imports_nothing_and_says_so(tmp_path):
    good = "\n".join(kline_lines(5)) + "\n"
    bad_lines = kline_lines(5, start_ms=1672531200000 + 5 * 3_600_000)
    bad_lines[3] = bad_lines[3].replace("103.0", "x", 1)
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", good)
        archive.writestr("b.csv", "\n".join(bad_lines) + "\n")
    with pytest.raises(CommandError, match=r"two\.zip:b\.csv, line 4: .*\(nothing was imported\)"):
        run(str(path), "--symbol", "BTC", "--timeframe", "1h")
    assert Candle.objects.count() == 0  # a.csv's five rows were not kept


def test_a_corrupt_zip_member_and_a_truncated_gzip_are_errors_not_tracebacks(tmp_path):
    path = write(tmp_path / "good.zip", kline_lines(200))
    raw = bytearray(path.read_bytes())
    start = raw.index(b"PK\x03\x04") + 30 + len("good.csv")
    raw[start + 10:start + 40] = b"\x00" * 30  # damage the deflated data
    path.write_bytes(bytes(raw))
    with pytest.raises(CommandError, match="corrupt zip archive"):
        run(str(path), "--symbol", "BTC", "--timeframe", "1h")
    truncated = tmp_path / "cut.csv.gz"
    truncated.write_bytes(gzip.compress(("\n".join(kline_lines(500)) + "\n").encode())[:-40])
    with pytest.raises(CommandError, match="corrupt or truncated gzip"):
        run(str(truncated), "--symbol", "BTC", "--timeframe", "1h")


def test_decompression_bombs_are_refused_before_they_fill_memory(tmp_path):
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(b"0" * 5_000_000))  # 5 MB of zeros in ~5 kB
    with pytest.raises(csv_import.CandleFileError, match="more than 100000 bytes uncompressed"):
        list(csv_import.iter_candle_tables(bomb, max_bytes=100_000))
    claimed = tmp_path / "claim.zip"
    with zipfile.ZipFile(claimed, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.csv", b"1" * 200_000)
    with pytest.raises(csv_import.CandleFileError, match="claims 200000 bytes uncompressed"):
        list(csv_import.iter_candle_tables(claimed, max_bytes=100_000))
