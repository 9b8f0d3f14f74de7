"""Indicator cache: computed values in ``technical_indicators``, computed once, read many times.

How a call works (``indicators_sync``):

1. For each requested ``(indicator, params)`` one aggregate query gives, per output, the last
   stored ``open_time`` and the number of stored rows. A key whose outputs all reach the last
   candle is up to date and is not computed again; it is read from the table. (Candles
   backfilled before the first one, or into a gap, leave the last time unchanged: they are caught
   when the next new candle arrives, or at once with ``verify=True``.)
2. Any other key is recomputed **over the full candle history** (from the first stored candle up
   to ``end``). EMA, RSI, ATR, ADX and MACD are recursive: the value at bar ``t`` depends on every
   earlier bar, so computing only the new tail from a short window would give different numbers
   from the stored ones. Recomputing everything costs milliseconds per 100k bars; the database
   work is what matters, so only rows that are not stored yet are inserted: those after the last
   stored ``open_time``. If the stored row count does not match what the current candles give up
   to that time (a gap was filled, older candles were backfilled), the stored rows of that key are
   stale: they are deleted and the key is written again in full.
3. Warm-up bars (NaN) are never stored: a missing row means "not defined", not "zero".
4. The returned frame is the candles in ``[start, end)`` joined with one column per output, named
   by :func:`marketdata.indicators.wide_column` (``rsi_14``, ``macd_12_26_9_signal``, ...).

Writes run in one transaction. On PostgreSQL rows go in with one binary COPY straight into the table
(records packed by numpy); should a concurrent writer have stored some of them meanwhile, the COPY is
rolled back to a savepoint and the rows go through a temporary table and ``INSERT ... SELECT ... ON
CONFLICT DO NOTHING`` instead. Reads of stored values use a binary ``COPY ... TO STDOUT`` decoded with
numpy. Elsewhere (SQLite) ``executemany`` of ``INSERT ... ON CONFLICT DO NOTHING`` with parameter
tuples built column-wise by numpy writes, and raw cursor queries read into numpy.

Known limit: a corrected candle value (same bars, different prices) is not detected; pass
``rebuild=True`` after editing candles in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from marketdata import indicators as ta_funcs
from marketdata.loading import db_datetime_params, is_unique_violation, psycopg_cursor
from marketdata.models import IndicatorValue
from marketdata.selectors import candles_df, db_datetime_bound, parse_db_times

#: Nanoseconds between 1970-01-01 and PostgreSQL's binary epoch, 2000-01-01 (UTC).
PG_EPOCH_NS = 946_684_800 * 10**9
PG_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
PG_COPY_TRAILER = b"\xff\xff"
BULK_BATCH_SIZE = 50_000  # rows per executemany call (SQLite)


@dataclass(frozen=True)
class IndicatorKey:
    """One (indicator, params) pair as stored: ``params`` is the canonical string."""

    name: str
    params: tuple[tuple[str, Any], ...]

    @property
    def params_dict(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def params_str(self) -> str:
        return ta_funcs.canonical_params(self.params_dict)

    @property
    def outputs(self) -> tuple[str, ...]:
        return ta_funcs.get_spec(self.name).outputs

    def column(self, output: str) -> str:
        return ta_funcs.wide_column(self.name, self.params_dict, output)

    def __str__(self) -> str:
        return f"{self.name}({self.params_str})"


@dataclass
class IndicatorSyncResult:
    frame: pd.DataFrame
    computed: list[str] = field(default_factory=list)
    inserted: dict[str, int] = field(default_factory=dict)
    rebuilt: list[str] = field(default_factory=list)

    @property
    def inserted_total(self) -> int:
        return sum(self.inserted.values())


IndicatorRequest = str | tuple[str, Mapping[str, Any]]


def parse_requests(indicators: Iterable[IndicatorRequest] | None) -> list[IndicatorKey]:
    """Requests -> keys. ``None``: the default set; a bare name: every default-set entry of that
    name (``"ema"`` -> windows 9, 20, 50, 200); ``(name, params)``: that parameter set;
    ``"name:k=v;k=v"``: the same, as a string (for the command line)."""
    requests = ta_funcs.DEFAULT_SET if indicators is None else indicators
    keys: list[IndicatorKey] = []
    for request in requests:
        for name, params in _expand(request):
            key = IndicatorKey(name, tuple(ta_funcs.resolve_params(name, params).items()))
            if key not in keys:
                keys.append(key)
    return keys


def _expand(request: IndicatorRequest) -> list[tuple[str, Mapping[str, Any]]]:
    if not isinstance(request, str):
        name, params = request
        return [(name, params)]
    name, _, param_text = request.partition(":")
    name = name.strip()
    if param_text:
        pairs = (item.split("=", 1) for item in param_text.split(";") if item.strip())
        return [(name, {k.strip(): _number(v.strip()) for k, v in pairs})]
    ta_funcs.get_spec(name)
    defaults = [(n, p) for n, p in ta_funcs.DEFAULT_SET if n == name]
    return defaults or [(name, {})]


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


# --------------------------------------------------------------------------- service


def indicators_sync(
    *,
    symbol: str,
    timeframe: str,
    indicators: Iterable[IndicatorRequest] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    rebuild: bool = False,
    verify: bool = False,
) -> IndicatorSyncResult:
    """Make sure the requested indicators are stored up to the last candle before ``end``, then
    return candles in ``[start, end)`` joined with the indicator columns (see module docstring).

    ``verify=True`` recomputes keys that look up to date too, so that candles backfilled before
    the first one or filled into a gap (which leave the last stored time unchanged) are detected
    and the stale key is rewritten; ``rebuild=True`` deletes and rewrites every requested key.
    """
    keys = parse_requests(indicators)
    candles = candles_df(symbol=symbol, timeframe=timeframe, end=end)
    result = IndicatorSyncResult(frame=candles)
    if candles.empty:
        result.frame = _window(candles, start, end)
        for key in keys:
            for output in key.outputs:
                result.frame[key.column(output)] = np.nan
        return result

    last_candle = candles.index[-1]
    stored = {} if rebuild else _stored_status(symbol, timeframe, keys, end)
    columns: dict[str, pd.Series] = {}
    cached_keys: list[IndicatorKey] = []
    with transaction.atomic():
        for key in keys:
            outputs_status = [stored.get((key.name, key.params_str, output)) for output in key.outputs]
            up_to_date = all(status is not None and status[0] >= last_candle for status in outputs_status)
            if up_to_date and not verify:
                cached_keys.append(key)
                continue
            computed = ta_funcs.compute_indicator(key.name, candles, **key.params_dict)
            new_rows, stale = _rows_to_insert(computed, outputs_status)
            if not (up_to_date and not stale):
                result.computed.append(str(key))
            if stale or rebuild:
                _delete_key(symbol, timeframe, key)
                result.rebuilt.append(str(key))
            result.inserted[str(key)] = _insert(symbol, timeframe, key, new_rows)
            window = _window(computed, start, end)
            for output in key.outputs:
                columns[key.column(output)] = window[output]
    frame = _window(candles, start, end)
    if cached_keys:
        read = read_stored(symbol=symbol, timeframe=timeframe, keys=cached_keys, start=start, end=end)
        columns.update({name: read[name] for name in read.columns})
    wide = pd.DataFrame(columns, index=frame.index)
    ordered = [key.column(output) for key in keys for output in key.outputs]
    result.frame = frame.join(wide.reindex(index=frame.index, columns=ordered))
    return result


def indicators_refresh(
    *, symbol: str, timeframe: str, indicators: Iterable[IndicatorRequest] | None = None
) -> int:
    """Bring the cache up to date for one symbol/timeframe; returns the number of rows inserted.

    JSON-safe and id-free: the shape a django-q2 task wraps.
    """
    return indicators_sync(symbol=symbol, timeframe=timeframe, indicators=indicators, start=None,
                           end=None).inserted_total


def _window(frame: pd.DataFrame, start: datetime | None, end: datetime | None) -> pd.DataFrame:
    mask = np.ones(len(frame), dtype=bool)
    if start is not None:
        mask &= frame.index >= pd.Timestamp(start)
    if end is not None:
        mask &= frame.index < pd.Timestamp(end)
    return frame.loc[mask].copy()


def _stored_status(
    symbol: str, timeframe: str, keys: Sequence[IndicatorKey], end: datetime | None
) -> dict[tuple[str, str, str], tuple[pd.Timestamp, int]]:
    """(indicator, params, output) -> (last stored open_time, stored rows), before ``end``."""
    pairs = Q()
    for key in keys:
        pairs |= Q(indicator=key.name, params=key.params_str)
    qs = IndicatorValue.objects.filter(pairs, symbol=symbol, timeframe=timeframe)
    if end is not None:
        qs = qs.filter(open_time__lt=end)
    rows = qs.values("indicator", "params", "output").annotate(last=Max("open_time"), n=Count("id"))
    return {
        (row["indicator"], row["params"], row["output"]): (pd.Timestamp(row["last"]), row["n"])
        for row in rows
    }


def _rows_to_insert(
    computed: pd.DataFrame, outputs_status: list[tuple[pd.Timestamp, int] | None]
) -> tuple[dict[str, pd.Series], bool]:
    """Per output, the defined values not stored yet; ``stale`` when stored rows disagree in count
    with the current candles (then every defined value is returned, to be written afresh)."""
    new_rows: dict[str, pd.Series] = {}
    stale = False
    for output, status in zip(computed.columns, outputs_status, strict=True):
        defined = computed[output].dropna()
        if status is None:
            new_rows[output] = defined
            continue
        last, count = status
        if int((defined.index <= last).sum()) != count:
            stale = True
        new_rows[output] = defined[defined.index > last]
    if stale:
        new_rows = {output: computed[output].dropna() for output in computed.columns}
    return new_rows, stale


def _delete_key(symbol: str, timeframe: str, key: IndicatorKey) -> None:
    IndicatorValue.objects.filter(
        symbol=symbol, timeframe=timeframe, indicator=key.name, params=key.params_str
    ).delete()


# --------------------------------------------------------------------------- writes


def _insert(symbol: str, timeframe: str, key: IndicatorKey, rows: Mapping[str, pd.Series]) -> int:
    rows = {output: series for output, series in rows.items() if len(series)}
    if not rows:
        return 0
    if connection.vendor == "postgresql":
        return _insert_postgres(symbol, timeframe, key, rows)
    return _insert_executemany(symbol, timeframe, key, rows)


INSERT_COLUMNS = ("symbol", "timeframe", "open_time", "indicator", "params", "output", "value", "computed_at")


def _insert_executemany(symbol: str, timeframe: str, key: IndicatorKey, rows: Mapping[str, pd.Series]) -> int:
    """Other backends (SQLite): ``executemany`` of ``INSERT ... ON CONFLICT DO NOTHING`` in batches of
    ``BULK_BATCH_SIZE`` rows, the parameter tuples zipped from numpy columns (no model objects); ``rowcount``
    counts the new rows."""
    placeholders = ", ".join(["%s"] * len(INSERT_COLUMNS))
    sql = (f"INSERT INTO {IndicatorValue._meta.db_table} ({', '.join(INSERT_COLUMNS)}) VALUES ({placeholders}) "
           "ON CONFLICT DO NOTHING")
    computed_at = connection.ops.adapt_datetimefield_value(timezone.now())
    inserted = 0
    with connection.cursor() as cursor:
        for output, series in rows.items():
            times = series.index.as_unit("ns").to_numpy("datetime64[ns]")
            values = series.to_numpy(dtype="float64")
            for start in range(0, len(values), BULK_BATCH_SIZE):
                part = slice(start, start + BULK_BATCH_SIZE)
                batch = zip(repeat(symbol), repeat(timeframe), db_datetime_params(times[part]), repeat(key.name),
                            repeat(key.params_str), repeat(output), values[part].tolist(), repeat(computed_at),
                            strict=False)
                cursor.executemany(sql, list(batch))
                inserted += max(cursor.rowcount, 0)
    return inserted


_ROW_IN = np.dtype([("nfields", ">i2"), ("len_k", ">i4"), ("k", ">i2"), ("len_t", ">i4"), ("t", ">i8"),
                    ("len_v", ">i4"), ("v", ">f8")])


def _copy_rows_binary(codes: np.ndarray, times_ns: np.ndarray, values: np.ndarray) -> bytes:
    """PostgreSQL binary COPY payload for rows (int2 code, timestamptz, float8), built by numpy."""
    rows = np.empty(len(values), dtype=_ROW_IN)
    rows["nfields"], rows["len_k"], rows["len_t"], rows["len_v"] = 3, 2, 8, 8
    rows["k"] = codes
    rows["t"] = (times_ns - PG_EPOCH_NS) // 1000
    rows["v"] = values
    return PG_COPY_HEADER + rows.tobytes() + PG_COPY_TRAILER


def _copy_table_binary(symbol: str, timeframe: str, key: IndicatorKey, rows: Mapping[str, pd.Series],
                       computed_at: datetime) -> bytes:
    """PostgreSQL binary COPY payload for ``technical_indicators`` rows in ``INSERT_COLUMNS`` order.

    The text fields are the same on every row of one output, so each output's rows are one numpy
    structured array of fixed-size records (no per-row Python)."""
    computed_us = (pd.Timestamp(computed_at).as_unit("ns").value - PG_EPOCH_NS) // 1000
    parts = [PG_COPY_HEADER]
    for output, series in rows.items():
        texts = {"symbol": symbol, "timeframe": timeframe, "indicator": key.name, "params": key.params_str,
                 "output": output}
        encoded = {name: value.encode() for name, value in texts.items()}
        fields: list[tuple[str, str]] = [("nfields", ">i2")]
        for name in INSERT_COLUMNS:
            fields.append((f"{name}_len", ">i4"))
            if name in encoded:
                if encoded[name]:  # an empty text is a bare 0 length
                    fields.append((name, f"S{len(encoded[name])}"))
            else:
                fields.append((name, ">f8" if name == "value" else ">i8"))
        dtype = np.dtype(fields)
        present = dtype.names or ()
        records = np.empty(len(series), dtype=dtype)
        records["nfields"] = len(INSERT_COLUMNS)
        for name in INSERT_COLUMNS:
            records[f"{name}_len"] = dtype[name].itemsize if name in present else 0
            if name in encoded:
                if name in present:
                    records[name] = encoded[name]
            elif name == "open_time":
                records[name] = (series.index.as_unit("ns").asi8 - PG_EPOCH_NS) // 1000
            elif name == "value":
                records[name] = series.to_numpy(dtype="float64")
            else:
                records[name] = computed_us
        parts.append(records.tobytes())
    parts.append(PG_COPY_TRAILER)
    return b"".join(parts)


def _insert_postgres(symbol: str, timeframe: str, key: IndicatorKey, rows: Mapping[str, pd.Series]) -> int:
    """One binary COPY straight into the table (rows packed by numpy). The rows are those after the last
    stored time, so none exists yet unless a concurrent writer stored them since: then the unique
    constraint fails the COPY, which is rolled back to a savepoint, and the rows go through a staging table
    and ``INSERT ... ON CONFLICT DO NOTHING`` instead."""
    payload = _copy_table_binary(symbol, timeframe, key, rows, timezone.now())
    table = IndicatorValue._meta.db_table
    with connection.cursor() as cursor:
        try:
            with transaction.atomic(), psycopg_cursor(cursor).copy(
                    f"COPY {table} ({', '.join(INSERT_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(payload)
            return sum(len(series) for series in rows.values())
        except (IntegrityError, psycopg.Error) as error:
            if not is_unique_violation(error):
                raise
    return _insert_postgres_staged(symbol, timeframe, key, rows)


def _insert_postgres_staged(symbol: str, timeframe: str, key: IndicatorKey, rows: Mapping[str, pd.Series]) -> int:
    """Binary COPY into a temporary table, then ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``."""
    outputs = list(rows)
    codes = np.concatenate([np.full(len(rows[o]), i, dtype=np.int16) for i, o in enumerate(outputs)])
    times = np.concatenate([rows[o].index.as_unit("ns").asi8 for o in outputs])
    values = np.concatenate([rows[o].to_numpy(dtype="float64") for o in outputs])
    mapping = ", ".join(["(%s::int2, %s)"] * len(outputs))
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS indicator_cache_load "
            "(k int2 NOT NULL, open_time timestamptz NOT NULL, value float8 NOT NULL)"
        )
        cursor.execute("TRUNCATE indicator_cache_load")
        with psycopg_cursor(cursor).copy(
                "COPY indicator_cache_load (k, open_time, value) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(_copy_rows_binary(codes, times, values))
        cursor.execute(
            "INSERT INTO technical_indicators "
            "(symbol, timeframe, open_time, indicator, params, output, value, computed_at) "
            "SELECT %s, %s, l.open_time, %s, %s, m.output, l.value, now() "
            f"FROM indicator_cache_load l JOIN (VALUES {mapping}) AS m(k, output) ON m.k = l.k "
            "ON CONFLICT DO NOTHING",
            [symbol, timeframe, key.name, key.params_str, *[v for i, o in enumerate(outputs) for v in (i, o)]],
        )
        return cursor.rowcount


# --------------------------------------------------------------------------- reads


def read_stored(
    *,
    symbol: str,
    timeframe: str,
    keys: Sequence[IndicatorKey],
    start: datetime | None = None,
    end: datetime | None = None,
) -> pd.DataFrame:
    """Stored values of ``keys`` as a wide frame (UTC ``open_time`` index, one column per output)."""
    targets = [(key, output) for key in keys for output in key.outputs]
    if connection.vendor == "postgresql":
        codes, times_ns, values = _read_postgres(symbol, timeframe, targets, start, end)
    else:
        codes, times_ns, values = _read_sqlite(symbol, timeframe, targets, start, end)
    columns = {}
    for code, (key, output) in enumerate(targets):
        mask = codes == code
        index = pd.DatetimeIndex(times_ns[mask], tz="UTC", name="open_time")
        columns[key.column(output)] = pd.Series(values[mask], index=index).sort_index()
    frame = pd.DataFrame(columns)
    frame.index.name = "open_time"
    return frame


def _read_sqlite(symbol, timeframe, targets, start, end) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Other backends (SQLite): per output one raw query over the unique index, ``fetchall`` into numpy (no
    model layer, no per-row converters: ``open_time`` is selected as an expression and parsed by numpy)."""
    sql = (f"SELECT CAST(open_time AS TEXT), value FROM {IndicatorValue._meta.db_table} WHERE symbol = %s "
           "AND timeframe = %s AND indicator = %s AND params = %s AND output = %s")
    bounds = []
    if start is not None:
        sql += " AND open_time >= %s"
        bounds.append(db_datetime_bound(start))
    if end is not None:
        sql += " AND open_time < %s"
        bounds.append(db_datetime_bound(end))
    codes, times, values = [], [], []
    with connection.cursor() as cursor:
        for code, (key, output) in enumerate(targets):
            cursor.execute(sql, [symbol, timeframe, key.name, key.params_str, output, *bounds])
            rows = cursor.fetchall()
            table = np.array(rows, dtype=object).reshape(len(rows), 2)
            codes.append(np.full(len(rows), code, dtype=np.int64))
            times.append(parse_db_times(table[:, 0]).asi8)
            values.append(table[:, 1].astype("float64"))
    if not codes:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, "float64")
    return np.concatenate(codes), np.concatenate(times), np.concatenate(values)


_ROW_OUT = np.dtype([("nfields", ">i2"), ("len_k", ">i4"), ("k", ">i4"), ("len_t", ">i4"), ("t", ">i8"),
                     ("len_v", ">i4"), ("v", ">f8")])


def _read_postgres(symbol, timeframe, targets, start, end) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from psycopg import sql

    mapping = sql.SQL(", ").join(
        sql.SQL("({}, {}, {}, {})").format(sql.Literal(i), sql.Literal(key.name), sql.Literal(key.params_str),
                                           sql.Literal(output))
        for i, (key, output) in enumerate(targets)
    )
    conditions = [sql.SQL("v.symbol = {}").format(sql.Literal(symbol)),
                  sql.SQL("v.timeframe = {}").format(sql.Literal(timeframe))]
    if start is not None:
        conditions.append(sql.SQL("v.open_time >= {}").format(sql.Literal(pd.Timestamp(start).to_pydatetime())))
    if end is not None:
        conditions.append(sql.SQL("v.open_time < {}").format(sql.Literal(pd.Timestamp(end).to_pydatetime())))
    query = sql.SQL(
        "COPY (SELECT m.k::int4, v.open_time, v.value FROM technical_indicators v "
        "JOIN (VALUES {mapping}) AS m(k, indicator, params, output) "
        "ON v.indicator = m.indicator AND v.params = m.params AND v.output = m.output "
        "WHERE {conditions}) TO STDOUT (FORMAT BINARY)"
    ).format(mapping=mapping, conditions=sql.SQL(" AND ").join(conditions))
    buffer = bytearray()
    with connection.cursor() as cursor, cursor.cursor.copy(query) as copy:
        for block in copy:
            buffer += block
    header_length = len(PG_COPY_HEADER)
    rows = np.frombuffer(bytes(buffer[header_length:len(buffer) - len(PG_COPY_TRAILER)]), dtype=_ROW_OUT)
    times_ns = rows["t"].astype(np.int64) * 1000 + PG_EPOCH_NS
    return rows["k"].astype(np.int64), times_ns, rows["v"].astype("float64")
