"""``manage.py new_strategy NAME [--dir DIR] [--force]``: write a documented, runnable template strategy and its tests.

The files are ``DIR/NAME.py`` (an EMA crossover on BTC and ETH with a stop, every contract attribute
explained) and ``DIR/test_NAME.py`` (pytest, synthetic candles: no entry in the warm-up, a stop on every
entry, no look-ahead, the platform's checks pass). ``DIR`` defaults to the ``STRATEGIES_DIR`` setting, else
``./strategies_local``.
"""

from __future__ import annotations

import keyword
from pathlib import Path
from string import Template

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from strategies.discovery import MAX_NAME_LENGTH, NAME_PATTERN
from strategies.registry import STRATEGIES, USER_STRATEGIES

DEFAULT_DIR = "strategies_local"


def class_name_for(name: str) -> str:
    """``ema_cross`` -> ``EmaCross``."""
    return "".join(part.capitalize() for part in name.split("_") if part) or "MyStrategy"


def check_name(name: str) -> None:
    """``CommandError`` unless ``name`` is a snake_case identifier usable as a module and a strategy name."""
    if not NAME_PATTERN.match(name) or keyword.iskeyword(name) or len(name) > MAX_NAME_LENGTH:
        raise CommandError(f"invalid strategy name {name!r}: use snake_case (a-z, 0-9, _; starting with a "
                           f"letter; not a Python keyword; at most {MAX_NAME_LENGTH} characters), e.g. ema_cross")
    if name.startswith("test_") or name.endswith("_test"):
        raise CommandError(f"invalid strategy name {name!r}: test_* and *_test files are not strategy files")


def render(name: str, folder: Path) -> dict[Path, str]:
    """The files to write for strategy ``name`` in ``folder``: path -> text."""
    values = {"name": name, "class_name": class_name_for(name), "label": name.replace("_", " ").capitalize(),
              "folder": str(folder), "file_name": f"{name}.py"}
    return {folder / f"{name}.py": Template(STRATEGY_TEMPLATE).substitute(values),
            folder / f"test_{name}.py": Template(TEST_TEMPLATE).substitute(values)}


class Command(BaseCommand):
    help = ("Write a documented template strategy NAME.py (EMA crossover on BTC/ETH with a stop) and its tests "
            "test_NAME.py into --dir (default: STRATEGIES_DIR, else ./strategies_local).")

    def add_arguments(self, parser):
        parser.add_argument("name", help="the strategy name, snake_case (e.g. ema_cross); also the file name")
        parser.add_argument("--dir", help="folder to write into (default: STRATEGIES_DIR, else ./strategies_local)")
        parser.add_argument("--force", action="store_true", help="overwrite existing files")

    def handle(self, *args, **opts):
        name = opts["name"]
        check_name(name)
        folder = Path(opts["dir"] or getattr(settings, "STRATEGIES_DIR", "") or DEFAULT_DIR).expanduser().resolve()
        files = render(name, folder)
        strategy_file = folder / f"{name}.py"
        if name in STRATEGIES and USER_STRATEGIES.get(name) != str(strategy_file):
            where = USER_STRATEGIES.get(name) or "the built-in strategies"
            raise CommandError(f"strategy name {name!r} is already registered (by {where}); choose another name")
        existing = [str(path) for path in files if path.exists()]
        if existing and not opts["force"]:
            raise CommandError(f"{', '.join(existing)} already exist(s); use --force to overwrite")
        if folder.exists() and not folder.is_dir():
            raise CommandError(f"{folder} is not a directory")
        folder.mkdir(parents=True, exist_ok=True)
        for path, text in files.items():
            path.write_text(text, encoding="utf-8")
            self.stdout.write(f"wrote {path}")
        configured = getattr(settings, "STRATEGIES_DIR", "")
        enabled = bool(configured) and Path(configured).expanduser().resolve() == folder
        self.stdout.write("")
        self.stdout.write(f"test it:    python -m pytest {folder / f'test_{name}.py'}")
        if enabled:
            self.stdout.write(f"enabled:    STRATEGIES_DIR is {folder}; {name!r} is registered at the next start")
        else:
            self.stdout.write(f"enable it:  export STRATEGIES_DIR={folder}")
        self.stdout.write(f"then:       python manage.py research --strategies {name}  (or the API, the admin)")


STRATEGY_TEMPLATE = '''"""$label: long BTC and ETH when a fast EMA crosses above a slow one, out when it crosses back or the stop is hit.

(The first paragraph of this docstring is the strategy's summary in the API and the admin: state the
thesis in one sentence.)

This file was written by ``manage.py new_strategy $name``. It is a complete, runnable strategy: change the
rule, keep the contract. Enable it by pointing ``STRATEGIES_DIR`` at this folder (``export
STRATEGIES_DIR=$folder``); the platform then imports every ``*.py`` here (not ``_*.py`` or ``test_*.py``) and
registers each ``BaseStrategy`` subclass defined in it, next to the built-in strategies. Check it with::

    python -m pytest $folder/test_$name.py              # the tests written next to it
    python manage.py lookahead --strategy $name --start 2022-01-01 --end 2023-01-01   # on stored candles

The full contract is the docstring of ``strategies/base.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from strategies.base import INTERFACE_VERSION, BaseStrategy, MarketData, Param


class $class_name(BaseStrategy):
    """EMA crossover with a fixed-percentage stop (a template: replace the rule with your own)."""

    # The contract version this file is written for; the platform refuses a strategy of another version.
    interface_version = INTERFACE_VERSION
    # The registry key (snake_case, unique, not a built-in's): the API, the admin and
    # ``manage.py research --strategies $name`` name the strategy by it.
    name = "$name"
    # The human-readable name shown in lists.
    label = "$label"
    # The platform symbols it trades (``marketdata.symbols.SYMBOLS``). The caller loads candles for exactly
    # these; a symbol without data is simply absent from ``data.candles`` (handled below, with a note).
    universe = ("BTC", "ETH")
    # The candle timeframe (``marketdata.timeframes.TIMEFRAMES``: 1m 5m 15m 1h 4h 1d 1w).
    timeframe = "1h"
    # Every tunable parameter: Param(default, low, high, step, kind). The default must lie in [low, high];
    # optimisers search the grid low..high by step (keep the product of the grids small: here 4 x 5 x 4 = 80).
    # A request that gives a value outside the range is refused with a message naming the parameter.
    parameters = {
        "fast": Param(12, 8, 20, step=4),
        "slow": Param(50, 30, 90, step=15),
        "stop_pct": Param(0.04, 0.02, 0.08, step=0.02, kind="float"),
    }
    # Bars of history needed before the first valid signal: the caller loads this much before the start of
    # a run, and signals inside the warm-up must have entry=False (the slow EMA is not settled yet).
    warmup_bars = 200
    # The share of positions you expect to win, declared *before* the strategy is judged (a fraction, not a
    # percentage). The scorecard checks the holdout win rate within 5 points of it; None fails that check.
    predicted_win_rate = 0.38
    # Non-price inputs: set needs_onchain / needs_social / needs_sentiment to True when generate_signals
    # reads data.onchain / data.social / data.sentiment, and list each input the rules read in ``inputs`` as
    # a strategies.base.DataInput (name, table, columns, purpose, fallback when missing, primary). The
    # platform reports how often each input was present and decided; a strategy that ran mostly on the
    # fallback of a primary input is flagged. This strategy reads candles only.
    needs_onchain = False
    needs_social = False
    needs_sentiment = False
    inputs = ()
    # Symbols whose candles are passed in data.regime for market-regime filters; () when none are needed.
    regime_symbols = ()

    def validate_params(self) -> None:
        """Cross-parameter checks, run after each value was checked against its range (the ranges above
        already keep fast < slow on the whole search grid: keep it so, an optimiser tries every combination)."""
        super().validate_params()
        if self.params["fast"] >= self.params["slow"]:
            raise ValueError(f"fast ({self.params['fast']}) must be shorter than slow ({self.params['slow']})")

    def required_indicators(self) -> list[tuple[str, dict]]:
        """An export declaration for the indicator cache and charts (the backtest never reads the cache)."""
        return [("ema", {"window": self.params["fast"]}), ("ema", {"window": self.params["slow"]})]

    def generate_signals(self, data: MarketData) -> dict[str, pd.DataFrame]:
        """One signal frame per traded symbol, indexed exactly like its candles.

        The no-look-ahead rule: the signal at bar t may use data up to and including bar t's close only. Use
        causal tools (ewm, rolling, shift(1)); never shift(-1), centred windows, bfill or statistics of the
        whole series. The engine fills a signal of bar t at the next bar's open.
        """
        out: dict[str, pd.DataFrame] = {}
        for symbol in self.universe:
            candles = data.candles.get(symbol)
            if candles is None or candles.empty:
                data.notes.append(f"{symbol}: no candles, not traded")
                continue
            close = candles["close"]
            fast = close.ewm(span=self.params["fast"], adjust=False).mean()
            slow = close.ewm(span=self.params["slow"], adjust=False).mean()
            above = fast > slow
            was_above = above.shift(1, fill_value=False)
            settled = pd.Series(np.arange(len(candles)) >= self.warmup_bars, index=candles.index)
            frame = self.empty_signals(candles.index)
            frame["entry"] = above & ~was_above & settled      # no entry inside the warm-up
            frame["exit"] = ~above & was_above
            # Every entry needs a stop (the engine sizes positions by the risk to the stop and refuses an
            # entry without one); it must lie below the next bar's open for a long.
            frame["stop"] = np.where(frame["entry"], close * (1.0 - self.params["stop_pct"]), np.nan)
            out[symbol] = frame
        return out
'''

TEST_TEMPLATE = '''"""Tests of the strategy ``$name`` ($file_name), on synthetic candles (no database, no network).

Run them from the project folder: ``python -m pytest $folder/test_$name.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from strategies.base import MarketData
from strategies.discovery import load_file, load_module, register_file
from strategies.registry import get_strategy

STRATEGY_FILE = Path(__file__).resolve().with_name("$file_name")
Strategy = getattr(load_module(STRATEGY_FILE), "$class_name")


def synthetic_candles(bars: int = 1500, seed: int = 7) -> pd.DataFrame:
    """A random walk with trends (so crosses happen), hourly, UTC."""
    rng = np.random.default_rng(seed)
    drift = np.repeat(rng.normal(0.0, 0.002, bars // 100 + 1), 100)[:bars]
    close = 100.0 * np.exp(np.cumsum(drift + rng.normal(0.0, 0.01, bars)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    spread = np.abs(rng.normal(0.0, 0.004, bars)) * close
    index = pd.date_range("2022-01-01", periods=bars, freq="h", tz="UTC")
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) + spread,
                         "low": np.minimum(open_, close) - spread, "close": close,
                         "volume": rng.uniform(100, 1000, bars)}, index=index)


@pytest.fixture
def data() -> MarketData:
    return MarketData(candles={symbol: synthetic_candles(seed=seed)
                               for seed, symbol in enumerate(Strategy.universe, start=1)})


def test_one_frame_per_symbol_indexed_like_its_candles(data):
    signals = Strategy().generate_signals(data)
    assert set(signals) == set(data.candles)
    for symbol, frame in signals.items():
        assert frame.index.equals(data.candles[symbol].index)
        assert frame["entry"].dtype == bool and frame["exit"].dtype == bool


def test_it_trades_but_not_inside_the_warm_up(data):
    signals = Strategy().generate_signals(data)
    assert sum(int(frame["entry"].sum()) for frame in signals.values()) > 0, "no entry at all: check the rule"
    for frame in signals.values():
        assert not frame["entry"].iloc[: Strategy.warmup_bars].any()


def test_every_entry_has_a_stop_below_the_price(data):
    for symbol, frame in Strategy().generate_signals(data).items():
        entries = frame.loc[frame["entry"]]
        assert entries["stop"].notna().all(), f"{symbol}: an entry without a stop"
        assert (entries["stop"] < data.candles[symbol].loc[entries.index, "close"]).all()


def test_no_look_ahead_a_run_on_cut_data_decides_the_same(data):
    """The signals up to bar T do not change when the data ends at T."""
    full = Strategy().generate_signals(data)
    for cut_at in (Strategy.warmup_bars + 50, 900, 1300):
        end = next(iter(data.candles.values())).index[cut_at]
        cut = Strategy().generate_signals(data.cut(end))
        for symbol, frame in cut.items():
            pd.testing.assert_frame_equal(frame, full[symbol].loc[frame.index])


def test_parameters_are_validated():
    with pytest.raises(ValueError):
        Strategy(**{name: param.high + 1000 for name, param in Strategy.parameters.items()
                    if param.kind in ("int", "float")})


def test_it_passes_the_platform_checks_and_registers():
    classes = load_file(STRATEGY_FILE)
    assert [cls.name for cls in classes] == ["$name"]
    assert register_file(STRATEGY_FILE) == ["$name"]
    assert get_strategy("$name").__name__ == "$class_name"
'''
