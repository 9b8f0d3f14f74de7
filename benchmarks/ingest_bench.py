"""Benchmark: loading and reading 1,000,000 candles on PostgreSQL (not a test).

Measures, in one run and against the same rows (10 symbols x 100,000 hourly bars):

1. raw binary ``COPY`` of the prebuilt rows straight into ``market_data_ohlcv`` (the ceiling);
2. ``candles_upsert`` into the empty table (validation + existing-key check + binary COPY);
3. ``candles_upsert`` of the same rows again (all skipped);
4. the fallback path (temp table + ``INSERT ... ON CONFLICT DO NOTHING``) into the empty table;
5. ``candles_df`` reading all rows back into DataFrames, beside the ORM ``values_list`` path.

Each is repeated ``--repeat`` times, interleaved, and the median reported. The script creates and
drops its own scratch database on ``--server`` (default postgres://postgres@127.0.0.1:5432).

    .venv/bin/python benchmarks/ingest_bench.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

ROOT = Path(__file__).resolve().parent.parent
SYMBOLS = 10


def synthetic_candles(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]]
    spread = np.abs(rng.normal(0, 0.005, n)) * close
    return pd.DataFrame({
        "open_time": pd.date_range("2012-01-01", periods=n, freq="1h", tz="UTC"),
        "open": open_, "high": np.maximum(open_, close) + spread, "low": np.minimum(open_, close) - spread,
        "close": close, "volume": rng.uniform(0, 50, n), "quote_volume": rng.uniform(0, 5000, n),
        "quote_volume_derived": False, "trade_count": rng.integers(0, 900, n).astype(float),
    })


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    scratch = f"ingest_bench_{os.getpid()}"
    with psycopg.connect(f"{args.server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{scratch}"')
    try:
        run(args, f"{args.server}/{scratch}")
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{args.server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def run(args: argparse.Namespace, database_url: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from marketdata import loading
    from marketdata.models import Candle
    from marketdata.selectors import CANDLE_COLUMNS, candles_df

    call_command("migrate", verbosity=0)
    per_symbol = args.rows // SYMBOLS
    frames = {f"S{i}": synthetic_candles(per_symbol, seed=i) for i in range(SYMBOLS)}
    rows = per_symbol * SYMBOLS
    payloads = {s: loading.pg_binary_copy_payload(loading.normalize_candles(f, timeframe="1h"), symbol=s,
                                                  timeframe="1h", source="binance") for s, f in frames.items()}
    columns = ", ".join(loading.DB_COLUMNS)

    def truncate() -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {loading.TABLE}")
            cursor.execute(f"VACUUM ANALYZE {loading.TABLE}")

    def raw_copy() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            for payload in payloads.values():
                with cursor.copy(f"COPY {loading.TABLE} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.write(payload)

    def upsert() -> list:
        return [loading.candles_upsert(f, symbol=s, timeframe="1h", source="binance") for s, f in frames.items()]

    def staged() -> None:  # the ON CONFLICT fallback, from the prebuilt payloads
        with transaction.atomic(), connection.cursor() as cursor:
            for payload in payloads.values():
                loading._pg_staged_insert(cursor, payload, columns)

    def read() -> int:
        return sum(len(candles_df(symbol=s, timeframe="1h")) for s in frames)

    times: dict[str, list[float]] = {k: [] for k in ("raw", "upsert", "reload", "staged", "read")}
    for _ in range(args.repeat):
        truncate()
        times["raw"].append(timed(raw_copy)[0])
        truncate()
        seconds, results = timed(upsert)
        assert sum(r.inserted for r in results) == rows, results
        times["upsert"].append(seconds)
        seconds, results = timed(upsert)
        assert sum(r.inserted for r in results) == 0 and sum(r.skipped for r in results) == rows
        times["reload"].append(seconds)
        seconds, counted = timed(read)
        assert counted == rows
        times["read"].append(seconds)
        truncate()
        times["staged"].append(timed(staged)[0])

    def orm_read_all() -> None:  # the ORM reference: values_list rows into a frame
        for s in frames:
            rows = list(Candle.objects.filter(symbol=s, timeframe="1h").order_by("open_time")
                        .values_list("open_time", *CANDLE_COLUMNS))
            pd.DataFrame(rows, columns=["open_time", *CANDLE_COLUMNS])

    orm_read, _ = timed(orm_read_all)

    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"PostgreSQL {connection.pg_version // 10000}, {rows:,} candles ({SYMBOLS} symbols), "
          f"median of {args.repeat} interleaved runs")
    print(f"  raw binary COPY into the table        {med['raw']:6.2f} s  {rows / med['raw']:>9,.0f} rows/s")
    print(f"  candles_upsert (empty table)          {med['upsert']:6.2f} s  {rows / med['upsert']:>9,.0f} rows/s"
          f"  = {med['raw'] / med['upsert']:.0%} of raw COPY")
    print(f"  candles_upsert again (all skipped)    {med['reload']:6.2f} s  {rows / med['reload']:>9,.0f} rows/s")
    print(f"  fallback: temp table + ON CONFLICT    {med['staged']:6.2f} s  {rows / med['staged']:>9,.0f} rows/s")
    print(f"  candles_df read into DataFrames       {med['read']:6.2f} s")
    print(f"  (ORM values_list read, once)          {orm_read:6.2f} s")


if __name__ == "__main__":
    main()
