"""``manage.py lookahead`` on the bundled real candles: the five strategies pass; a peeking one is caught."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from strategies.base import BaseStrategy, Param
from strategies.registry import RESEARCH_STRATEGIES, STRATEGIES

pytestmark = pytest.mark.django_db


class PeekingCrossover(BaseStrategy):
    """Enters when tomorrow's close is higher: a deliberate look-ahead."""

    name = "peeking_test_strategy"
    universe = ("BTC",)
    parameters = {"stop_pct": Param(0.05, 0.01, 0.2, kind="float")}
    regime_symbols = ()

    def generate_signals(self, data):
        out = {}
        for symbol, candles in data.candles.items():
            frame = self.empty_signals(candles.index)
            future = candles["close"].shift(-1)
            frame["entry"] = (future > candles["close"] * 1.01).to_numpy()
            frame["exit"] = (future < candles["close"]).to_numpy()
            frame["stop"] = candles["close"] * (1 - self.params["stop_pct"])
            out[symbol] = frame
        return out


def _load(symbols):
    from marketdata.sample import sample_load

    sample_load(symbols=[*symbols, "BTC", "ETH"], timeframes=["1h"])


@pytest.mark.parametrize("strategy", [cls.name for cls in RESEARCH_STRATEGIES])
def test_each_research_strategy_passes_on_real_data(strategy):
    cls = STRATEGIES[strategy]
    _load(cls.universe)
    out = io.StringIO()
    call_command("lookahead", "--strategy", strategy, "--start", "2022-06-01", "--end", "2023-12-01",
                 "--sample", "4", stdout=out)
    assert "PASSED" in out.getvalue()


def test_a_peeking_strategy_is_caught_with_bar_column_and_values(monkeypatch):
    monkeypatch.setitem(STRATEGIES, PeekingCrossover.name, PeekingCrossover)
    _load(())
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("lookahead", "--strategy", PeekingCrossover.name, "--start", "2023-01-01", "--end",
                     "2023-02-01", "--sample", "3", stdout=out)
    text = out.getvalue()
    assert exit_info.value.code == 1 and "FAILED" in text
    assert "'column': 'entry'" in text or "'column': 'exit'" in text
    first = text.splitlines()[1]
    assert "'timestamp'" in first and "'full_value'" in first and "'cut_value'" in first  # bar and both values
