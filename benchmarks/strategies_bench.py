"""Signal generation and look-ahead check cost of every registered strategy on synthetic data.

    python benchmarks/strategies_bench.py [--bars 20000] [--repeat 3] [--sample 5]

For each strategy: ``generate_signals`` on ``--bars`` bars per symbol of its universe (random walks,
BTC/ETH regime candles, daily on-chain frames joined point-in-time), median of ``--repeat`` runs, and
one ``lookahead_check`` with ``--sample`` cuts. Prints JSON lines; wall and CPU time beside the load
average (the machines are shared, so compare numbers from one run only).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics.lookahead import lookahead_check  # noqa: E402
from strategies.registry import STRATEGIES  # noqa: E402
from tests.strategies.synthetic import make_market_data  # noqa: E402


def timed(func, *args, **kwargs) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    func(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample", type=int, default=5)
    args = parser.parse_args()
    for name, cls in STRATEGIES.items():
        data = make_market_data(cls, bars=args.bars, seed=0)
        strategy = cls()
        runs = [timed(strategy.generate_signals, data) for _ in range(args.repeat)]
        lookahead_wall, _ = timed(lookahead_check, strategy, data, sample=args.sample)
        print(json.dumps({
            "strategy": name,
            "symbols": len(data.candles),
            "bars_per_symbol": args.bars,
            "signals_wall_s": round(statistics.median(r[0] for r in runs), 4),
            "signals_cpu_s": round(statistics.median(r[1] for r in runs), 4),
            "lookahead_wall_s": round(lookahead_wall, 3),
            "lookahead_cuts": args.sample,
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }))


if __name__ == "__main__":
    main()
