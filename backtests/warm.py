"""The compiled code, compiled once: numba's on-disk cache filled for every ``@njit`` function we ship.

A fresh process pays 14-16 s of compilation on its first engine call unless numba's cache holds the
machine code (then 0.5 s to load it). ``manage.py warm_numba_cache`` (run by the README's quick start and by
``.ci/run``) fills it by calling each compiled function once with the argument types the platform uses; the
cache sits beside the sources (``__pycache__``, or ``NUMBA_CACHE_DIR``), so every later process of the
checkout (test workers, queue workers, a request) loads it instead of compiling.

:func:`ensure_compiled` does the same in-process, once: the research services call it before they fork
workers (``core.parallel``), so the workers inherit compiled code instead of each compiling its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba.core.dispatcher import Dispatcher

from backtests.engine import kernel
from backtests.engine.config import EngineConfig
from backtests.engine.run import run_signals
from strategies import stable_lp_yield
from strategies.base import BaseStrategy

#: Modules whose ``@njit`` functions are warmed.
COMPILED_MODULES = (kernel, stable_lp_yield)

_compiled = False


@dataclass(frozen=True)
class WarmReport:
    functions: int
    compiled: int  # signatures compiled now (a cold cache)
    loaded: int  # signatures loaded from the on-disk cache
    seconds: float

    def __str__(self) -> str:
        return (f"compiled code ready: {self.functions} functions, {self.compiled} signatures compiled and cached, "
                f"{self.loaded} loaded from the cache, in {self.seconds:.1f} s")


def dispatchers() -> list[Dispatcher]:
    return [obj for module in COMPILED_MODULES for obj in vars(module).values() if isinstance(obj, Dispatcher)]


def _exercise() -> None:
    """One call of each entry point with the types the platform passes (a long and a short with stop, target,
    partial exit and scale-in, so every branch's callee is compiled too)."""
    index = pd.date_range("2024-01-01", periods=6, freq="1h", tz="UTC")
    prices = np.array([100.0, 101.0, 103.0, 99.0, 104.0, 102.0])
    candles = pd.DataFrame({"open": prices, "high": prices * 1.01, "low": prices * 0.99, "close": prices,
                            "volume": np.full(6, 1_000.0)}, index=index)
    long = BaseStrategy.empty_signals(index)
    long.loc[index[0], "entry"] = True
    long.loc[index[0], "stop"], long.loc[index[0], "take_profit"] = 95.0, 102.5
    long.loc[index[0], "take_profit_fraction"] = 0.5
    long.loc[index[2], "scale_in"] = True
    long.loc[index[4], "exit"] = True
    short = BaseStrategy.empty_signals(index)
    short.loc[index[1], "entry"] = True
    short.loc[index[1], "direction"] = -1
    short.loc[index[1], "stop"] = 106.0
    run_signals({"A": candles, "B": candles.copy()}, {"A": long, "B": short}, EngineConfig())
    healthy = np.ones((4, 2))
    stable_lp_yield.rotate_kernel(healthy, np.full((4, 2), 0.03), np.ones(4, dtype=np.bool_), 1, 0.0)


def warm() -> WarmReport:
    """Compile (or load) every shipped ``@njit`` function now and say which it was."""
    global _compiled
    started = time.perf_counter()
    before = {id(d): (sum(d.stats.cache_hits.values()), sum(d.stats.cache_misses.values())) for d in dispatchers()}
    _exercise()
    _compiled = True
    hits = misses = 0
    for dispatcher in dispatchers():
        hit0, miss0 = before[id(dispatcher)]
        hits += sum(dispatcher.stats.cache_hits.values()) - hit0
        misses += sum(dispatcher.stats.cache_misses.values()) - miss0
    return WarmReport(functions=len(before), compiled=misses, loaded=hits,
                      seconds=time.perf_counter() - started)


def ensure_compiled() -> None:
    """:func:`warm` once per process (cheap after the first time)."""
    if not _compiled:
        warm()
