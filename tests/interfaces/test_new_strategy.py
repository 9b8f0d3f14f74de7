"""``manage.py new_strategy``: a documented template and its tests; the template imports, passes its own tests,
registers through discovery and is then offered by the API and the admin like a built-in strategy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from strategies.discovery import load_module, register_folder
from strategies.registry import get_strategy

ROOT = Path(__file__).resolve().parents[2]
BASE = "/api/v1/backtesting"


@pytest.fixture(autouse=True)
def _registry_restored(clean_registry):
    """Each test starts from the built-in registry and leaves it so."""


def new_strategy(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("new_strategy", *args, stdout=out)
    return out.getvalue()


def test_the_template_is_documented_runnable_and_tested(tmp_path):
    out = new_strategy("ema_cross", "--dir", str(tmp_path))
    strategy_file, test_file = tmp_path / "ema_cross.py", tmp_path / "test_ema_cross.py"
    assert f"wrote {strategy_file}" in out and f"wrote {test_file}" in out
    assert f"export STRATEGIES_DIR={tmp_path}" in out and "research --strategies ema_cross" in out

    text = strategy_file.read_text()
    for documented in ("interface_version", "universe", "timeframe", "parameters", "warmup_bars",
                       "predicted_win_rate", "inputs", "needs_onchain", "regime_symbols", "look-ahead",
                       "shift(-1)", "stop"):
        assert documented in text, documented
    cls = load_module(strategy_file).EmaCross
    assert cls.name == "ema_cross" and cls.universe == ("BTC", "ETH") and 0 < cls.predicted_win_rate < 1
    with pytest.raises(ValueError, match=r"parameter 'fast'=99 is invalid: expected int in \[8, 20\]"):
        cls(fast=99)
    assert len(cls.parameter_grid()) <= 1000

    # its own tests pass, run the way the README says (from the project folder)
    env = {**os.environ, "DJANGO_DEBUG": "1"}
    completed = subprocess.run([sys.executable, "-m", "pytest", str(test_file), "-q", "-p", "no:cacheprovider"],
                               cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert "6 passed" in completed.stdout

    # and the folder registers: the test file next to it is not taken for a strategy
    assert register_folder(tmp_path) == ["ema_cross"]
    assert get_strategy("ema_cross").__name__ == "EmaCross"
    from analytics.lookahead import check_strategy_is_causal

    check_strategy_is_causal(get_strategy("ema_cross"))  # the start-up check passes the template


@pytest.mark.django_db
def test_a_registered_folder_strategy_is_offered_by_the_api_and_the_admin(tmp_path):
    from interfaces.admin.analytics_forms import WalkForwardRunForm
    from interfaces.admin.backtest_forms import BacktestConfigForm

    new_strategy("ema_cross", "--dir", str(tmp_path))
    register_folder(tmp_path)
    client = APIClient()
    client.force_authenticate(get_user_model().objects.create_user("researcher", is_staff=True))

    listing = client.get(f"{BASE}/strategies").json()
    names = [item["name"] for item in (listing["results"] if isinstance(listing, dict) else listing)]
    assert "ema_cross" in names and "curve_wars" in names
    detail = client.get(f"{BASE}/strategies/ema_cross").json()
    assert detail["universe"] == ["BTC", "ETH"] and detail["parameters"]["fast"]["default"] == 12

    body = {"strategy": "ema_cross", "start": "2022-01-01T00:00:00Z", "end": "2022-03-01T00:00:00Z",
            "parameters": {"fast": 8}}
    response = client.post(f"{BASE}/run", body, format="json")
    assert response.status_code == 202, response.json()
    bad = client.post(f"{BASE}/run", {**body, "parameters": {"fast": 99}}, format="json")
    assert bad.status_code == 400 and "fast" in str(bad.json())
    walk = client.post(f"{BASE}/walkforward", {**body, "end": "2023-01-01T00:00:00Z"}, format="json")
    assert walk.status_code == 202, walk.json()

    for form in (BacktestConfigForm(), WalkForwardRunForm()):
        assert "ema_cross" in dict(form.fields["strategy"].choices)


def test_refusals(tmp_path):
    with pytest.raises(CommandError, match="invalid strategy name 'Ema-Cross'"):
        new_strategy("Ema-Cross", "--dir", str(tmp_path))
    with pytest.raises(CommandError, match="invalid strategy name 'class'"):
        new_strategy("class", "--dir", str(tmp_path))
    with pytest.raises(CommandError, match="'curve_wars' is already registered"):
        new_strategy("curve_wars", "--dir", str(tmp_path))
    new_strategy("mine", "--dir", str(tmp_path))
    (tmp_path / "mine.py").write_text("# my work\n")
    with pytest.raises(CommandError, match=r"already exist.*--force"):
        new_strategy("mine", "--dir", str(tmp_path))
    assert (tmp_path / "mine.py").read_text() == "# my work\n"
    new_strategy("mine", "--dir", str(tmp_path), "--force")
    assert "class Mine(BaseStrategy)" in (tmp_path / "mine.py").read_text()
    # a name registered from another folder is taken; the same file may be rewritten with --force
    register_folder(tmp_path)
    with pytest.raises(CommandError, match="'mine' is already registered"):
        new_strategy("mine", "--dir", str(tmp_path / "elsewhere"))
    new_strategy("mine", "--dir", str(tmp_path), "--force")


def test_the_default_folder_is_strategies_dir_else_strategies_local(tmp_path, monkeypatch, settings):
    monkeypatch.chdir(tmp_path)
    settings.STRATEGIES_DIR = ""
    out = new_strategy("first_one")
    assert (tmp_path / "strategies_local" / "first_one.py").is_file()
    assert f"export STRATEGIES_DIR={tmp_path / 'strategies_local'}" in out
    settings.STRATEGIES_DIR = str(tmp_path / "mine")
    out = new_strategy("second_one")
    assert (tmp_path / "mine" / "second_one.py").is_file() and (tmp_path / "mine" / "test_second_one.py").is_file()
    assert "export STRATEGIES_DIR" not in out and "registered at the next start" in out
