"""Benchmark: the project's bulk write and read paths beside raw references measured in the same run (not a test).

For each figure the reference is measured in the same process, interleaved with it, on the same rows:

PostgreSQL (a scratch database created and dropped on ``--server``, trust auth):

1. ``ohlcv_ingest`` of a paged provider stream (a fake source yielding ``--page``-row frames, as the Binance
   client does) into the empty table: pages buffered into writes of ``FLUSH_ROWS`` rows, with the usual dedupe
   (existing-key check, unique constraint); beside raw binary ``COPY`` of the same rows, prebuilt. Once, for
   comparison: one write per page (the previous behaviour, ``FLUSH_ROWS = 1``).
2. Indicator-cache writes (``indicator_cache._insert``: binary COPY straight into ``technical_indicators``)
   beside raw binary ``COPY`` of the prebuilt payload; once: the staging-table path (the previous one).
3. ``candles_upsert`` of whole frames and ``candles_df`` reads (the figures SQLite is compared with).

SQLite (a file in a temporary directory): the same ingest, indicator-cache writes (``executemany``) and
candle load/read, beside raw ``executemany`` of prebuilt tuples on the driver's connection; once: the previous
paths (``bulk_create`` for the indicator cache on a slice, ORM ``values_list`` for candle reads). SQLite's
candle figures are also given as a share of PostgreSQL's.

Each backend runs in its own subprocess (Django is set up once per process); the figures are medians of
``--repeat`` runs.

    .venv/bin/python benchmarks/writes_bench.py [--rows 200000] [--indicator-bars 50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ingest_bench  # the script's own folder (benchmarks/) is on sys.path
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SYMBOLS = ("BTC", "ETH")
INDICATORS: list[str | tuple[str, dict[str, Any]]] = ["ema", "macd", ("rsi", {"window": 14})]  # 8 outputs a bar


def synthetic_candles(n: int, seed: int) -> pd.DataFrame:
    """``ingest_bench``'s provider-shaped candles on a nanosecond index (what the Binance client yields)."""
    frame = ingest_bench.synthetic_candles(n, seed)
    frame["open_time"] = frame["open_time"].dt.as_unit("ns")
    return frame


class PagedSource:
    """A provider client serving prebuilt pages (no HTTP, no parsing: only the write path is measured)."""

    def __init__(self, frames: dict[str, pd.DataFrame], page: int) -> None:
        self.pages = {symbol: [frame.iloc[i:i + page].reset_index(drop=True) for i in range(0, len(frame), page)]
                      for symbol, frame in frames.items()}
        self.raw_rows: int | None = None
        self.issues: list[str] = []

    def fetch_ohlcv(self, symbol, timeframe, start, end):
        self.raw_rows = 0
        for page in self.pages[symbol]:
            self.raw_rows += len(page)
            yield page


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


# --------------------------------------------------------------------------- one backend (child process)


def child(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.db.models import Q
    from django.utils import timezone

    from marketdata import indicator_cache, ingestion, loading
    from marketdata import indicators as ind
    from marketdata.models import Candle, IndicatorValue
    from marketdata.selectors import candles_df

    call_command("migrate", verbosity=0)
    postgres = connection.vendor == "postgresql"
    per_symbol = args.rows // len(SYMBOLS)
    frames = {symbol: synthetic_candles(per_symbol, seed=i) for i, symbol in enumerate(SYMBOLS)}
    rows = per_symbol * len(SYMBOLS)
    normalized = {s: loading.normalize_candles(f, timeframe="1h") for s, f in frames.items()}
    stamps = frames[SYMBOLS[0]]["open_time"]
    start, end = stamps.iloc[0], stamps.iloc[-1] + pd.Timedelta(hours=1)
    source = PagedSource(frames, args.page)

    def fake_source(name: str, **kwargs: Any) -> Any:
        return source

    ingestion.get_source = fake_source  # the fake provider for every symbol

    # indicator rows, computed once: what indicators_sync hands to _insert
    ind_candles = synthetic_candles(args.indicator_bars, seed=99).set_index("open_time")
    keys = indicator_cache.parse_requests(INDICATORS)
    key_rows = []
    for key in keys:
        computed = ind.compute_indicator(key.name, ind_candles, **key.params_dict)
        key_rows.append((key, {output: computed[output].dropna() for output in computed.columns}))
    indicator_rows = sum(len(series) for _, rows_ in key_rows for series in rows_.values())
    flush_rows = ingestion.FLUSH_ROWS

    candle_table, indicator_table = loading.TABLE, IndicatorValue._meta.db_table

    def clear(table: str) -> None:
        with connection.cursor() as cursor:
            if postgres:
                cursor.execute(f"TRUNCATE {table}")
                cursor.execute(f"VACUUM ANALYZE {table}")
            else:
                cursor.execute(f"DELETE FROM {table}")

    def ingest(flush_rows: int) -> None:
        ingestion.FLUSH_ROWS = flush_rows
        result = ingestion.ohlcv_ingest(symbols=list(SYMBOLS), timeframe="1h", start=start, end=end)
        assert result.ok and result.totals()["inserted"] == rows, result.as_dict()

    def write_indicators() -> None:
        with transaction.atomic():
            inserted = sum(indicator_cache._insert("BTC", "1h", key, rows_) for key, rows_ in key_rows)
        assert inserted == indicator_rows, inserted

    def read_indicators() -> None:
        frame = indicator_cache.read_stored(symbol="BTC", timeframe="1h", keys=keys)
        assert int(frame.notna().sum().sum()) == indicator_rows

    def previous_read_indicators() -> None:  # the previous non-PostgreSQL read (indicator_cache._read_orm)
        targets = [(key, output) for key in keys for output in key.outputs]
        code_of = {(key.name, key.params_str, output): i for i, (key, output) in enumerate(targets)}
        pairs = Q()
        for key, output in targets:
            pairs |= Q(indicator=key.name, params=key.params_str, output=output)
        got = list(IndicatorValue.objects.filter(pairs, symbol="BTC", timeframe="1h")
                   .values_list("indicator", "params", "output", "open_time", "value"))
        codes = np.array([code_of[row[:3]] for row in got], dtype=np.int64)
        stamps = pd.to_datetime([row[3] for row in got], utc=True).as_unit("ns").asi8
        values = np.array([row[4] for row in got], dtype="float64")
        assert len(codes) == len(stamps) == len(values) == indicator_rows

    def upsert() -> None:
        results = [loading.candles_upsert(f, symbol=s, timeframe="1h", source="binance") for s, f in frames.items()]
        assert sum(r.inserted for r in results) == rows

    def read() -> None:
        assert sum(len(candles_df(symbol=s, timeframe="1h")) for s in SYMBOLS) == rows

    if postgres:
        from marketdata.loading import psycopg_cursor

        columns = ", ".join(loading.DB_COLUMNS)
        candle_payloads = [loading.pg_binary_copy_payload(f, symbol=s, timeframe="1h", source="binance")
                           for s, f in normalized.items()]
        moment = timezone.now()
        indicator_payloads = [indicator_cache._copy_table_binary("BTC", "1h", key, rows_, moment)
                              for key, rows_ in key_rows]
        indicator_columns = ", ".join(indicator_cache.INSERT_COLUMNS)

        def raw_candles() -> None:
            with transaction.atomic(), connection.cursor() as cursor:
                for payload in candle_payloads:
                    with psycopg_cursor(cursor).copy(f"COPY {candle_table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                        copy.write(payload)

        def raw_indicators() -> None:
            with transaction.atomic(), connection.cursor() as cursor:
                for payload in indicator_payloads:
                    with psycopg_cursor(cursor).copy(
                            f"COPY {indicator_table} ({indicator_columns}) FROM STDIN (FORMAT BINARY)") as copy:
                        copy.write(payload)

        def previous_indicators() -> None:
            with transaction.atomic():
                for key, rows_ in key_rows:
                    indicator_cache._insert_postgres_staged("BTC", "1h", key, rows_)
    else:
        connection.ensure_connection()
        driver = connection.connection  # the sqlite3 connection itself
        candle_sql = (f"INSERT INTO {candle_table} ({', '.join(loading.DB_COLUMNS)}) VALUES "
                      f"({', '.join('?' * len(loading.DB_COLUMNS))}) ON CONFLICT (symbol, timeframe, open_time) DO NOTHING")
        candle_tuples = [row for s, f in normalized.items()
                         for batch in loading._parameter_batches(f, symbol=s, timeframe="1h", source="binance")
                         for row in batch]
        indicator_sql = (f"INSERT INTO {indicator_table} ({', '.join(indicator_cache.INSERT_COLUMNS)}) VALUES "
                         f"({', '.join('?' * len(indicator_cache.INSERT_COLUMNS))}) ON CONFLICT DO NOTHING")
        stamp = connection.ops.adapt_datetimefield_value(timezone.now())
        indicator_tuples = [
            ("BTC", "1h", text, key.name, key.params_str, output, value, stamp)
            for key, rows_ in key_rows for output, series in rows_.items()
            for text, value in zip(loading.sqlite_datetime_texts(series.index.to_numpy("datetime64[ns]")),
                                   series.tolist(), strict=True)
        ]

        def raw_executemany(sql: str, tuples: list) -> Callable[[], None]:
            def run() -> None:
                with transaction.atomic():
                    cursor = driver.cursor()
                    cursor.executemany(sql, tuples)
                    assert cursor.rowcount == len(tuples)
            return run

        raw_candles = raw_executemany(candle_sql, candle_tuples)
        raw_indicators = raw_executemany(indicator_sql, indicator_tuples)
        before_slice = min(indicator_rows, 50_000)

        def previous_indicators() -> None:  # bulk_create on the first rows only: it is slow
            left, objects = before_slice, []
            for key, rows_ in key_rows:
                for output, series in rows_.items():
                    part = series.iloc[:left]
                    left -= len(part)
                    objects += [IndicatorValue(symbol="BTC", timeframe="1h", indicator=key.name, params=key.params_str,
                                               output=output, open_time=t, value=v)
                                for t, v in zip(part.index.to_pydatetime(), part.tolist(), strict=True)]
            with transaction.atomic():
                IndicatorValue.objects.bulk_create(objects, batch_size=2000, ignore_conflicts=True)

    def previous_read() -> None:  # the previous non-PostgreSQL read (selectors._orm_candles), verbatim
        fields = ["open", "high", "low", "close", "volume", "quote_volume", "trade_count"]
        for symbol in SYMBOLS:
            qs = Candle.objects.filter(symbol=symbol, timeframe="1h")
            got = list(qs.order_by("open_time").values_list("open_time", *fields))
            raw_frame = pd.DataFrame(got, columns=["open_time", *fields])
            index = pd.DatetimeIndex(pd.to_datetime(raw_frame["open_time"], utc=True)).as_unit("ns")
            frame = pd.DataFrame({name: raw_frame[name].to_numpy("float64", na_value=np.nan) for name in fields},
                                 index=index, dtype="float64")
            assert len(frame) == per_symbol

    times: dict[str, list[float]] = {}

    def record(name: str, seconds: float) -> None:
        times.setdefault(name, []).append(seconds)

    for _ in range(args.repeat):
        clear(candle_table)
        record("raw_candles", timed(raw_candles))
        clear(candle_table)
        record("ingest", timed(lambda: ingest(flush_rows)))
        clear(candle_table)
        record("upsert", timed(upsert))
        record("read", timed(read))
        clear(indicator_table)
        record("raw_indicators", timed(raw_indicators))
        clear(indicator_table)
        record("indicators", timed(write_indicators))
        record("read_indicators", timed(read_indicators))
    clear(candle_table)
    record("ingest_per_page", timed(lambda: ingest(1)))
    record("previous_read", timed(previous_read))
    record("previous_read_indicators", timed(previous_read_indicators))
    clear(indicator_table)
    record("previous_indicators", timed(previous_indicators))
    clear(indicator_table)
    clear(candle_table)

    version = (f"PostgreSQL {connection.pg_version // 10000}" if postgres
               else f"SQLite {connection.Database.sqlite_version}")
    print(json.dumps({
        "backend": version, "rows": rows, "indicator_rows": indicator_rows, "flush_rows": flush_rows,
        "previous_indicator_rows": indicator_rows if postgres else before_slice,
        "seconds": {name: statistics.median(values) for name, values in times.items()},
        "loadavg": os.getloadavg(),
    }))


# --------------------------------------------------------------------------- report (parent process)


def run_child(args: argparse.Namespace, database_url: str) -> dict:
    command = [sys.executable, __file__, "--child", database_url, "--rows", str(args.rows), "--page", str(args.page),
               "--indicator-bars", str(args.indicator_bars), "--repeat", str(args.repeat)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"benchmark child failed for {database_url}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(pg: dict, lite: dict, args: argparse.Namespace) -> None:
    def rate(result: dict, name: str) -> float:
        rows = result["previous_indicator_rows"] if name == "previous_indicators" else (
            result["indicator_rows"] if "indicators" in name else result["rows"])
        return rows / result["seconds"][name]

    def line(label: str, value: float, reference_label: str, reference: float, target: str = "") -> None:
        print(f"  {label:<44} {value:>9,.0f} rows/s   {reference_label:<30} {reference:>9,.0f} rows/s   "
              f"{value / reference:5.2f}{target}")

    print(f"writes_bench: {pg['rows']:,} candles ({len(SYMBOLS)} symbols, pages of {args.page:,}, written "
          f"{pg['flush_rows']:,} rows at a time), {pg['indicator_rows']:,} indicator rows "
          f"({args.indicator_bars:,} bars), median of {args.repeat}; figure, reference, figure / reference")
    print(f"  load average at the end: PostgreSQL run {' '.join(f'{v:.2f}' for v in pg['loadavg'])}; "
          f"SQLite run {' '.join(f'{v:.2f}' for v in lite['loadavg'])}")
    target = "  (target >= 0.50)"
    for result in (pg, lite):
        on_pg = result is pg
        raw = "raw binary COPY" if on_pg else "raw executemany"
        print(result["backend"])
        line("ohlcv_ingest, paged stream, buffered", rate(result, "ingest"), raw, rate(result, "raw_candles"),
             target if on_pg else "")
        line("  before: one write per page", rate(result, "ingest_per_page"), raw, rate(result, "raw_candles"))
        line("indicator-cache writes (_insert)", rate(result, "indicators"), raw, rate(result, "raw_indicators"),
             target)
        line("  before: staging table + ON CONFLICT" if on_pg else "  before: bulk_create (first rows)",
             rate(result, "previous_indicators"), raw, rate(result, "raw_indicators"))
        orm = "ORM values_list (reference)" if on_pg else "before: ORM values_list"
        line("indicator-cache read (read_stored)", rate(result, "read_indicators"), orm,
             rate(result, "previous_read_indicators"))
        line("candles_upsert, whole frames", rate(result, "upsert"), raw, rate(result, "raw_candles"))
        line("candles_df read", rate(result, "read"), orm, rate(result, "previous_read"))
    print("SQLite beside PostgreSQL (target: SQLite within 2x, i.e. >= 0.50)")
    for label, name in (("candles_upsert (load)", "upsert"), ("candles_df (read)", "read"),
                        ("ohlcv_ingest, paged", "ingest"), ("indicator-cache writes", "indicators"),
                        ("indicator-cache read", "read_indicators")):
        line(label, rate(lite, name), "PostgreSQL", rate(pg, name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--rows", type=int, default=200_000, help="candles (split over the symbols)")
    parser.add_argument("--page", type=int, default=1000, help="rows per provider page")
    parser.add_argument("--indicator-bars", type=int, default=50_000, help="bars whose indicator rows are written")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.database_url = args.child
        child(args)
        return

    import psycopg

    print(f"load average at the start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    scratch = f"writes_bench_{os.getpid()}"
    with psycopg.connect(f"{args.server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{scratch}"')
    try:
        pg = run_child(args, f"{args.server}/{scratch}")
    finally:
        with psycopg.connect(f"{args.server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    with tempfile.TemporaryDirectory(prefix="writes_bench_") as folder:
        lite = run_child(args, f"sqlite:///{folder}/bench.sqlite3")
    report(pg, lite, args)


if __name__ == "__main__":
    main()
