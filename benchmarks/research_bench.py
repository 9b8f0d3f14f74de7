"""Benchmark: the research run and its inner loop, beside the code before the speed work (not a test).

    .venv/bin/python benchmarks/research_bench.py [--reference 47e5d19] [--skip-reference] [--skip-research]

Each figure is measured in fresh processes of this checkout and of a ``git worktree`` of ``--reference`` (the
commit before the speed work, by default), on the same machine in the same run:

1. ``manage.py research`` on a fresh SQLite database with the bundled data (what the quick start does):
   wall time, CPU time of the process and its children, the report's step timings.
2. One walk-forward evaluation, CPU ms: ``layer2_growth`` on ARB and OP at 1h, a window of 9,700 bars, the
   16 parameter sets of one random search on it (the first trial computes the shared indicators, the others
   reuse them: both are shown).
3. 100 trials x 10 periods: ``services.optimise`` with 100 random trials on each of 10 three-month windows of
   the same data, wall time (this checkout with RESEARCH_WORKERS=1 and with every core).
4. Cold start: the first engine call of a fresh process with an empty numba cache, and after
   ``manage.py warm_numba_cache``.

The load average is printed at the start and the end (compare figures from one run only).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE = "47e5d19"

EVALUATION = r"""
import json, time, numpy as np, pandas as pd
from analytics import services
from analytics.optimization import grid_points
name = "layer2_growth"
data = services.research_data_load(strategy=name, symbols=["ARB", "OP"], timeframe="1h",
                                   start=pd.Timestamp("2018-01-01", tz="UTC"), end=pd.Timestamp("2027-01-01", tz="UTC"))
bars = data.market.candles["OP"].index
start, end = bars[-9700], bars[-1]
space = services.parameter_space(data.strategy_class)
points = grid_points(space)
chosen = np.random.default_rng(7).choice(len(points), 16, replace=False)
data.evaluate(points[chosen[0]], bars[-200], end)  # compiled code loaded, caches of other windows warm
cpu = []
for i in chosen:
    before = time.process_time()
    try:
        data.evaluate(points[i], start, end)
    except ValueError:
        continue
    cpu.append((time.process_time() - before) * 1000)
print(json.dumps({"first_ms": cpu[0], "median_ms": float(np.median(cpu)), "rest_median_ms": float(np.median(cpu[1:])),
                  "n": len(cpu), "bars": {s: int(((f.index >= start) & (f.index < end)).sum())
                                          for s, f in data.market.candles.items()}}))
"""

TRIALS = r"""
import json, time, pandas as pd
from analytics import services
data = services.research_data_load(strategy="layer2_growth", symbols=["ARB", "OP"], timeframe="1h",
                                   start=pd.Timestamp("2018-01-01", tz="UTC"), end=pd.Timestamp("2027-01-01", tz="UTC"))
first = pd.Timestamp("2023-06-01", tz="UTC")
windows = [(first + pd.DateOffset(months=3 * k), first + pd.DateOffset(months=3 * (k + 1))) for k in range(10)]
wall, cpu = time.perf_counter(), time.process_time()
best = [services.optimise(data, a, b, objective="sharpe", search="random", max_trials=100, seed=k)["best_params"]
        for k, (a, b) in enumerate(windows)]
print(json.dumps({"wall_s": time.perf_counter() - wall, "parent_cpu_s": time.process_time() - cpu,
                  "best": [sorted(b.items()) if b else None for b in best]}))
"""

#: Compiles (or loads) the engine in a checkout that has no warm_numba_cache command (the reference).
WARM_ENGINE = r"""
import numpy as np, pandas as pd
from backtests.engine import EngineConfig, run_signals
from strategies.base import BaseStrategy
index = pd.date_range("2024-01-01", periods=5, freq="1h", tz="UTC")
candles = pd.DataFrame({"open": 1.0, "high": 1.1, "low": 0.9, "close": 1.0, "volume": 1.0}, index=index)
signals = BaseStrategy.empty_signals(index)
run_signals({"X": candles}, {"X": signals}, EngineConfig())
print("{}")
"""

COLD = r"""
import json, time
started = time.perf_counter()
from backtests.warm import warm
report = warm()
print(json.dumps({"seconds": time.perf_counter() - started, "compiled": report.compiled, "loaded": report.loaded}))
"""


def load() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def timed(checkout: Path, args: list[str], env: dict[str, str]) -> tuple[str, float, float]:
    """Like :func:`run`, with the CPU of the child and its descendants from ``resource``."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(args, cwd=checkout, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"{' '.join(args[:3])} failed in {checkout}:\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done.stdout, wall, cpu


def environment(database: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "RESEARCH_WORKERS", "NUMBA_CACHE_DIR"}}
    env.update(DJANGO_DEBUG="1", DATABASE_URL=f"sqlite:///{database}", DJANGO_SETTINGS_MODULE="config.settings",
               PYTHONPATH=".", **extra)
    return env


def python_code(checkout: Path, code: str, env: dict[str, str]) -> dict:
    script = "import django; django.setup()\n" + code
    out, _, _ = timed(checkout, [sys.executable, "-c", script], env)
    return json.loads(out.strip().splitlines()[-1])


def research(checkout: Path, workdir: Path, label: str) -> tuple[dict, Path]:
    database = workdir / f"{label}.sqlite3"
    env = environment(database, REPORTS_DIR=str(workdir / f"reports-{label}"))
    timed(checkout, [sys.executable, "manage.py", "migrate", "-v0"], env)
    python_code(checkout, WARM_ENGINE, env)  # both measured with compiled code cached, as after the quick start
    _, wall, cpu = timed(checkout, [sys.executable, "manage.py", "research"], env)
    report = json.loads(next((workdir / f"reports-{label}").glob("*/report.json")).read_text())
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "timings": report["timings"]}, database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", default=DEFAULT_REFERENCE, help="commit to compare with")
    parser.add_argument("--skip-reference", action="store_true", help="measure this checkout only")
    parser.add_argument("--skip-research", action="store_true", help="skip the two whole research runs")
    args = parser.parse_args()
    print(f"load average at start: {load()}  (cores: {len(os.sched_getaffinity(0))})")
    workdir = Path(tempfile.mkdtemp(prefix="research-bench-"))
    checkouts = {"this checkout": ROOT}
    if not args.skip_reference:
        reference = workdir / "reference"
        subprocess.run(["git", "worktree", "add", "--detach", str(reference), args.reference], cwd=ROOT, check=True,
                       capture_output=True)
        checkouts[f"reference {args.reference}"] = reference
    try:
        database = workdir / "this checkout.sqlite3"
        for label, checkout in checkouts.items():
            if args.skip_research:
                break
            figures, db = research(checkout, workdir, label.split()[0])
            if checkout == ROOT:
                database = db
            print(f"research, fresh database: {label}: {figures['wall_s']} s wall, {figures['cpu_s']} s CPU; "
                  f"steps {json.dumps(figures['timings'])}")
        if args.skip_research:  # a database with the bundled data for the other figures
            env = environment(database)
            timed(ROOT, [sys.executable, "manage.py", "migrate", "-v0"], env)
            timed(ROOT, [sys.executable, "manage.py", "load_sample_data"], env)
        for label, checkout in checkouts.items():
            figures = python_code(checkout, EVALUATION, environment(database, RESEARCH_WORKERS="1"))
            print(f"one evaluation (layer2_growth, ARB+OP 1h, {figures['bars']} bars): {label}: "
                  f"{figures['median_ms']:.1f} ms CPU median of {figures['n']} trials (first {figures['first_ms']:.1f}, "
                  f"the others {figures['rest_median_ms']:.1f})")
        results = {}
        for label, checkout in checkouts.items():
            for workers in (["1", "0"] if checkout == ROOT else ["1"]):
                figures = python_code(checkout, TRIALS, environment(database, RESEARCH_WORKERS=workers))
                results[(label, workers)] = figures["best"]
                cores = "every core" if workers == "0" else "one core"
                print(f"100 trials x 10 periods: {label}, {cores}: {figures['wall_s']:.1f} s wall")
        print("same choices in every run:", len({json.dumps(v) for v in results.values()}) == 1)
        cache = workdir / "numba-cache"
        for state in ("empty cache", "after warm_numba_cache"):
            figures = python_code(ROOT, COLD, environment(database, NUMBA_CACHE_DIR=str(cache)))
            print(f"first engine call of a fresh process, {state}: {figures['seconds']:.1f} s "
                  f"({figures['compiled']} compiled, {figures['loaded']} loaded)")
    finally:
        if not args.skip_reference:
            subprocess.run(["git", "worktree", "remove", "--force", str(workdir / "reference")], cwd=ROOT,
                           capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"load average at the end: {load()}")


if __name__ == "__main__":
    main()
