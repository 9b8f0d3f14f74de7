"""Benchmark of analytics.montecarlo: 10,000 simulations of 1,000 trades (target: well under a second).

Run: ``python benchmarks/montecarlo_bench.py [--iterations 10000] [--trades 1000] [--repeats 5]``.
Prints the median and best wall time of each method (after one warm-up run), plus the chunk-size sweep
that justified the default chunking. Timings are machine dependent; compare ratios within one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.montecarlo import METHODS, default_chunk_size, simulate, simulate_paths


def _time(fn, repeats: int) -> tuple[float, float, float]:
    """Median wall time, best wall time and median CPU time of this process (less sensitive to load)."""
    fn()  # warm-up
    walls, cpus = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu_start)
    return statistics.median(walls), min(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=10_000)
    parser.add_argument("--trades", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    returns = np.random.default_rng(0).normal(0.001, 0.02, args.trades)
    print(f"{args.iterations} simulations x {args.trades} trades, default chunk "
          f"{default_chunk_size(args.trades)} simulations, median/best of {args.repeats}")
    for method in METHODS:
        median, best, cpu = _time(lambda m=method: simulate(returns, n_iterations=args.iterations, method=m),
                                  args.repeats)
        print(f"  simulate(method={method!r:12}) wall median {median:.3f} s, best {best:.3f} s; "
              f"CPU median {cpu:.3f} s")
    print(f"load average before the sweep: {os.getloadavg()[0]:.2f} (other processes inflate wall times)")
    print("chunk-size sweep (simulate_paths, shuffle / bootstrap, median wall seconds):")
    for chunk in (16, 64, 128, 256, 500, 1000):
        row = [
            _time(lambda m=method, c=chunk: simulate_paths(returns, n_iterations=args.iterations, method=m,
                                                           chunk_size=c), 3)[0]
            for method in METHODS
        ]
        print(f"  chunk {chunk:5d}: " + " / ".join(f"{t:.3f}" for t in row))


if __name__ == "__main__":
    main()
