"""Write candle frames into ``market_data_ohlcv``: validated, idempotent, all-or-nothing.

``candles_upsert`` is the one write path for candles (API ingestion, CSV import, the bundled
sample). Rows that already exist are skipped by the ``(symbol, timeframe, open_time)`` unique
constraint, so loading the same range twice adds nothing.

How rows reach the database:

- PostgreSQL: the keys already stored in the frame's time range are read first (one index range
  scan) and those rows dropped; the rest go in with one binary ``COPY`` straight into the table,
  its rows packed by numpy (no per-row Python). If a concurrent writer inserted one of those
  keys in between, the ``COPY`` fails on the unique constraint; it is rolled back to a savepoint
  and the rows go through a temporary staging table and ``INSERT ... SELECT ... ON CONFLICT DO
  NOTHING`` instead. Either way the constraint, not the pre-check, is what prevents duplicates.
- Other backends (SQLite): ``executemany`` of ``INSERT ... ON CONFLICT DO NOTHING`` in batches of
  ``BATCH_SIZE`` rows, the parameter tuples built column-wise by numpy (no model objects, no per-row
  Python); ``rowcount`` gives how many were new.

Everything of one call happens in one transaction: a bad row rejects the whole frame before
anything is written, and a database error leaves nothing half written.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import pandas as pd
import psycopg
from django.db import IntegrityError, connection, transaction

from marketdata.models import Candle
from marketdata.timeframes import timeframe_delta

BATCH_SIZE = 50_000  # rows per executemany call (SQLite)
PRICE_COLUMNS = ("open", "high", "low", "close")
REQUIRED_COLUMNS = ("open_time", *PRICE_COLUMNS, "volume")
OPTIONAL_COLUMNS = ("quote_volume", "quote_volume_derived", "trade_count")
FRAME_COLUMNS = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
TABLE = Candle._meta.db_table
# Column order of the binary COPY record and of the executemany parameters.
DB_COLUMNS = ("symbol", "timeframe", "open_time", "open", "high", "low", "close", "volume",
              "quote_volume", "quote_volume_derived", "trade_count", "source")
_PG_EPOCH_NS = 946_684_800 * 10**9  # 2000-01-01 UTC, PostgreSQL's timestamp epoch


@dataclass(frozen=True)
class LoadResult:
    received: int
    inserted: int
    skipped: int

    def __add__(self, other: LoadResult) -> LoadResult:
        return LoadResult(self.received + other.received, self.inserted + other.inserted,
                          self.skipped + other.skipped)


class CandleValidationError(ValueError):
    """A row breaks a candle invariant; ``row`` is its 0-based position in the frame."""

    def __init__(self, message: str, *, row: int | None = None) -> None:
        super().__init__(message)
        self.row = row


def normalize_candles(frame: pd.DataFrame, *, timeframe: str) -> pd.DataFrame:
    """Checked copy of ``frame`` with exactly ``FRAME_COLUMNS``, sorted by ``open_time``.

    Raises ``CandleValidationError`` naming the first offending row (position and open time):
    missing columns, naive or unaligned timestamps, missing or non-positive prices, OHLC out of
    range (``low <= open, close <= high``), negative volumes or trade counts. Rows repeating an
    ``open_time`` within the frame are dropped (the first is kept).
    """
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise CandleValidationError(f"candle frame lacks column(s) {', '.join(missing)}")
    times = frame["open_time"]
    if not isinstance(times.dtype, pd.DatetimeTZDtype):
        raise CandleValidationError(
            f"open_time must be timezone-aware datetimes (got dtype {times.dtype}); localise to UTC first"
        )
    out = pd.DataFrame({"open_time": times.dt.tz_convert("UTC").dt.as_unit("ns").reset_index(drop=True)})
    for column in (*PRICE_COLUMNS, "volume", "quote_volume", "trade_count"):
        values = frame[column] if column in frame.columns else np.nan
        out[column] = pd.to_numeric(pd.Series(values, index=frame.index), errors="coerce").to_numpy("float64")
    derived = frame["quote_volume_derived"] if "quote_volume_derived" in frame.columns else False
    out["quote_volume_derived"] = pd.Series(derived, index=frame.index).fillna(False).astype(bool).to_numpy()
    _check_rows(out, timeframe)
    out = out.drop_duplicates("open_time", keep="first")
    return out.sort_values("open_time", kind="stable").reset_index(drop=True)[list(FRAME_COLUMNS)]


def _check_rows(frame: pd.DataFrame, timeframe: str) -> None:
    delta = timeframe_delta(timeframe)
    o, h, lo, c = (frame[name].to_numpy() for name in PRICE_COLUMNS)
    volume, quote, trades = (frame[name].to_numpy() for name in ("volume", "quote_volume", "trade_count"))
    ns = frame["open_time"].to_numpy("datetime64[ns]").view("int64")
    checks: list[tuple[np.ndarray, str]] = [
        (frame["open_time"].isna().to_numpy(), "open_time is missing"),
        (np.isnan(o) | np.isnan(h) | np.isnan(lo) | np.isnan(c) | np.isnan(volume),
         "open/high/low/close/volume must be numbers"),
        (~(lo > 0), "low must be > 0"),
        (~(lo <= np.minimum(o, c)), "low must be <= open and close"),
        (~(h >= np.maximum(o, c)), "high must be >= open and close"),
        (~(volume >= 0), "volume must be >= 0"),
        (quote < 0, "quote_volume must be >= 0"),
        ((trades < 0) | (~np.isnan(trades) & (trades != np.floor(trades))), "trade_count must be a whole number >= 0"),
    ]
    if delta <= pd.Timedelta(days=1):  # weeks are aligned to Mondays by exchanges, not to the epoch
        checks.append((ns % delta.value != 0, f"open_time is not aligned to the {timeframe} grid"))
    for bad, message in checks:
        if bad.any():
            position = int(np.flatnonzero(bad)[0])
            row = frame.iloc[position]
            raise CandleValidationError(
                f"row {position} (open_time {row['open_time']}): {message} "
                f"[open={row['open']}, high={row['high']}, low={row['low']}, close={row['close']}, "
                f"volume={row['volume']}]",
                row=position,
            )


def candles_upsert(frame: pd.DataFrame, *, symbol: str, timeframe: str, source: str) -> LoadResult:
    """Insert the candles of ``frame`` that are not stored yet; return how many were new.

    ``frame`` has columns ``open_time`` (tz-aware), ``open high low close volume`` and optionally
    ``quote_volume`` (NaN if unknown), ``quote_volume_derived`` and ``trade_count`` (NaN if
    unknown). ``skipped`` counts rows already stored plus repeats within the frame.
    """
    received = len(frame)
    rows = normalize_candles(frame, timeframe=timeframe)
    if rows.empty:
        return LoadResult(received, 0, received)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            inserted = _pg_load(rows, symbol=symbol, timeframe=timeframe, source=source)
        else:
            inserted = _executemany_load(rows, symbol=symbol, timeframe=timeframe, source=source)
    return LoadResult(received, inserted, received - inserted)


# --- PostgreSQL --------------------------------------------------------------------------------


def _pg_load(rows: pd.DataFrame, *, symbol: str, timeframe: str, source: str) -> int:
    with connection.cursor() as cursor:
        stored = pg_copy_out_records(
            cursor,
            f"SELECT open_time FROM {TABLE} WHERE symbol = %s AND timeframe = %s "
            "AND open_time >= %s AND open_time <= %s",
            [symbol, timeframe, rows["open_time"].iloc[0].to_pydatetime(),
             rows["open_time"].iloc[-1].to_pydatetime()],
            [("open_time", ">i8")],
        )
        if len(stored):
            stored = pg_timestamps(stored["open_time"])
            rows = rows[~rows["open_time"].isin(stored)]
        if rows.empty:
            return 0
        payload = pg_binary_copy_payload(rows, symbol=symbol, timeframe=timeframe, source=source)
        columns = ", ".join(DB_COLUMNS)
        try:
            # savepoint: a racing writer's key only undoes this COPY
            with transaction.atomic(), psycopg_cursor(cursor).copy(
                    f"COPY {TABLE} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(payload)
            return len(rows)
        except (IntegrityError, psycopg.Error) as error:
            if not is_unique_violation(error):
                raise
            return _pg_staged_insert(cursor, payload, columns)


def psycopg_cursor(cursor):
    """The psycopg cursor under Django's wrapper. With ``DEBUG`` on, Django wraps cursors in a debug wrapper
    whose ``copy()`` takes no parameters (it breaks ``COPY (query with %s) TO STDOUT``); COPY goes to psycopg
    directly (and is not logged as a query)."""
    return getattr(cursor, "cursor", cursor)


def is_unique_violation(error: Exception) -> bool:
    cause = error if isinstance(error, psycopg.Error) else error.__cause__
    return getattr(cause, "sqlstate", None) == "23505"


def pg_copy_out_records(cursor, sql: str, params: list, fields: list[tuple[str, str]]) -> np.ndarray:
    """Rows of ``COPY (sql) TO STDOUT (FORMAT BINARY)`` as a numpy structured array.

    Only for queries whose columns are all fixed-width and never NULL (``fields`` gives their
    big-endian numpy types, e.g. ``>i8`` for timestamptz, ``>f8`` for float8): every record then
    has the same size and numpy reads them in one go.
    """
    with psycopg_cursor(cursor).copy(f"COPY ({sql}) TO STDOUT (FORMAT BINARY)", params) as copy:
        data = b"".join(bytes(block) for block in copy)
    record = [("count", ">i2")]
    for name, kind in fields:
        record += [(f"{name}_len", ">i4"), (name, kind)]
    header_size = 11 + 4 + 4 + int.from_bytes(data[15:19], "big")
    body = memoryview(data)[header_size:len(data) - 2]  # a trailing -1 (int16) ends the data
    return np.frombuffer(body, dtype=np.dtype(record))


def pg_timestamps(micros_since_2000: np.ndarray) -> pd.DatetimeIndex:
    """PostgreSQL binary timestamptz values (µs since 2000-01-01) as a UTC nanosecond index."""
    ns = micros_since_2000.astype("int64") * 1000 + _PG_EPOCH_NS
    return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")


def _pg_staged_insert(cursor, payload: bytes, columns: str) -> int:
    cursor.execute("DROP TABLE IF EXISTS candle_staging")
    cursor.execute(
        f"CREATE TEMP TABLE candle_staging ON COMMIT DROP AS SELECT {columns} FROM {TABLE} WITH NO DATA"
    )
    with psycopg_cursor(cursor).copy(f"COPY candle_staging ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(payload)
    cursor.execute(
        f"INSERT INTO {TABLE} ({columns}) SELECT {columns} FROM candle_staging ORDER BY open_time "
        "ON CONFLICT (symbol, timeframe, open_time) DO NOTHING"
    )
    return cursor.rowcount


def pg_binary_copy_payload(rows: pd.DataFrame, *, symbol: str, timeframe: str, source: str) -> bytes:
    """PostgreSQL binary ``COPY`` data for ``rows`` in ``DB_COLUMNS`` order, built by numpy.

    Every record has the same layout (the text fields are the same in all rows of one call), so
    the records are one structured array; NULL fields (-1 length, no data) are the exception and
    are spliced in afterwards only when a row has an unknown quote volume or trade count.
    """
    texts = {name: value.encode() for name, value in (("symbol", symbol), ("timeframe", timeframe),
                                                        ("source", source))}
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for name in DB_COLUMNS:
        fields.append((f"{name}_len", ">i4"))
        if name in texts:
            fields.append((name, f"S{len(texts[name])}"))
        elif name == "quote_volume_derived":
            fields.append((name, "?"))
        elif name in ("open_time", "trade_count"):
            fields.append((name, ">i8"))
        else:
            fields.append((name, ">f8"))
    dtype = np.dtype(fields)
    n = len(rows)
    records = np.empty(n, dtype=dtype)
    records["count"] = len(DB_COLUMNS)
    for name in DB_COLUMNS:
        records[f"{name}_len"] = dtype[name].itemsize
        if name in texts:
            records[name] = texts[name]
        elif name == "open_time":
            records[name] = (rows["open_time"].to_numpy("datetime64[ns]").view("int64") - _PG_EPOCH_NS) // 1000
        elif name == "trade_count":
            records[name] = np.nan_to_num(rows[name].to_numpy(), nan=0.0).astype("int64")
        else:
            records[name] = rows[name].to_numpy()
    header = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
    nullable = [name for name in ("quote_volume", "trade_count") if rows[name].isna().any()]
    if not nullable:
        return header + records.tobytes() + b"\xff\xff"
    return header + _with_nulls(records, rows, nullable) + b"\xff\xff"


def _with_nulls(records: np.ndarray, rows: pd.DataFrame, nullable: list[str]) -> bytes:
    """Records where NULL fields become a bare -1 length (variable record size)."""
    dtype = records.dtype
    null_masks = {name: rows[name].isna().to_numpy() for name in nullable}
    for name, mask in null_masks.items():
        records[f"{name}_len"][mask] = -1
    raw = records.view(np.uint8).reshape(len(records), dtype.itemsize)
    # Per column, which bytes of the fixed record survive: all but the data of a NULL field.
    keep = np.ones((len(records), dtype.itemsize), dtype=bool)
    for name, mask in null_masks.items():
        offset, size = dtype.fields[name][1], dtype[name].itemsize
        keep[np.ix_(mask, np.arange(offset, offset + size))] = False
    return raw[keep].tobytes()


# --- Other backends (SQLite) -------------------------------------------------------------------


def _executemany_load(rows: pd.DataFrame, *, symbol: str, timeframe: str, source: str) -> int:
    placeholders = ", ".join(["%s"] * len(DB_COLUMNS))
    sql = (f"INSERT INTO {TABLE} ({', '.join(DB_COLUMNS)}) VALUES ({placeholders}) "
           "ON CONFLICT (symbol, timeframe, open_time) DO NOTHING")
    inserted = 0
    with connection.cursor() as cursor:
        for batch in _parameter_batches(rows, symbol=symbol, timeframe=timeframe, source=source):
            cursor.executemany(sql, batch)
            inserted += max(cursor.rowcount, 0)
    return inserted


def _parameter_batches(rows: pd.DataFrame, *, symbol: str, timeframe: str, source: str,
                       size: int | None = None) -> Iterator[list[tuple]]:
    """``executemany`` parameters in ``DB_COLUMNS`` order, ``size`` (default ``BATCH_SIZE``) rows at a time.

    Each column is turned into Python values by numpy (``tolist``) one batch at a time, and the rows are
    zipped together in C: no per-row Python code, and only one batch of Python objects alive at once.
    """
    times = rows["open_time"].to_numpy("datetime64[ns]")
    numbers = [rows[name].to_numpy("float64") for name in ("open", "high", "low", "close", "volume")]
    quote = rows["quote_volume"].to_numpy("float64")
    derived = rows["quote_volume_derived"].to_numpy(bool)
    trades = rows["trade_count"].to_numpy("float64")
    size = size or BATCH_SIZE
    for start in range(0, len(rows), size):
        part = slice(start, start + size)
        columns = [db_datetime_params(times[part]), *(values[part].tolist() for values in numbers),
                   nullable_params(quote[part]), derived[part].tolist(), nullable_params(trades[part], integer=True)]
        yield list(zip(repeat(symbol), repeat(timeframe), *columns, repeat(source), strict=False))


def nullable_params(values: np.ndarray, *, integer: bool = False) -> list:
    """Python values of a float column with NaN as ``None`` (SQL NULL); ``integer``: whole numbers as ints."""
    missing = np.isnan(values)
    clean = np.where(missing, 0.0, values).astype("int64") if integer else values
    if not missing.any():
        return clean.tolist()
    objects = clean.astype(object)
    objects[missing] = None
    return objects.tolist()


def db_datetime_params(times: np.ndarray) -> list:
    """UTC ``datetime64[ns]`` values exactly as Django's backend adapts datetimes (SQLite stores text)."""
    if connection.vendor != "sqlite":
        stamps = pd.DatetimeIndex(times).tz_localize("UTC").to_pydatetime()
        return [connection.ops.adapt_datetimefield_value(t) for t in stamps]
    return sqlite_datetime_texts(times)


def sqlite_datetime_texts(times: np.ndarray) -> list[str]:
    """``str()`` of the naive UTC datetimes, what Django's SQLite adapter writes: ``YYYY-MM-DD HH:MM:SS``, with
    ``.ffffff`` only when the microseconds are not zero (nanoseconds are cut, as ``to_pydatetime`` does)."""
    if not len(times):
        return []
    micros = times.astype("datetime64[ns]").astype("datetime64[us]")
    text = np.datetime_as_string(micros.astype("datetime64[s]"), unit="s")
    fraction = micros.view("int64") % 1_000_000 != 0
    if fraction.any():
        text = text.astype(f"U{max(text.dtype.itemsize // 4, 26)}")
        text[fraction] = np.datetime_as_string(micros[fraction], unit="us")
    # 'YYYY-MM-DDTHH:MM:SS' -> 'YYYY-MM-DD HH:MM:SS': the separator is the 11th character of every value
    # (datetime64[ns] spans the years 1677..2262, always four digits).
    text = np.ascontiguousarray(text)
    text.view(np.uint32).reshape(len(text), -1)[:, 10] = ord(" ")
    return text.tolist()
