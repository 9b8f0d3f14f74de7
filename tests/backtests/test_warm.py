"""``manage.py warm_numba_cache``: a cold cache is compiled once, and later processes load instead of compiling."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LATER_PROCESS = """
import numpy as np, pandas as pd
from backtests.engine import kernel
from backtests.engine.config import EngineConfig
from backtests.engine.run import run_signals
from strategies.base import BaseStrategy
index = pd.date_range("2023-05-01", periods=500, freq="4h", tz="UTC")
close = 50 + np.cumsum(np.random.default_rng(3).normal(0, 1, 500)).clip(-40, None)
candles = pd.DataFrame({"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": 10.0},
                       index=index)
signals = BaseStrategy.empty_signals(index)
signals.iloc[10, signals.columns.get_loc("entry")] = True
signals.iloc[10, signals.columns.get_loc("stop")] = close[10] * 0.9
signals.iloc[200, signals.columns.get_loc("exit")] = True
result = run_signals({"Z": candles}, {"Z": signals}, EngineConfig())
assert len(result.trades) == 1, result.trades
print("misses", sum(kernel.simulate.stats.cache_misses.values()), "hits", sum(kernel.simulate.stats.cache_hits.values()))
"""


def _run(args: list[str], cache: Path) -> str:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "DJANGO_DEBUG": "1"}
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.slow
def test_a_warmed_cache_spares_every_later_process_the_compile(tmp_path):
    cache = tmp_path / "numba-cache"
    warm = [sys.executable, "manage.py", "warm_numba_cache"]
    first = _run(warm, cache)
    assert "0 loaded from the cache" in first and " 0 signatures compiled" not in first
    assert any(cache.rglob("*.nbi")), "the compiled code is written to NUMBA_CACHE_DIR"
    second = _run(warm, cache)
    assert "0 signatures compiled" in second and "0 loaded" not in second
    # a later process doing real work (other data, other sizes) loads the engine instead of compiling it
    later = _run([sys.executable, "-c", "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
                  "'config.settings'); django.setup()\n" + LATER_PROCESS], cache)
    assert later.startswith("misses 0 hits ") and not later.endswith(" 0")
