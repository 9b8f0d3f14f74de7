"""Strategies of the configured folder (STRATEGIES_DIR): imported, checked, registered; broken ones refused
with one line naming the file and the class."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from strategies import registry
from strategies.discovery import discover, load_file, register_folder, strategy_files
from strategies.registry import BUILTIN_NAMES, STRATEGIES, USER_STRATEGIES, get_strategy

ROOT = Path(__file__).resolve().parents[2]

GOOD = '''
"""Breakout: long BTC on a new 20-bar high."""
import numpy as np

from strategies.base import BaseStrategy, Param
from strategies.examples import SmaCrossover  # imported, not defined here: not this file's strategy


class _Helper(BaseStrategy):
    """An abstract helper base without a name: skipped."""


class Breakout(_Helper):
    name = "{name}"
    label = "Breakout"
    universe = ("BTC",)
    parameters = {{"window": Param(20, 10, 40, step=10)}}
    warmup_bars = 40
    predicted_win_rate = 0.4

    def generate_signals(self, data):
        out = {{}}
        for symbol, candles in data.candles.items():
            frame = self.empty_signals(candles.index)
            high = candles["high"].rolling(self.params["window"]).max().shift(1)
            frame["entry"] = (candles["close"] > high) & (np.arange(len(candles)) >= self.warmup_bars)
            frame["stop"] = candles["close"] * 0.95
            out[symbol] = frame
        return out
'''


@pytest.fixture(autouse=True)
def _registry_restored(clean_registry):
    """Each test starts from the built-in registry and leaves it so."""


def write(folder: Path, file: str, text: str) -> Path:
    path = folder / file
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_folder_strategy_is_registered_like_a_built_in(tmp_path):
    write(tmp_path, "breakout.py", GOOD.format(name="breakout"))
    write(tmp_path, "_notes.py", "raise RuntimeError('helpers are not imported by discovery')\n")
    write(tmp_path, "test_breakout.py", "raise RuntimeError('tests are not imported by discovery')\n")
    (tmp_path / "README.md").write_text("not python")
    assert [path.name for path in strategy_files(tmp_path)] == ["breakout.py"]

    assert register_folder(tmp_path) == ["breakout"]
    cls = get_strategy("breakout")
    assert cls.__module__ == "user_strategies.breakout" and cls.__name__ == "Breakout"
    assert USER_STRATEGIES["breakout"] == str((tmp_path / "breakout.py").resolve())
    description = json.loads(json.dumps(registry.describe_strategy(cls)))
    assert description["summary"] == "Breakout: long BTC on a new 20-bar high."
    assert "breakout" in [d["name"] for d in registry.describe_all()]
    assert registry.validated_parameters("breakout", {"window": 30}) == {"window": 30}
    assert set(STRATEGIES) >= BUILTIN_NAMES
    # registering the same folder again (a reload) replaces its strategies instead of clashing
    assert register_folder(tmp_path) == ["breakout"]
    assert get_strategy("breakout") is not cls


def _one_error(tmp_path: Path, text: str, file: str = "mine.py") -> str:
    write(tmp_path, file, text)
    with pytest.raises(ValueError) as error:
        register_folder(tmp_path)
    message = str(error.value)
    assert "\n" not in message
    assert str((tmp_path / file).resolve()) in message
    return message


STRATEGY = '''
from strategies.base import BaseStrategy, Param


class Mine(BaseStrategy):
    name = "mine"
    universe = ("BTC",)
    {line}

    def generate_signals(self, data):
        return {{}}
'''


@pytest.mark.parametrize(("line", "expected"), [
    ('universe = ("BTC", "DOGE")', r"Mine.universe names unknown symbol\(s\) \['DOGE'\]"),
    ('regime_symbols = ("XRP",)', r"Mine.regime_symbols names unknown symbol"),
    ('universe = ()', r"Mine.universe is empty"),
    ('timeframe = "2h"', r"Mine.timeframe '2h' is unknown"),
    ('name = "curve_wars"', r"Mine.name 'curve_wars' is the name of the built-in strategy CurveWarsSpecialist"),
    ('name = "My Strategy"', r"Mine.name 'My Strategy' must be snake_case"),
    ('interface_version = 99', r"Mine is written for strategy interface version 99"),
    ('predicted_win_rate = 45', r"predicted_win_rate must be a fraction in \[0, 1\], got 45"),
    ('warmup_bars = -1', r"Mine.warmup_bars must be a whole number"),
    ('parameters = {"n": 20}', r"Mine.parameters\['n'\] must be a Param"),
    ('def validate_params(self): raise ValueError("n too small")',
     r"Mine cannot be built with its default parameters: n too small"),
])
def test_an_invalid_strategy_is_refused_naming_file_and_class(tmp_path, line, expected):
    message = _one_error(tmp_path, STRATEGY.format(line=line))
    assert re.search(expected, message), message
    assert "mine" not in STRATEGIES


def test_a_default_outside_its_range_names_the_file_and_line(tmp_path):
    message = _one_error(tmp_path, STRATEGY.format(line='parameters = {"n": Param(500, 5, 100)}'))
    assert ":8: ValueError:" in message and "expected int in [5, 100]" in message


def test_a_default_outside_its_range_is_refused_even_when_param_was_bypassed(tmp_path):
    text = STRATEGY.format(line='parameters = {"n": Param(20, 5, 100)}') + textwrap.dedent('''
        object.__setattr__(Mine.parameters["n"], "default", 500)
        ''')
    message = _one_error(tmp_path, text)
    assert "Mine: default of parameter 'n'=500 is invalid: expected int in [5, 100]" in message


@pytest.mark.parametrize(("text", "expected"), [
    ("def broken(:\n", ":1: SyntaxError:"),
    ("import not_a_module_anywhere\n", ":1: ModuleNotFoundError: No module named 'not_a_module_anywhere'"),
    ("x = 1\nraise RuntimeError('boom')\n", ":2: RuntimeError: boom"),
    ("from strategies.base import BaseStrategy\n\nclass Half(BaseStrategy):\n    name = 'half'\n",
     "Half does not implement generate_signals"),
])
def test_a_file_that_does_not_import_or_is_incomplete_is_one_line(tmp_path, text, expected):
    assert expected in _one_error(tmp_path, text)


def test_two_files_cannot_declare_the_same_name_and_nothing_is_registered(tmp_path):
    write(tmp_path, "a_first.py", GOOD.format(name="twin"))
    write(tmp_path, "b_second.py", GOOD.format(name="twin"))
    with pytest.raises(ValueError, match=r"b_second.py: Breakout.name 'twin' is also declared by Breakout in"):
        register_folder(tmp_path)
    assert "twin" not in STRATEGIES


def test_a_name_taken_by_another_folder_is_refused(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    write(tmp_path / "one", "breakout.py", GOOD.format(name="breakout"))
    write(tmp_path / "two", "other.py", GOOD.format(name="breakout"))
    register_folder(tmp_path / "one")
    with pytest.raises(ValueError, match=r"other.py: Breakout.name 'breakout' is already registered from .*one"):
        register_folder(tmp_path / "two")


def test_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist or is not a directory"):
        discover(tmp_path / "nowhere")


def test_helpers_of_the_folder_can_be_imported_by_its_strategies(tmp_path):
    write(tmp_path, "_helpers.py", "STOP = 0.93\n")
    text = GOOD.format(name="with_helper").replace("import numpy as np",
                                                   "import numpy as np\nfrom user_strategies._helpers import STOP")
    write(tmp_path, "with_helper.py", text)
    assert [cls.name for cls in load_file(tmp_path / "with_helper.py")] == ["with_helper"]


def test_discovery_is_pure():
    code = "import sys, strategies.discovery\nassert 'django' not in sys.modules\n"
    completed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr


def _manage(*args: str, folder: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "STRATEGIES_DIR": str(folder), "DJANGO_DEBUG": "1"}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_app_refuses_to_start_with_a_broken_strategy_file_in_one_line(tmp_path):
    write(tmp_path, "mine.py", STRATEGY.format(line='timeframe = "2h"'))
    completed = _manage("check", folder=tmp_path)
    assert completed.returncode == 1
    assert completed.stderr.startswith("configuration error: STRATEGIES_DIR: ")
    assert "mine.py: Mine.timeframe '2h' is unknown" in completed.stderr
    assert completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr


def test_the_app_registers_the_folder_at_start(tmp_path):
    write(tmp_path, "breakout.py", GOOD.format(name="breakout"))
    completed = _manage("shell", "-c", "from strategies.registry import STRATEGIES; print(sorted(STRATEGIES))",
                        folder=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "'breakout'" in completed.stdout and "'curve_wars'" in completed.stdout


def test_ready_reads_the_setting(tmp_path, settings):
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured

    write(tmp_path, "breakout.py", GOOD.format(name="breakout"))
    settings.STRATEGIES_DIR = str(tmp_path)
    apps.get_app_config("strategies").ready()
    assert "breakout" in STRATEGIES
    settings.STRATEGIES_DIR = str(tmp_path / "nowhere")
    with pytest.raises(ImproperlyConfigured, match=r"STRATEGIES_DIR: strategies folder .* does not exist"):
        apps.get_app_config("strategies").ready()


PEEKING = GOOD.replace('frame["entry"] = (candles["close"] > high)',
                       'frame["entry"] = (candles["close"].shift(-1) > candles["close"])')  # enters before rises


def test_a_folder_strategy_that_peeks_stops_the_start_with_one_line(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    write(folder, "peeker.py", PEEKING.format(name="peeker"))
    env = {**os.environ, "STRATEGIES_DIR": str(folder), "DJANGO_DEBUG": "1"}
    done = subprocess.run([sys.executable, str(ROOT / "manage.py"), "check"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1
    assert re.match(r"configuration error: STRATEGIES_DIR: .*peeker\.py: Breakout \(peeker\) looks ahead: \d+ "
                    r"value\(s\) at \d+ cuts changed", lines[0]), lines
    write(folder, "peeker.py", GOOD.format(name="peeker"))  # the causal version starts
    done = subprocess.run([sys.executable, str(ROOT / "manage.py"), "check"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_causality_check_passes_the_built_in_strategies_on_synthetic_data():
    from analytics.lookahead import check_strategy_is_causal
    from strategies.registry import RESEARCH_STRATEGIES

    for cls in RESEARCH_STRATEGIES:
        check_strategy_is_causal(cls, sample=5)  # raises if a decision changed
