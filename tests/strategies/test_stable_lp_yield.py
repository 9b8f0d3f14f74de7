"""StableLPYieldOptimizer: best-yield rotation, depeg and TVL exits, tight stop, yield accrual."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from strategies.base import MarketData
from strategies.stable_lp_yield import StableLPYieldOptimizer
from tests.strategies.synthetic import bar_index, handmade_candles, onchain_frame, regime_frames

BARS = 500
WARMUP = StableLPYieldOptimizer.warmup_bars
DEPEG = slice(400, 421)  # FRAX trades at 0.97 on bars 400..420


@pytest.fixture
def index() -> pd.DatetimeIndex:
    return bar_index("1h", BARS)


@pytest.fixture
def stable_candles(index) -> dict[str, pd.DataFrame]:
    frax = np.ones(BARS)
    frax[DEPEG] = 0.97
    return {"USDC": handmade_candles(np.ones(BARS), index), "DAI": handmade_candles(np.ones(BARS), index),
            "FRAX": handmade_candles(frax, index)}


def flags(signals: dict[str, pd.DataFrame], column: str) -> dict[str, list[int]]:
    return {symbol: np.flatnonzero(frame[column]).tolist() for symbol, frame in signals.items()}


def test_rotates_to_the_best_yield_and_leaves_a_depegged_coin(index, stable_candles):
    data = MarketData(candles=stable_candles, regime=regime_frames(index))
    signals = StableLPYieldOptimizer().generate_signals(data)
    # Configured APYs (no on-chain data): FRAX 5% > DAI 4% > USDC 3%.
    assert flags(signals, "entry") == {"USDC": [], "DAI": [400], "FRAX": [WARMUP, 421]}
    assert flags(signals, "exit") == {"USDC": [], "DAI": [421], "FRAX": [400]}
    assert signals["FRAX"]["stop"].iloc[WARMUP] == pytest.approx(1.0 - 0.02 - 0.005)
    assert signals["FRAX"]["stop"].notna().sum() == 2
    for frame, candles in zip(signals.values(), stable_candles.values(), strict=True):
        assert frame.index.equals(candles.index)
    apy_notes = [n for n in data.notes if "configured APY" in n]
    assert len(apy_notes) == 3 and all("an assumption" in n for n in apy_notes)


def test_a_wider_depeg_threshold_keeps_the_position(index, stable_candles):
    signals = StableLPYieldOptimizer(depeg_threshold=0.03).generate_signals(
        MarketData(candles=stable_candles, regime=regime_frames(index)))
    assert flags(signals, "exit") == {"USDC": [], "DAI": [], "FRAX": []}


def test_onchain_yield_and_a_draining_tvl(index, stable_candles):
    tvl = np.full(BARS, 1e9)
    tvl[450:] = 0.8e9  # -20% within the 7-day window: unhealthy
    usdc = onchain_frame(index, tvl=tvl, fees=1e9 * 0.10 / 365)  # ~10% (12.5% after the drop) APY
    data = MarketData(candles=stable_candles, regime=regime_frames(index), onchain={"USDC": usdc})
    signals = StableLPYieldOptimizer().generate_signals(data)
    assert flags(signals, "entry")["USDC"] == [WARMUP]
    assert flags(signals, "exit")["USDC"] == [450]
    assert 450 in flags(signals, "entry")["FRAX"]
    assert signals["USDC"]["apy"].iloc[WARMUP] == pytest.approx(0.10)
    assert not any("USDC" in n and "configured APY" in n and "2022-01-08" in n for n in data.notes)


def test_regime_filter_blocks_new_entries_unless_switched_off(index, stable_candles):
    bear = MarketData(candles=stable_candles, regime=regime_frames(index, rising=False))
    assert not any(frame["entry"].any() for frame in StableLPYieldOptimizer().generate_signals(bear).values())
    free = StableLPYieldOptimizer(use_regime_filter=False).generate_signals(bear)
    assert flags(free, "entry")["FRAX"][0] == WARMUP


def test_yield_accrual_follows_the_held_coin(index, stable_candles):
    strategy = StableLPYieldOptimizer()
    data = MarketData(candles=stable_candles, regime=regime_frames(index))
    signals = strategy.generate_signals(data)
    accrual = strategy.yield_accrual(data, signals)
    per_bar = {apy: (1 + apy) ** (1 / (365 * 24)) - 1 for apy in (0.04, 0.05)}
    assert (accrual.iloc[:WARMUP + 1] == 0).all()
    assert accrual.iloc[WARMUP + 1:401].to_numpy() == pytest.approx(per_bar[0.05])
    assert accrual.iloc[401:422].to_numpy() == pytest.approx(per_bar[0.04])
    assert accrual.iloc[422:].to_numpy() == pytest.approx(per_bar[0.05])


def test_configured_apy_can_be_overridden_and_is_validated(index, stable_candles):
    strategy = StableLPYieldOptimizer(fallback_apy={"USDC": 0.08})
    signals = strategy.generate_signals(MarketData(candles=stable_candles, regime=regime_frames(index)))
    assert flags(signals, "entry")["USDC"] == [WARMUP]
    with pytest.raises(ValueError, match="BTC"):
        StableLPYieldOptimizer(fallback_apy={"BTC": 0.01})
    with pytest.raises(ValueError, match="USDC"):
        StableLPYieldOptimizer(fallback_apy={"USDC": 1.5})


def test_missing_coin_is_noted_and_the_others_trade(index, stable_candles):
    del stable_candles["FRAX"]
    data = MarketData(candles=stable_candles, regime=regime_frames(index))
    signals = StableLPYieldOptimizer().generate_signals(data)
    assert set(signals) == {"USDC", "DAI"}
    assert flags(signals, "entry")["DAI"] == [WARMUP]
    assert any("FRAX: no candles" in n for n in data.notes)


@pytest.mark.parametrize("params", [{"depeg_threshold": 0.1}, {"liquidity_drop_pct": 0.0}, {"stop_buffer": 0.05}])
def test_invalid_parameters_raise(params):
    with pytest.raises(ValueError, match=next(iter(params))):
        StableLPYieldOptimizer(**params)


def _rotate_reference(healthy, apy, regime, warmup, edge):
    """The per-bar Python loop the compiled kernel replaced (kept here as the reference)."""
    n_bars, n_coins = healthy.shape
    entries = np.zeros((n_bars, n_coins), dtype=bool)
    exits = np.zeros((n_bars, n_coins), dtype=bool)
    held = -1
    for t in range(warmup, n_bars):
        if held >= 0 and healthy[t, held] == 0.0:
            exits[t, held] = True
            held = -1
        if not regime[t]:
            continue
        candidates = np.flatnonzero(healthy[t] == 1.0)
        if candidates.size == 0:
            continue
        best = int(candidates[np.argmax(apy[t, candidates])])
        if held < 0:
            entries[t, best] = True
            held = best
        elif best != held and healthy[t, held] == 1.0 and apy[t, best] > apy[t, held] + edge:
            exits[t, held] = True
            entries[t, best] = True
            held = best
    return entries, exits


@pytest.mark.parametrize("seed", range(5))
def test_compiled_rotation_equals_the_python_loop(seed):
    """Healthy flags with NaN gaps, tied and NaN yields, regime off stretches: the same entries and exits."""
    from strategies.stable_lp_yield import rotate_kernel

    rng = np.random.default_rng(seed)
    n_bars, n_coins = 3000, 3
    healthy = rng.choice([0.0, 1.0, 1.0, 1.0, np.nan], size=(n_bars, n_coins))
    apy = rng.choice([0.02, 0.03, 0.03, 0.05, np.nan], size=(n_bars, n_coins))
    regime = rng.random(n_bars) > 0.2
    for edge in (0.0, 0.005):
        got = rotate_kernel(healthy, apy, regime, 50, edge)
        want = _rotate_reference(healthy, apy, regime, 50, edge)
        assert got[0].sum() > 10
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
