"""Indicator speed on 1M bars, and the indicator cache's write/read rates on PostgreSQL and SQLite.

    python benchmarks/indicators_bench.py [--bars 1000000] [--cache-bars 40000] [--skip-sqlite]

PostgreSQL: ``DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/postgres``) is used only
to create a scratch database ``indicators_bench_<pid>``, which is dropped at the end. SQLite uses a
file in a temporary directory. Each backend runs in its own subprocess (Django is set up once per
process).
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
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"


def random_walk(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.005, n)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.002, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.002, n)))
    volume = rng.lognormal(3, 1, n)
    index = pd.date_range("2000-01-01", periods=n, freq="h", tz="UTC", name="open_time").as_unit("ns")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)


def best_of(func, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        func()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def bench_indicators(bars: int) -> None:
    from marketdata import indicators as ind

    candles = random_walk(bars)
    ind.compute_all(candles.iloc[:1000])  # warm imports
    print(f"## Indicators on {bars:,} bars (median of 3)")
    total = best_of(lambda: ind.compute_all(candles))
    print(f"compute_all (default set, {len(ind.compute_all(candles.iloc[:10]).columns)} columns): {total:.3f} s")
    for name in ind.INDICATORS:
        params_list = [p for n, p in ind.DEFAULT_SET if n == name]
        seconds = best_of(lambda: [ind.compute_indicator(name, candles, **p) for p in params_list])  # noqa: B023
        print(f"  {name:13s} x{len(params_list)}: {seconds:.3f} s")


# --------------------------------------------------------------------------- cache (subprocess)


def bench_cache(backend: str, cache_bars: int) -> dict:
    """Runs inside a subprocess whose DATABASE_URL points at a scratch database."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from marketdata.indicator_cache import indicators_sync, parse_requests, read_stored
    from marketdata.models import Candle, IndicatorValue

    call_command("migrate", verbosity=0)
    candles = random_walk(cache_bars)
    Candle.objects.bulk_create(
        [Candle(symbol="BTC", timeframe="1h", open_time=t, open=o, high=h, low=lo, close=c, volume=v,
                source="manual")
         for t, o, h, lo, c, v in zip(candles.index.to_pydatetime(), *(candles[col].tolist() for col in
                                                                     ("open", "high", "low", "close", "volume")),
                                      strict=True)],
        batch_size=5000,
    )
    began = time.perf_counter()
    first = indicators_sync(symbol="BTC", timeframe="1h")
    write_seconds = time.perf_counter() - began
    rows = first.inserted_total
    assert rows == IndicatorValue.objects.count()

    began = time.perf_counter()
    second = indicators_sync(symbol="BTC", timeframe="1h")
    cached_call_seconds = time.perf_counter() - began
    assert second.inserted_total == 0 and not second.computed

    keys = parse_requests(None)
    began = time.perf_counter()
    stored = read_stored(symbol="BTC", timeframe="1h", keys=keys)
    read_seconds = time.perf_counter() - began
    read_rows = int(stored.notna().sum().sum())
    assert read_rows == rows

    # append 1% new candles: only their rows are written
    extra = random_walk(cache_bars + cache_bars // 100).iloc[cache_bars:]
    Candle.objects.bulk_create([
        Candle(symbol="BTC", timeframe="1h", open_time=t, open=r.open, high=r.high, low=r.low, close=r.close,
               volume=r.volume, source="manual")
        for t, r in zip(extra.index.to_pydatetime(), extra.itertuples(), strict=True)
    ])
    began = time.perf_counter()
    third = indicators_sync(symbol="BTC", timeframe="1h")
    append_seconds = time.perf_counter() - began
    return {
        "backend": connection.vendor,
        "bars": cache_bars,
        "rows_written": rows,
        "first_call_s": round(write_seconds, 3),
        "write_rows_per_s": round(rows / write_seconds),
        "cached_call_s": round(cached_call_seconds, 3),
        "read_stored_s": round(read_seconds, 3),
        "read_rows_per_s": round(read_rows / read_seconds),
        "append_1pct_s": round(append_seconds, 3),
        "append_rows": third.inserted_total,
    }


def run_backend(backend: str, cache_bars: int) -> dict | None:
    pg_url = os.environ.get("DATABASE_URL", DEFAULT_PG)
    env = dict(os.environ)
    scratch_name = f"indicators_bench_{os.getpid()}"
    tmpdir = tempfile.TemporaryDirectory()
    if backend == "postgresql":
        import psycopg

        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{scratch_name}"')
        env["DATABASE_URL"] = pg_url.rsplit("/", 1)[0] + "/" + scratch_name
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmpdir.name}/bench.sqlite3"
    try:
        done = subprocess.run([sys.executable, __file__, "--child", str(cache_bars)], env=env, cwd=ROOT,
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return None
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        tmpdir.cleanup()
        if backend == "postgresql":
            import psycopg

            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{scratch_name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--cache-bars", type=int, default=40_000)
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-indicators", action="store_true")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(bench_cache("child", args.child)))
        return
    if not args.skip_indicators:
        bench_indicators(args.bars)
    backends = ["postgresql"] + ([] if args.skip_sqlite else ["sqlite"])
    print(f"\n## Indicator cache, default set on {args.cache_bars:,} candles")
    for backend in backends:
        print(json.dumps(run_backend(backend, args.cache_bars)))


if __name__ == "__main__":
    main()
