"""The fast candle paths of non-PostgreSQL backends (executemany writes, raw-cursor reads) give exactly what the
previous implementations gave; those are kept here as the reference. Run on both backends: the generic
branches (datetime parameters, text times) are exercised on PostgreSQL too."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from django.db import connection, transaction

import marketdata.loading as loading
from marketdata.loading import FRAME_COLUMNS, candles_upsert, normalize_candles
from marketdata.models import Candle
from marketdata.selectors import CANDLE_COLUMNS, _sqlite_candles, candles_df
from tests.marketdata.test_loading import make_candles

pytestmark = pytest.mark.django_db


# --- the previous implementations (reference) ---------------------------------------------------------------


def previous_parameters(rows: pd.DataFrame, *, symbol: str, timeframe: str, source: str) -> list[tuple]:
    times = previous_datetime_params(rows["open_time"])
    quote = rows["quote_volume"].astype(object).where(rows["quote_volume"].notna(), None).tolist()
    trades = [None if np.isnan(v) else int(v) for v in rows["trade_count"].to_numpy()]
    columns = [times, *(rows[name].tolist() for name in ("open", "high", "low", "close", "volume")),
               quote, rows["quote_volume_derived"].tolist(), trades]
    return [(symbol, timeframe, *values, source) for values in zip(*columns, strict=True)]


def previous_datetime_params(times: pd.Series) -> list:
    if connection.vendor != "sqlite":
        return [connection.ops.adapt_datetimefield_value(t) for t in times.dt.to_pydatetime()]
    naive = times.dt.tz_convert("UTC").dt.tz_localize(None)
    text = naive.dt.strftime("%Y-%m-%d %H:%M:%S")
    micros = naive.dt.microsecond.to_numpy()
    if micros.any():
        suffix = pd.Series(np.char.mod(".%06d", micros), index=text.index).where(micros != 0, "")
        text = text + suffix
    return text.tolist()


def previous_orm_candles(*, symbol, timeframe, start, end):
    qs = Candle.objects.filter(symbol=symbol, timeframe=timeframe)
    if start is not None:
        qs = qs.filter(open_time__gte=start)
    if end is not None:
        qs = qs.filter(open_time__lt=end)
    rows = list(qs.order_by("open_time").values_list("open_time", *CANDLE_COLUMNS))
    raw = pd.DataFrame(rows, columns=["open_time", *CANDLE_COLUMNS])
    index = pd.DatetimeIndex(pd.to_datetime(raw["open_time"], utc=True)).as_unit("ns")
    return index, {name: raw[name].to_numpy("float64", na_value=np.nan) for name in CANDLE_COLUMNS}


# --- helpers -------------------------------------------------------------------------------------------------


def odd_rows(n: int = 130) -> pd.DataFrame:
    """Normalised rows with every optional-column case: NULL quote volume and trade count, derived flags, and
    (written straight through the loader, past the grid check) times with microseconds and nanoseconds."""
    rows = normalize_candles(make_candles(n), timeframe="1h")
    rows.loc[[1, 50, 99], "quote_volume"] = np.nan
    rows.loc[[2, 50, 120], "trade_count"] = np.nan
    rows.loc[[3, 4], "quote_volume_derived"] = True
    times = rows["open_time"].copy()
    times.iloc[10] += pd.Timedelta(microseconds=1)
    times.iloc[11] += pd.Timedelta(milliseconds=250)
    times.iloc[12] += pd.Timedelta(nanoseconds=789)
    rows["open_time"] = times
    return rows[list(FRAME_COLUMNS)]


def flat(batches) -> list[tuple]:
    return [row for batch in batches for row in batch]


def typed(rows: list[tuple]) -> list[tuple]:
    return [tuple((type(value).__name__, value) for value in row) for row in rows]


def read_both(**bounds):
    new_index, new_columns = _sqlite_candles(symbol="BTC", timeframe="1h", **bounds)
    old_index, old_columns = previous_orm_candles(symbol="BTC", timeframe="1h", **bounds)
    new = pd.DataFrame(new_columns, index=new_index.rename("open_time"))
    old = pd.DataFrame(old_columns, index=old_index.rename("open_time"))
    return new, old


# --- writes --------------------------------------------------------------------------------------------------


def test_executemany_parameters_are_the_previous_ones_value_for_value_and_type_for_type():
    rows = odd_rows()

    new = flat(loading._parameter_batches(rows, symbol="BTC", timeframe="1h", source="binance", size=40))

    assert typed(new) == typed(previous_parameters(rows, symbol="BTC", timeframe="1h", source="binance"))
    assert [len(batch) for batch in loading._parameter_batches(rows, symbol="BTC", timeframe="1h",
                                                               source="binance", size=40)] == [40, 40, 40, 10]
    assert list(loading._parameter_batches(rows.iloc[:0], symbol="BTC", timeframe="1h", source="x")) == []


def test_sqlite_datetime_text_is_what_djangos_adapter_writes():
    times = pd.Series(pd.to_datetime(
        ["2022-01-01 00:00:00", "2022-01-01 00:00:00.5", "1999-12-31 23:59:59.000001", "2262-04-11 23:47:16",
         "1677-09-21 00:12:44", "2022-03-01 01:02:03.000000789"], utc=True, format="ISO8601")).dt.as_unit("ns")

    texts = loading.sqlite_datetime_texts(times.to_numpy("datetime64[ns]"))

    assert texts == ["2022-01-01 00:00:00", "2022-01-01 00:00:00.500000", "1999-12-31 23:59:59.000001",
                     "2262-04-11 23:47:16", "1677-09-21 00:12:44", "2022-03-01 01:02:03"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # to_pydatetime drops the nanoseconds (and may say so)
        expected = [str(t) for t in times.dt.tz_localize(None).dt.to_pydatetime()]
    assert texts == expected


def test_executemany_load_stores_and_counts_like_before():
    rows = odd_rows()
    with transaction.atomic():
        first = loading._executemany_load(rows.iloc[:100], symbol="BTC", timeframe="1h", source="binance")
    with transaction.atomic():
        again = loading._executemany_load(rows, symbol="BTC", timeframe="1h", source="binance")

    assert (first, again) == (100, 30)
    stored = Candle.objects.filter(symbol="BTC").order_by("open_time")
    assert stored.count() == 130
    assert [i for i, c in enumerate(stored) if c.quote_volume is None] == [1, 50, 99]
    assert [i for i, c in enumerate(stored) if c.trade_count is None] == [2, 50, 120]
    assert [i for i, c in enumerate(stored) if c.quote_volume_derived] == [3, 4]
    assert stored[11].open_time == datetime(2022, 1, 1, 11, 0, 0, 250_000, tzinfo=UTC)
    new, old = read_both(start=None, end=None)
    pd.testing.assert_frame_equal(new, old)


def test_upsert_on_this_backend_reads_back_exactly():
    frame = make_candles(2345)
    frame.loc[[5, 600], "quote_volume"] = np.nan
    frame.loc[[7, 2000], "trade_count"] = np.nan

    assert candles_upsert(frame, symbol="BTC", timeframe="1h", source="binance").inserted == 2345
    again = candles_upsert(frame.iloc[2000:], symbol="BTC", timeframe="1h", source="binance")

    assert (again.inserted, again.skipped) == (0, 345)
    stored = candles_df(symbol="BTC", timeframe="1h")
    for column in CANDLE_COLUMNS:
        np.testing.assert_array_equal(stored[column].to_numpy(), frame[column].to_numpy())


# --- reads ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bounds", [
    {"start": None, "end": None},
    {"start": datetime(2022, 1, 1, 5, tzinfo=UTC), "end": datetime(2022, 1, 3, 10, tzinfo=UTC)},
    {"start": pd.Timestamp("2022-01-02 01:00", tz="Europe/Paris"), "end": None},  # 2022-01-02 00:00 UTC
    {"start": None, "end": datetime(2022, 1, 1, 11, 0, 0, 250_000, tzinfo=UTC)},  # end exclusive, to the µs
    {"start": datetime(2030, 1, 1, tzinfo=UTC), "end": None},  # nothing
])
def test_raw_cursor_read_is_the_orm_read(bounds):
    with transaction.atomic():
        loading._executemany_load(odd_rows(), symbol="BTC", timeframe="1h", source="binance")
    candles_upsert(make_candles(20), symbol="ETH", timeframe="1h", source="binance")

    new, old = read_both(**bounds)

    pd.testing.assert_frame_equal(new, old)
    assert str(new.index.dtype) == "datetime64[ns, UTC]"
    assert all(str(dtype) == "float64" for dtype in new.dtypes)


def test_naive_bounds_count_as_utc_like_the_orm():
    candles_upsert(make_candles(48), symbol="BTC", timeframe="1h", source="binance")

    index, _ = _sqlite_candles(symbol="BTC", timeframe="1h", start=datetime(2022, 1, 1, 5),
                               end=datetime(2022, 1, 1, 10))

    assert list(index) == list(pd.date_range("2022-01-01 05:00", periods=5, freq="h", tz="UTC"))


def test_stored_text_with_an_offset_is_still_read(on_postgres):
    """Rows written by hand (not through Django) may carry a UTC offset in the text: the fallback parser reads
    them, as Django's converter did."""
    if on_postgres:
        pytest.skip("timestamptz has no text form")
    candles_upsert(make_candles(3), symbol="BTC", timeframe="1h", source="binance")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE market_data_ohlcv SET open_time = '2022-01-01 02:00:00+00:00' "
                       "WHERE open_time = '2022-01-01 02:00:00'")

    new, old = read_both(start=None, end=None)

    pd.testing.assert_frame_equal(new, old)
    assert new.index[-1] == pd.Timestamp("2022-01-01 02:00", tz="UTC")
