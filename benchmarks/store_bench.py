"""Benchmark: storing one long 1m backtest through ``backtests.services``, on SQLite and PostgreSQL (not a test).

For each backend, in a scratch database (a temporary SQLite file; a PostgreSQL database created on
``--server`` and dropped afterwards):

1. a setup process migrates it and loads ``--bars`` synthetic 1m BTC candles (plus the strategy's warm-up)
   through ``candles_upsert``;
2. a fresh process runs one ``sma_crossover`` backtest (fast 20, slow 50, 5% stop, the default risk limits)
   over those bars the way the ``backtest`` task does: ``backtest_compute`` (candles read, ``evaluate_window``,
   hash), then ``backtest_store`` under the run's claim. It prints the load, evaluation and storing seconds, storing over
   evaluation, the rows stored and the process's peak RSS (``ru_maxrss``: everything the process did,
   Django start-up, the numba warm-up and the candle read included); ``--repeat`` such processes, the
   median of each figure is printed;
3. another fresh process does the same through the reference: the store path before bounded snapshots (one
   ``BacktestMetric`` instance per bar and ``BacktestTrade`` instances through ``bulk_create(batch_size=1000)``),
   on ``--reference-bars`` bars (default: as many as the run; a smaller slice is labelled as such).

With the default risk limits the 20% drawdown breaker halts this strategy for good after a few hundred trade
legs (few fills, so few snapshots beyond the daily ones); ``--cooldown-bars 1440`` lets it trade again a day
after each trip, so that it trades through the whole run (about one leg per 100 bars: many fill snapshots).

The numba engine is compiled (or read from its disk cache) on a tiny series before anything is timed.
The machines are shared: the load average is printed beside the figures; compare numbers of one run only.

    .venv/bin/python benchmarks/store_bench.py [--bars 1000000] [--reference-bars N] [--repeat 3]
                                               [--cooldown-bars N] [--backend sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WARMUP = 50  # sma_crossover's warm-up bars
T0 = "2020-01-01"


# --------------------------------------------------------------------------- parent
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--reference-bars", type=int, default=None,
                        help="bars of the reference run (default: --bars; 0 skips it)")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=3, help="processes running the new path (median)")
    parser.add_argument("--cooldown-bars", type=int, default=None,
                        help="risk limit drawdown_cooldown_bars (default: none, the breaker halts for good)")
    parser.add_argument("--child", choices=("setup", "run"), help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--path", choices=("service", "reference"), default="service", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "setup":
        return child_setup(args)
    if args.child == "run":
        return child_run(args)
    reference_bars = args.bars if args.reference_bars is None else args.reference_bars
    cooldown = ("the breaker halts for good" if args.cooldown_bars is None
                else f"{args.cooldown_bars}-bar cool-down after the breaker")
    print(f"store_bench: {args.bars:,} bars of 1m candles, sma_crossover 20/50 with a 5% stop, {cooldown}; "
          f"new path: median of {args.repeat} processes; reference: one process on {reference_bars:,} bars; "
          f"load average {_load()} at start", flush=True)
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for backend in backends:
        with scratch_database(backend, args.server) as url:
            _child(args, url, "setup")
            runs = [_child(args, url, "run", path="service") for _ in range(args.repeat)]
            results = [median_run(runs)]
            if reference_bars:
                results.append(_child(args, url, "run", path="reference", bars=reference_bars))
        report(backend, results)
    print(f"load average {_load()} at the end", flush=True)


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


class scratch_database:
    def __init__(self, backend: str, server: str) -> None:
        self.backend, self.server = backend, server

    def __enter__(self) -> str:
        if self.backend == "sqlite":
            self.folder = tempfile.mkdtemp(prefix="store-bench-")
            return f"sqlite:///{self.folder}/bench.sqlite3"
        import psycopg

        self.name = f"store_bench_{os.getpid()}"
        with psycopg.connect(f"{self.server}/postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')
        return f"{self.server}/{self.name}"

    def __exit__(self, *exc: object) -> None:
        if self.backend == "sqlite":
            shutil.rmtree(self.folder, ignore_errors=True)
            return
        import psycopg

        with psycopg.connect(f"{self.server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def _child(args: argparse.Namespace, url: str, step: str, *, path: str = "service", bars: int | None = None) -> dict:
    command = [sys.executable, __file__, "--child", step, "--database-url", url, "--bars", str(bars or args.bars),
               "--path", path]
    if args.cooldown_bars is not None:
        command += ["--cooldown-bars", str(args.cooldown_bars)]
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        sys.exit(f"{step} ({path}) failed:\n{out.stdout}\n{out.stderr}")
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(lines[-1][len("RESULT "):]) if lines else {}


def median_run(runs: list[dict]) -> dict:
    """Each numeric figure's median over the runs (the rows stored are the same in each)."""
    out = dict(runs[-1])
    for key, value in runs[0].items():
        if isinstance(value, float):
            out[key] = statistics.median(run[key] for run in runs)
    out["store_each"] = [round(run["store_s"], 3) for run in runs]
    return out


def report(backend: str, results: list[dict]) -> None:
    write = "binary COPY" if backend == "postgres" else "executemany"
    print(f"\n{backend}")
    print(f"  {'path':<40} {'bars':>9} {'load s':>7} {'eval s':>7} {'store s':>8} {'store/eval':>10} "
          f"{'store/compute':>13} {'snapshots':>9} {'trades':>7} {'peak RSS':>9} {'(compute)':>9}  load avg")
    for r in results:
        label = (f"bounded snapshots, {write}" if r["path"] == "service"
                 else "reference: bulk_create of every bar")
        print(f"  {label:<40} {r['bars']:>9,} {r['load_s']:>7.2f} {r['evaluate_s']:>7.2f} {r['store_s']:>8.3f} "
              f"{r['store_s'] / r['evaluate_s']:>10.0%} {r['store_s'] / r['compute_s']:>13.0%} {r['snapshots']:>9,} {r['trades']:>7,} "
              f"{r['peak_rss_mib']:>5,.0f} MiB {r['rss_after_compute_mib']:>5,.0f} MiB  {r['load_avg']}")
    if "store_each" in results[0]:
        print(f"  (new path, storing seconds of each process: {results[0]['store_each']})")
    if len(results) == 2:
        new, ref = results
        per_bar_new, per_bar_ref = new["store_s"] / new["bars"], ref["store_s"] / ref["bars"]
        if ref["bars"] == new["bars"]:
            print(f"  storing {per_bar_ref / per_bar_new:,.0f}x faster than the reference; peak RSS "
                  f"{new['peak_rss_mib']:,.0f} vs {ref['peak_rss_mib']:,.0f} MiB")
        else:
            print(f"  storing {per_bar_ref / per_bar_new:,.0f}x faster than the reference per bar (the reference ran "
                  f"on {ref['bars']:,} bars only: its RSS is not comparable)")
    print("  (eval s: evaluate_window, signals + engine + metrics on the full curve; load s: the candle read and "
          "data-quality check; store/compute: storing over the run's whole compute, backtest_compute = load + eval "
          "+ hash; peak RSS: the whole process, (compute): its peak before storing)")
    sys.stdout.flush()


# --------------------------------------------------------------------------- children
def _django(url: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def synthetic_candles(n: int, seed: int = 7):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.0008, n)))
    open_ = np.r_[close[0], close[:-1]]
    spread = np.abs(rng.normal(0, 0.0004, n)) * close
    return pd.DataFrame({
        "open_time": pd.date_range(T0, periods=n, freq="1min", tz="UTC"),
        "open": open_, "high": np.maximum(open_, close) + spread, "low": np.minimum(open_, close) - spread,
        "close": close, "volume": rng.uniform(0, 50, n),
    })


def child_setup(args: argparse.Namespace) -> None:
    _django(args.database_url)
    from django.core.management import call_command

    from marketdata.loading import candles_upsert

    call_command("migrate", verbosity=0)
    result = candles_upsert(synthetic_candles(args.bars + WARMUP), symbol="BTC", timeframe="1m", source="binance")
    print("RESULT " + json.dumps({"inserted": result.inserted}))


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _warm_engine() -> None:
    """Compile (or load from numba's disk cache) the engine on a tiny series: no compile in the timings."""
    from backtests.engine import EngineConfig, run_backtest
    from strategies.base import MarketData
    from strategies.examples import SmaCrossover

    candles = synthetic_candles(500).set_index("open_time")
    run_backtest(SmaCrossover(), MarketData(candles={"BTC": candles}), EngineConfig(bar_length="1min"))


def child_run(args: argparse.Namespace) -> None:
    _django(args.database_url)
    import pandas as pd

    from backtests import services
    from backtests.models import BacktestConfig
    from core import lifecycle

    _warm_engine()
    timers: dict[str, float] = {}

    def timed(name: str, function):
        def wrapper(*a, **k):
            started = time.perf_counter()
            try:
                return function(*a, **k)
            finally:
                timers[name] = timers.get(name, 0.0) + time.perf_counter() - started
        return wrapper

    services.market_data_load = timed("load", services.market_data_load)
    services.evaluate_window = timed("evaluate", services.evaluate_window)
    start = pd.Timestamp(T0, tz="UTC") + pd.Timedelta(minutes=WARMUP)
    config = services.backtest_create(strategy="sma_crossover", symbols=["BTC"], timeframe="1m",
                                      start=start.to_pydatetime(),
                                      end=(start + pd.Timedelta(minutes=args.bars)).to_pydatetime(),
                                      parameters={"fast": 20, "slow": 50, "stop_pct": 0.05},
                                      risk_limits=None if args.cooldown_bars is None
                                      else {"drawdown_cooldown_bars": args.cooldown_bars}, queue=False)
    attempt = lifecycle.claim(BacktestConfig, config.pk)
    assert attempt is not None
    config.refresh_from_db()
    started = time.perf_counter()
    outcome = services.backtest_compute(config)
    compute = time.perf_counter() - started
    rss_after_compute = _peak_mib()
    store = reference_store if args.path == "reference" else services.backtest_store
    started = time.perf_counter()
    store(config, outcome, attempt)
    stored = time.perf_counter() - started
    config.refresh_from_db()
    snapshots = config.summary.get("snapshots") or {}
    print("RESULT " + json.dumps({
        "path": args.path, "bars": len(outcome.result.equity.loc[outcome.result.equity.index >= start]),
        "compute_s": compute, "load_s": timers.get("load", 0.0), "evaluate_s": timers.get("evaluate", 0.0),
        "store_s": stored, "snapshots": config.metrics.count(), "trades": config.trades.count(),
        "resolution": snapshots.get("resolution", "every bar"),
        "rss_after_compute_mib": rss_after_compute, "peak_rss_mib": _peak_mib(), "load_avg": _load(),
        "status": config.status,
    }))


def reference_store(config, outcome, attempt: int) -> None:
    """``backtests.services.backtest_store`` as it was before bounded snapshots (commit 47e5d19): model
    instances for every trade and every bar, ``bulk_create(batch_size=1000)``, in one transaction."""
    import pandas as pd
    from django.db import transaction

    from backtests import services
    from backtests.models import BacktestMetric, BacktestTrade

    def trade_rows(trades: pd.DataFrame) -> list[BacktestTrade]:
        records = trades[services.TRADE_FIELDS].to_dict("records") if len(trades) else []
        rows = []
        for record in records:
            record["entry_time"] = pd.Timestamp(record["entry_time"]).to_pydatetime()
            record["exit_time"] = pd.Timestamp(record["exit_time"]).to_pydatetime()
            record["return_pct"] = None if pd.isna(record["return_pct"]) else float(record["return_pct"])
            rows.append(BacktestTrade(config=config, **record))
        return rows

    def metric_rows(equity: pd.DataFrame) -> list[BacktestMetric]:
        frame = equity.loc[equity.index >= pd.Timestamp(config.start)]
        return [
            BacktestMetric(config=config, timestamp=ts.to_pydatetime(), equity=float(row.equity),
                           cash=float(row.cash), drawdown=float(min(max(row.drawdown, 0.0), 1.0)),
                           exposure=float(max(row.exposure, 0.0)), portfolio_heat=float(max(row.portfolio_heat, 0.0)),
                           open_positions=int(row.open_positions), circuit_breaker=bool(row.circuit_breaker))
            for ts, row in zip(frame.index, frame.itertuples(index=False), strict=True)
        ]

    perf = outcome.performance
    summary = {**outcome.result.summary, "performance": perf,
               "notes": [*outcome.notes, *outcome.result.summary.get("notes", [])],
               "data_coverage": outcome.coverage}
    with transaction.atomic():
        for observer in services.RESULT_OBSERVERS:
            summary.update(observer(config, outcome) or {})
        BacktestTrade.objects.filter(config=config).delete()
        BacktestMetric.objects.filter(config=config).delete()
        BacktestTrade.objects.bulk_create(trade_rows(outcome.result.trades), batch_size=1000)
        BacktestMetric.objects.bulk_create(metric_rows(outcome.result.equity), batch_size=1000)
        services.finish_with_results(config, attempt, summary, outcome)


if __name__ == "__main__":
    main()
