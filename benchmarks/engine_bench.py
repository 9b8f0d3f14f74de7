"""Benchmark: SMA(20)/SMA(50) crossover, long only, on synthetic hourly bars, in three engines.

    .venv/bin/python benchmarks/engine_bench.py [--sizes 10000 100000 1000000] [--repeat 3]

Engines, with matched rules (0.1% fee per side, fill at the next bar's open, no slippage, all-in sizing):

* this engine: ``run_signals`` with precomputed signals (the strategy's pandas SMAs are timed separately
  and reported as ``engine+signals``), so the bar loop is compared like for like;
* backtesting.py: ``FractionalBacktest`` (fractional units) with the same crossover rule;
* vectorbt: ``Portfolio.from_signals`` with signals shifted one bar and ``price=open``.

Each measurement is the median of ``--repeat`` runs, interleaved across engines, after one warm-up each
(numba compilation excluded). ``--cost-models`` also times this engine under the volume-share slippage model
and with 15-minute candles under every hourly bar (the intrabar ordering of stop and target; the signals then
carry a 3% stop and a 3% target), each against the plain engine of the same run.
Prints times, trade counts (they should agree) and ratios. Targets: faster than backtesting.py at every
size; within 3x of vectorbt at 1M bars. Needs the ``bench`` extra (vectorbt).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backtests.engine import CostModel, EngineConfig, RiskLimits, run_signals
from strategies.examples import sma_crossover_signals

FAST, SLOW, FEE, CAPITAL = 20, 50, 0.001, 100_000.0


def synthetic_candles(bars: int, seed: int = 7) -> pd.DataFrame:
    """A geometric random walk on an hourly UTC index, with plausible OHLC around it."""
    rng = np.random.default_rng(seed)
    close = 20_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.006, bars)))
    open_ = np.concatenate([[close[0]], close[:-1]]) * (1 + rng.normal(0.0, 0.0005, bars))
    spread = np.abs(rng.normal(0.0, 0.003, bars)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    index = pd.date_range("2000-01-01", periods=bars, freq="1h", tz="UTC")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": rng.uniform(1, 100, bars)}, index=index)


def timed_interleaved(runs: dict[str, tuple[Callable[[], int], int]]) -> dict[str, tuple[float, int]]:
    """Median time and trade count per engine; repeats are interleaved so load drift hits all alike."""
    trades = {name: func() for name, (func, _) in runs.items()}  # warm-up (numba compile / caches)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(max(repeat for _, repeat in runs.values())):
        for name, (func, repeat) in runs.items():
            if round_ < repeat:
                start = time.perf_counter()
                trades[name] = func()
                times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(times[name]), trades[name]) for name in runs}


def bench_engine(candles: pd.DataFrame, with_signals: bool) -> Callable[[], int]:
    config = EngineConfig(initial_capital=CAPITAL, fee_rate=FEE, slippage_rate=0.0, sizing="fixed_fraction",
                          risk=RiskLimits.unlimited(), close_at_end=False)
    signals = {"BTC": sma_crossover_signals(candles["close"], FAST, SLOW)}

    def run() -> int:
        sigs = {"BTC": sma_crossover_signals(candles["close"], FAST, SLOW)} if with_signals else signals
        return len(run_signals({"BTC": candles}, sigs, config).trades)

    return run


def fifteen_minute_candles(candles: pd.DataFrame, seed: int = 11) -> pd.DataFrame:
    """Four 15-minute candles inside each hourly one: open..close in steps, the hour's high and low reached."""
    rng = np.random.default_rng(seed)
    n = len(candles)
    o, h, lo, c = (candles[col].to_numpy() for col in ("open", "high", "low", "close"))
    path = np.stack([o, np.where(rng.random(n) < 0.5, h, lo), np.where(rng.random(n) < 0.5, lo, h), c], axis=1)
    opens = path.reshape(-1)
    closes = np.concatenate([path[:, 1:], c[:, None]], axis=1).reshape(-1)
    index = (candles.index.as_unit("ns").asi8[:, None] + np.arange(4) * 900 * 10**9).reshape(-1)
    return pd.DataFrame({"open": opens, "high": np.maximum(opens, closes), "low": np.minimum(opens, closes),
                         "close": closes}, index=pd.DatetimeIndex(index, tz="UTC"))


def bench_cost_model(candles: pd.DataFrame, variant: str) -> Callable[[], int]:
    """This engine under a non-default rule: ``volume_share`` slippage, or ``detail`` (stop and target with
    15-minute candles under each bar; ``plain_targets`` is the same signals without them)."""
    costs = CostModel(slippage_model="volume_share" if variant == "volume_share" else "fixed")
    config = EngineConfig(initial_capital=CAPITAL, fee_rate=FEE, slippage_rate=0.0, sizing="fixed_fraction",
                          risk=RiskLimits.unlimited(), close_at_end=False, costs=costs)
    signals = sma_crossover_signals(candles["close"], FAST, SLOW)
    detail = None
    if variant in ("detail", "plain_targets"):
        signals["stop"] = candles["close"] * 0.97
        signals["take_profit"] = candles["close"] * 1.03
        detail = {"BTC": fifteen_minute_candles(candles)} if variant == "detail" else None

    def run() -> int:
        return len(run_signals({"BTC": candles}, {"BTC": signals}, config, detail=detail).trades)

    return run


def bench_backtesting(candles: pd.DataFrame) -> Callable[[], int]:
    from backtesting import Strategy
    from backtesting.lib import FractionalBacktest, crossover

    class SmaCross(Strategy):
        def init(self):
            close = pd.Series(self.data.Close)
            self.fast = self.I(lambda: close.rolling(FAST).mean().to_numpy())
            self.slow = self.I(lambda: close.rolling(SLOW).mean().to_numpy())

        def next(self):
            if crossover(self.fast, self.slow) and not self.position:
                self.buy()
            elif crossover(self.slow, self.fast) and self.position:
                self.position.close()

    data = candles.rename(columns=str.capitalize).tz_localize(None)

    def run() -> int:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stats = FractionalBacktest(data, SmaCross, cash=CAPITAL, commission=FEE,
                                       finalize_trades=False).run()
        return len(stats._trades)

    return run


def bench_vectorbt(candles: pd.DataFrame) -> Callable[[], int]:
    import vectorbt as vbt

    frame = candles.tz_localize(None)  # a tz-aware index is slow in vectorbt (see PERFORMANCE.md)
    signals = sma_crossover_signals(frame["close"], FAST, SLOW)
    entries = signals["entry"].shift(1, fill_value=False)
    exits = signals["exit"].shift(1, fill_value=False)

    def run() -> int:
        portfolio = vbt.Portfolio.from_signals(frame["close"], entries, exits, price=frame["open"], fees=FEE,
                                               init_cash=CAPITAL, freq="1h")
        return int(portfolio.trades.closed.count())

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-backtesting-above", type=int, default=10_000_000,
                        help="skip backtesting.py above this many bars (it is slow)")
    parser.add_argument("--cost-models", action="store_true",
                        help="also time the volume-share model and the 15-minute intrabar ordering")
    args = parser.parse_args()

    rows, extra = [], []
    for bars in args.sizes:
        candles = synthetic_candles(bars)
        runs = {
            "engine": (bench_engine(candles, with_signals=False), args.repeat),
            "engine+signals": (bench_engine(candles, with_signals=True), args.repeat),
            "vectorbt": (bench_vectorbt(candles), args.repeat),
        }
        if args.cost_models:
            for variant in ("volume_share", "plain_targets", "detail"):
                runs[variant] = (bench_cost_model(candles, variant), args.repeat)
        if bars <= args.skip_backtesting_above:
            # backtesting.py takes seconds per run at 1M bars: warm-up plus one timed run there
            runs["backtesting.py"] = (bench_backtesting(candles), args.repeat if bars < 1_000_000 else 1)
        measured = timed_interleaved(runs)
        engine_t, engine_n = measured["engine"]
        full_t, _ = measured["engine+signals"]
        vbt_t, vbt_n = measured["vectorbt"]
        bt_t, bt_n = measured.get("backtesting.py", (float("nan"), -1))
        rows.append((bars, engine_t, full_t, bt_t, vbt_t, engine_n, bt_n, vbt_n))
        if args.cost_models:
            extra.append((bars, engine_t, *(measured[v][0] for v in ("volume_share", "plain_targets", "detail"))))
        print(f"{bars:>9,} bars: engine {engine_t:.4f}s (with signals {full_t:.4f}s), "
              f"backtesting.py {bt_t:.4f}s, vectorbt {vbt_t:.4f}s; trades {engine_n}/{bt_n}/{vbt_n}",
              flush=True)

    print()
    print(f"{'bars':>10} {'engine s':>10} {'engine+sig s':>13} {'bt.py s':>9} {'vbt s':>8} "
          f"{'bt.py/engine':>13} {'engine/vbt':>11} {'engine+sig/vbt':>15}  trades e/bt/vbt")
    for bars, engine_t, full_t, bt_t, vbt_t, en, bn, vn in rows:
        print(f"{bars:>10,} {engine_t:>10.4f} {full_t:>13.4f} {bt_t:>9.3f} {vbt_t:>8.4f} "
              f"{bt_t / engine_t:>12.1f}x {engine_t / vbt_t:>10.2f}x {full_t / vbt_t:>14.2f}x  {en}/{bn}/{vn}")
    if extra:
        print()
        print(f"{'bars':>10} {'engine s':>10} {'volume share s':>15} {'stop+target s':>14} {'+15m detail s':>14} "
              f"{'volume/engine':>14} {'detail/targets':>15}")
        for bars, engine_t, volume_t, targets_t, detail_t in extra:
            print(f"{bars:>10,} {engine_t:>10.4f} {volume_t:>15.4f} {targets_t:>14.4f} {detail_t:>14.4f} "
                  f"{volume_t / engine_t:>13.2f}x {detail_t / targets_t:>14.2f}x")


if __name__ == "__main__":
    main()
