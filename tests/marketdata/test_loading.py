"""candles_upsert: idempotent, validated, all-or-nothing, on SQLite and PostgreSQL."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketdata.loading import CandleValidationError, LoadResult, candles_upsert, normalize_candles
from marketdata.models import Candle
from marketdata.selectors import candles_df

pytestmark = pytest.mark.django_db


def make_candles(n: int, *, start: str = "2022-01-01", freq: str = "1h", seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]]
    spread = np.abs(rng.normal(0, 0.005, n)) * close
    return pd.DataFrame({
        "open_time": pd.date_range(start, periods=n, freq=freq, tz="UTC"),
        "open": open_, "high": np.maximum(open_, close) + spread, "low": np.minimum(open_, close) - spread,
        "close": close, "volume": rng.uniform(0, 50, n),
        "quote_volume": rng.uniform(0, 5000, n), "quote_volume_derived": False,
        "trade_count": rng.integers(0, 900, n).astype(float),
    })


def test_upsert_inserts_all_rows_and_reads_back_the_same_values():
    frame = make_candles(2500)  # more than two batches
    frame.loc[3, "quote_volume"] = np.nan
    frame.loc[5, "trade_count"] = np.nan

    result = candles_upsert(frame, symbol="BTC", timeframe="1h", source="binance")

    assert result == LoadResult(received=2500, inserted=2500, skipped=0)
    stored = candles_df(symbol="BTC", timeframe="1h")
    assert list(stored.index) == list(frame["open_time"])
    for column in ("open", "high", "low", "close", "volume", "quote_volume", "trade_count"):
        np.testing.assert_array_equal(stored[column].to_numpy(), frame[column].to_numpy())
    assert Candle.objects.get(open_time=frame["open_time"][3]).quote_volume is None
    assert Candle.objects.get(open_time=frame["open_time"][5]).trade_count is None
    assert set(Candle.objects.values_list("source", flat=True)) == {"binance"}


def test_reloading_the_same_rows_adds_nothing():
    frame = make_candles(1200)
    candles_upsert(frame, symbol="ETH", timeframe="1h", source="binance")

    again = candles_upsert(frame, symbol="ETH", timeframe="1h", source="binance")

    assert again == LoadResult(received=1200, inserted=0, skipped=1200)
    assert Candle.objects.filter(symbol="ETH").count() == 1200


def test_overlapping_reload_inserts_only_the_new_tail():
    frame = make_candles(300)
    candles_upsert(frame.iloc[:200], symbol="BTC", timeframe="1h", source="binance")

    result = candles_upsert(frame.iloc[150:], symbol="BTC", timeframe="1h", source="binance")

    assert result == LoadResult(received=150, inserted=100, skipped=50)
    assert Candle.objects.filter(symbol="BTC").count() == 300


def test_same_times_for_another_symbol_or_timeframe_are_not_duplicates():
    frame = make_candles(48)
    candles_upsert(frame, symbol="BTC", timeframe="1h", source="binance")

    other = candles_upsert(frame, symbol="SOL", timeframe="1h", source="binance")

    assert other.inserted == 48
    assert Candle.objects.count() == 96


def test_repeated_rows_within_a_frame_count_as_skipped():
    frame = make_candles(10)
    doubled = pd.concat([frame, frame.iloc[:3]], ignore_index=True)

    result = candles_upsert(doubled, symbol="BTC", timeframe="1h", source="binance")

    assert result == LoadResult(received=13, inserted=10, skipped=3)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("high", 1.0, "high must be >= open and close"),
        ("low", 1e9, "low must be <= open and close"),
        ("volume", -1.0, "volume must be >= 0"),
        ("close", np.nan, "must be numbers"),
    ],
)
def test_a_bad_row_rejects_the_whole_frame_naming_the_row(column, value, message):
    frame = make_candles(1500)
    frame.loc[1234, column] = value

    with pytest.raises(CandleValidationError, match=message) as error:
        candles_upsert(frame, symbol="BTC", timeframe="1h", source="binance")

    assert error.value.row == 1234
    assert "row 1234" in str(error.value)
    assert str(frame.loc[1234, "open_time"].year) in str(error.value)
    assert Candle.objects.count() == 0


def test_naive_timestamps_are_rejected():
    frame = make_candles(5)
    frame["open_time"] = frame["open_time"].dt.tz_localize(None)

    with pytest.raises(CandleValidationError, match="timezone-aware"):
        candles_upsert(frame, symbol="BTC", timeframe="1h", source="binance")
    assert Candle.objects.count() == 0


def test_unaligned_timestamps_are_rejected():
    frame = make_candles(5)
    frame.loc[2, "open_time"] += pd.Timedelta(minutes=30)

    with pytest.raises(CandleValidationError, match="not aligned to the 1h grid"):
        candles_upsert(frame, symbol="BTC", timeframe="1h", source="binance")


def test_non_utc_timestamps_are_converted_to_utc():
    frame = make_candles(3)
    frame["open_time"] = frame["open_time"].dt.tz_convert("Europe/Paris")

    candles_upsert(frame, symbol="BTC", timeframe="1h", source="binance")

    assert candles_df(symbol="BTC", timeframe="1h").index[0] == pd.Timestamp("2022-01-01", tz="UTC")


def test_database_error_midway_leaves_nothing_written(monkeypatch):
    """A failure after the first batch (here a check constraint the pre-validation let through)
    rolls the whole call back."""
    import marketdata.loading as loading

    frame = make_candles(2500)
    monkeypatch.setattr(loading, "BATCH_SIZE", 1000)  # SQLite: the bad row is in the third executemany batch
    monkeypatch.setattr(loading, "_check_rows", lambda frame, timeframe: None)
    frame.loc[2200, "volume"] = -5.0  # the database's ohlcv_volume_non_negative rejects it

    with pytest.raises(Exception):  # noqa: B017 - IntegrityError on both backends
        candles_upsert(frame, symbol="BTC", timeframe="1h", source="binance")

    assert Candle.objects.count() == 0


def test_concurrent_insert_of_a_key_falls_back_to_insert_or_ignore(monkeypatch, on_postgres):
    """On PostgreSQL the pre-check can race with another writer: the COPY then fails on the
    unique constraint and the rows go through the ON CONFLICT path."""
    import marketdata.loading as loading

    frame = make_candles(20)
    candles_upsert(frame.iloc[5:6], symbol="BTC", timeframe="1h", source="binance")
    if on_postgres:
        real = loading.pg_copy_out_records
        monkeypatch.setattr(loading, "pg_copy_out_records", lambda *a, **k: real(*a, **k)[:0])

    result = candles_upsert(frame, symbol="BTC", timeframe="1h", source="binance")

    assert result == LoadResult(received=20, inserted=19, skipped=1)
    assert Candle.objects.count() == 20


def test_normalize_fills_optional_columns():
    frame = make_candles(4)[["open_time", "open", "high", "low", "close", "volume"]]

    out = normalize_candles(frame, timeframe="1h")

    assert out["quote_volume"].isna().all()
    assert out["trade_count"].isna().all()
    assert not out["quote_volume_derived"].any()


def test_copy_paths_work_with_django_debug_cursors_on_postgres(requires_postgres, db):
    """With DEBUG on, Django wraps cursors in a debug wrapper whose copy() takes no parameters: every candle
    write and read through COPY used to fail with a TypeError under the README's DJANGO_DEBUG=1."""
    from django.db import connection

    from marketdata.loading import candles_upsert
    from marketdata.selectors import candles_df
    from tests.conftest import real_candles

    frame = real_candles("2022-01-01", "2022-01-03")
    connection.force_debug_cursor = True
    try:
        first = candles_upsert(frame, symbol="BTC", timeframe="1h", source="bundled")
        again = candles_upsert(frame, symbol="BTC", timeframe="1h", source="bundled")
        stored = candles_df(symbol="BTC", timeframe="1h")
    finally:
        connection.force_debug_cursor = False
    assert (first.inserted, again.inserted, again.skipped) == (len(frame), 0, len(frame))
    assert stored["close"].tolist() == frame["close"].tolist()
