"""Importing Binance kline dumps and the bundled formats: units, headers, compression, errors."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marketdata.csv_import import CandleFileError, epoch_unit, ohlcv_csv_import, read_candle_file
from marketdata.models import Candle
from marketdata.selectors import candles_df

HOUR_MS = 3_600_000
T0_MS = 1_672_531_200_000  # 2023-01-01 00:00 UTC
HEADER = ("open_time,open,high,low,close,volume,close_time,quote_asset_volume,number_of_trades,"
          "taker_buy_base_asset_volume,taker_buy_quote_asset_volume,ignore")


def kline_lines(n: int, *, scale: int = 1, start_ms: int = T0_MS) -> list[str]:
    """Binance dump rows; ``scale=1000`` writes microsecond times like the 2025+ dumps."""
    lines = []
    for i in range(n):
        open_ms = start_ms + i * HOUR_MS
        price = 100.0 + i
        lines.append(",".join(str(v) for v in (
            open_ms * scale, price, price + 2, price - 1, price + 1, 10.5 + i, (open_ms + HOUR_MS - 1) * scale,
            1000.25 + i, 40 + i, 5.0, 500.0, 0)))
    return lines


def write(path: Path, lines: list[str], *, header: bool = False) -> Path:
    text = "\n".join(([HEADER] if header else []) + lines) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    elif path.suffix == ".zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(path.stem + ".csv", text)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("scale", [1, 1000], ids=["milliseconds", "microseconds"])
@pytest.mark.parametrize("header", [False, True], ids=["no-header", "header"])
@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".zip"])
def test_reads_binance_dumps_in_every_shape(tmp_path, scale, header, suffix):
    path = write(tmp_path / f"BTCUSDT-1h-2023-01{suffix}", kline_lines(5, scale=scale), header=header)

    frame = read_candle_file(path)

    assert list(frame["open_time"]) == list(pd.date_range("2023-01-01", periods=5, freq="1h", tz="UTC"))
    assert frame["open"].tolist() == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert frame["quote_volume"].tolist() == [1000.25, 1001.25, 1002.25, 1003.25, 1004.25]
    assert frame["trade_count"].tolist() == [40, 41, 42, 43, 44]
    assert frame["line"].tolist() == list(range(2, 7) if header else range(1, 6))


@pytest.mark.parametrize(("magnitude", "unit"), [(1.7e9, "s"), (1.7e12, "ms"), (1.7e15, "us"), (1.7e18, "ns")])
def test_epoch_unit_by_magnitude(magnitude, unit):
    assert epoch_unit(magnitude) == unit


@pytest.mark.django_db
def test_import_loads_and_a_rerun_adds_nothing(tmp_path):
    january = write(tmp_path / "a.csv", kline_lines(24))
    second_day = write(tmp_path / "b.csv.gz", kline_lines(24, scale=1000, start_ms=T0_MS + 12 * HOUR_MS))

    first = ohlcv_csv_import(paths=[january, second_day], symbol="btc", timeframe="1h")
    again = ohlcv_csv_import(paths=[january, second_day], symbol="BTC", timeframe="1h")

    assert (first.totals.received, first.totals.inserted, first.totals.skipped) == (48, 36, 12)
    assert again.totals.inserted == 0 and again.totals.skipped == 48
    stored = candles_df(symbol="BTC", timeframe="1h")
    assert len(stored) == 36 and stored.index.is_monotonic_increasing
    assert set(Candle.objects.values_list("source", flat=True)) == {"binance_csv"}


@pytest.mark.django_db
def test_bad_ohlc_row_names_file_and_line_and_writes_nothing(tmp_path):
    lines = kline_lines(6)
    fields = lines[3].split(",")
    fields[2] = "50"  # high below open and close
    lines[3] = ",".join(fields)
    path = write(tmp_path / "bad.csv", lines, header=True)

    with pytest.raises(CandleFileError, match=r"bad\.csv, line 5: .*high must be >= open and close"):
        ohlcv_csv_import(paths=[path], symbol="BTC", timeframe="1h")
    assert Candle.objects.count() == 0


def test_non_numeric_value_names_file_and_line(tmp_path):
    lines = kline_lines(4)
    lines[2] = lines[2].replace("102.0", "oops", 1)
    path = write(tmp_path / "typo.csv", lines)

    with pytest.raises(CandleFileError, match=r"typo\.csv, line 3: open is not a number \('oops'\)"):
        read_candle_file(path)


def test_too_few_columns_without_header_is_explained(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("1672531200000,1,2,0.5\n")

    with pytest.raises(CandleFileError, match=r"short\.csv: a file without a header needs the Binance kline"):
        read_candle_file(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(CandleFileError, match=r"nope\.csv: no such file"):
        read_candle_file(tmp_path / "nope.csv")


def test_zip_member_is_named_in_errors(tmp_path):
    lines = kline_lines(3)
    lines[1] = lines[1].replace(",", ",x", 1)
    path = write(tmp_path / "dump.zip", lines)

    with pytest.raises(CandleFileError, match=r"dump\.zip:dump\.csv, line 2"):
        read_candle_file(path)


def test_reads_dated_csv_with_ticker_column(tmp_path):
    path = tmp_path / "BTCUSDT_1h.csv.gz"
    path.write_bytes(gzip.compress(
        b"date,open,high,low,close,volume,ticker\n"
        b"2021-04-04 20:00:00,57953.86,58051.25,57826.16,58025.11,1240.2,BTCUSDT\n"
        b"2021-04-04 21:00:00,58025.11,58184.00,57976.73,58116.69,987.37,BTCUSDT\n"))

    frame = read_candle_file(path)

    assert frame["open_time"].iloc[1] == pd.Timestamp("2021-04-04 21:00", tz="UTC")
    assert frame["trade_count"].isna().all()
    # base volume only: quote volume = volume x typical price, flagged as derived
    typical = (58184.00 + 57976.73 + 58116.69) / 3
    assert frame["quote_volume"].iloc[1] == pytest.approx(987.37 * typical, rel=1e-12)
    assert frame["quote_volume_derived"].all()


def test_a_given_quote_volume_is_kept_and_not_flagged(tmp_path):
    path = tmp_path / "BTCUSDT_1h.csv"
    path.write_bytes(b"date,open,high,low,close,volume,quote_volume\n"
                     b"2021-04-04 20:00:00,57953.86,58051.25,57826.16,58025.11,1240.2,71900000.5\n")
    frame = read_candle_file(path)
    assert frame["quote_volume"].iloc[0] == 71900000.5 and not frame["quote_volume_derived"].any()


@pytest.mark.django_db
def test_coingecko_price_snapshots_are_flat_candles_and_off_grid_points_dropped(tmp_path):
    path = tmp_path / "dai.csv"
    path.write_text(
        "timestamp,readableTimestamp,coinId,price,marketCap,totalVolume\n"
        '1609459200000,"1/1/2021, 12:00:00 AM",dai,1.0026,1168798536.5,368689973.3\n'
        '1609545600000,"1/2/2021, 12:00:00 AM",dai,1.0040,1206386946.2,368235238.9\n'
        '1609567200000,"1/2/2021, 6:00:00 AM",dai,1.0010,1206386946.2,368235238.9\n')

    result = ohlcv_csv_import(paths=[path], symbol="DAI", timeframe="1d", source="coingecko")

    assert result.files[0].dropped_off_grid == 1 and result.totals.inserted == 2
    stored = candles_df(symbol="DAI", timeframe="1d")
    assert (stored[["open", "high", "low"]].to_numpy() == stored[["close"]].to_numpy()).all()
    np.testing.assert_allclose(stored["volume"] * stored["close"], stored["quote_volume"])


def test_reads_json_candles(tmp_path):
    path = tmp_path / "usdc.json"
    path.write_text(json.dumps({"meta": {}, "data": [
        {"dt": "2023-03-11T08:30:00.000Z", "o": 0.91, "h": 0.92, "l": 0.8994, "c": 0.905, "v": 10.0}]}))

    frame = read_candle_file(path)

    assert frame["open_time"].iloc[0] == pd.Timestamp("2023-03-11 08:30", tz="UTC")
    assert frame["low"].iloc[0] == 0.8994


def test_unknown_symbol_is_refused_before_reading(tmp_path):
    with pytest.raises(ValueError, match="unknown symbol 'DOGE'"):
        ohlcv_csv_import(paths=[tmp_path / "x.csv"], symbol="DOGE", timeframe="1h")
