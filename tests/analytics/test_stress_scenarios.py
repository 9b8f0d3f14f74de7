"""Tests of analytics.stress_scenarios (pure): proxy betas and candles, the warm-up bridge, the exchange outage
through the engine, and the quote-coin depeg marking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.stress_scenarios import (
    BETA_CLIP,
    BetaFit,
    apply_outage,
    bridge_warmup,
    choose_reference,
    fallback_beta,
    fit_beta,
    log_returns,
    mark_to_usd,
    proxy_candles,
    proxy_spec,
    quote_usd_at_closes,
    reference_candidates,
    window_coverage,
)
from backtests.engine import EngineConfig, run_signals
from marketdata.resampling import resample_candles

H = pd.Timedelta("1h")
T0 = pd.Timestamp("2022-01-01", tz="UTC")


def _reference(n: int = 24 * 400, seed: int = 1, bar: pd.Timedelta = H) -> pd.DataFrame:
    """A random-walk OHLCV reference with consistent bars."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(T0, periods=n, freq=bar)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.004, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.004, n)))
    volume = rng.uniform(50, 150, n)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)


def _token_with_beta(reference: pd.DataFrame, beta: float, noise: float = 0.003, seed: int = 2) -> pd.Series:
    rng = np.random.default_rng(seed)
    returns = beta * np.log(reference["close"]).diff().fillna(0.0) + rng.normal(0, noise, len(reference))
    return pd.Series(5.0 * np.exp(np.cumsum(returns.to_numpy())), index=reference.index)


# --------------------------------------------------------------------------- beta
def test_the_beta_of_a_synthetic_token_is_recovered():
    reference = _reference()
    token = _token_with_beta(reference, 1.7)
    fit = fit_beta(token, reference["close"], H, before=reference.index[-1] + H, after=reference.index[-1] + H)
    assert fit is not None and fit.side == "before"
    assert fit.beta == pytest.approx(1.7, abs=0.03) and not fit.clipped
    assert fit.r2 > 0.9 and fit.overlap == 24 * 365  # the last 365 days of common bars
    assert fit.last == reference.index[-1]


def test_a_negative_beta_is_clipped_and_says_so():
    reference = _reference()
    token = _token_with_beta(reference, -0.6)
    fit = fit_beta(token, reference["close"], H, before=reference.index[-1] + H, after=reference.index[-1] + H)
    assert fit is not None and fit.beta == BETA_CLIP[0] and fit.raw == pytest.approx(-0.6, abs=0.03)
    assert fit.clipped and fit.to_dict()["clipped"] is True


def test_the_estimate_uses_the_year_after_the_window_without_history_before_it_and_skips_an_excluded_range():
    reference = _reference()
    token = _token_with_beta(reference, 0.8)
    window_end = reference.index[0] + pd.Timedelta(days=2)
    fit = fit_beta(token, reference["close"], H, before=reference.index[0], after=window_end)
    assert fit is not None and fit.side == "after" and fit.first >= window_end
    assert fit.beta == pytest.approx(0.8, abs=0.03)
    locked = (reference.index[0], reference.index[0] + pd.Timedelta(days=300))
    outside = fit_beta(token, reference["close"], H, before=reference.index[0], after=window_end, exclude=locked)
    assert outside is not None and outside.first >= locked[1]  # 100 days left after the locked range: enough
    everything = (reference.index[0], reference.index[-1] + H)
    assert fit_beta(token, reference["close"], H, before=reference.index[0], after=window_end,
                    exclude=everything) is None


def test_too_little_overlap_gives_no_fit_and_the_fallback_is_the_median_of_the_others():
    reference = _reference(n=24 * 30)  # 30 days: under the 60-day minimum
    token = _token_with_beta(reference, 1.2)
    assert fit_beta(token, reference["close"], H, before=reference.index[-1], after=reference.index[-1]) is None
    assert fallback_beta([1.0, 1.4, 2.0])[0] == 1.4
    beta, why = fallback_beta([])
    assert beta == 1.0 and "default" in why


def test_returns_across_a_gap_are_left_out():
    close = pd.Series([100.0, 101.0, 102.0, 150.0, 151.0],
                      index=pd.DatetimeIndex([T0, T0 + H, T0 + 2 * H, T0 + 10 * H, T0 + 11 * H]))
    returns = log_returns(close, H)
    assert list(returns.index) == [T0 + H, T0 + 2 * H, T0 + 11 * H]  # the 102 -> 150 jump spans a gap


# --------------------------------------------------------------------------- reference
def test_reference_candidates_put_eligible_sector_mates_before_btc_and_eth():
    assert reference_candidates("DAI", {"USDC": True, "BTC": True, "ETH": True}) == ["USDC", "BTC", "ETH"]
    assert reference_candidates("DAI", {"USDC": False, "BTC": True, "ETH": True}) == ["BTC", "ETH"]
    assert reference_candidates("GMX", {"SNX": True, "PERP": True, "ETH": True}) == ["SNX", "PERP", "ETH"]
    assert reference_candidates("LYRA", {}) == []


def test_the_best_fitting_reference_is_chosen_and_without_fits_the_first_candidate():
    def fit(r2: float) -> BetaFit:
        return BetaFit(beta=1.0, raw=1.0, r2=r2, overlap=100, first=T0, last=T0, side="before")

    assert choose_reference(["SNX", "BTC", "ETH"], {"SNX": fit(0.3), "BTC": fit(0.5), "ETH": fit(0.4)})[0] == "BTC"
    assert choose_reference(["USDC", "BTC"], {"USDC": None, "BTC": None})[0] == "USDC"


def test_window_coverage_counts_the_window_bars_with_a_candle():
    frame = _reference(n=48)
    assert window_coverage(frame, T0, T0 + 24 * H, H) == 1.0
    assert window_coverage(frame, T0 + 36 * H, T0 + 60 * H, H) == 0.5
    assert window_coverage(None, T0, T0 + H, H) == 0.0


# --------------------------------------------------------------------------- proxy candles
def _spec(reference: pd.DataFrame, beta: float, history: pd.DataFrame | None = None, window_start=None):
    fit = None
    if history is not None:
        fit = BetaFit(beta=beta, raw=beta, r2=0.5, overlap=10, first=history.index[0], last=history.index[-1],
                      side="before")
    return proxy_spec("GMX", reference="BTC", reference_reason="test", reference_span=reference,
                      window_start=window_start or reference.index[len(reference) // 2],
                      window_end=reference.index[-1] + H, fit=fit, fallback=(beta, "test fallback"), history=history)


@pytest.mark.parametrize("beta", [0.0, 0.4, 1.0, 1.3, 3.0])
def test_proxy_candles_are_consistent_bars_whose_returns_are_beta_times_the_reference(beta):
    reference = _reference(n=500)
    spec = _spec(reference, beta)
    proxy = proxy_candles(reference, spec)
    assert (proxy["high"] >= proxy[["open", "close"]].max(axis=1)).all()
    assert (proxy["low"] <= proxy[["open", "close"]].min(axis=1)).all()
    assert (proxy["low"] > 0).all() and (proxy["volume"] >= 0).all()
    assert proxy["open"].iloc[0] == pytest.approx(spec.anchor)  # no own price: indexed at 1.0
    np.testing.assert_allclose(np.log(proxy["close"]).diff().dropna(),
                               beta * np.log(reference["close"]).diff().dropna(), atol=1e-12)
    assert list(proxy.columns[:5]) == ["open", "high", "low", "close", "volume"]


def test_the_proxy_is_anchored_on_the_tokens_price_and_its_volume_on_its_typical_volume():
    reference = _reference(n=400)
    history = pd.DataFrame({"close": [4.0, 5.0], "volume": [1000.0, 3000.0]},
                           index=[T0 - pd.Timedelta(days=30), T0 - pd.Timedelta(days=29)])
    spec = _spec(reference, 1.2, history=history)
    proxy = proxy_candles(reference, spec)
    assert spec.anchor == 5.0 and "last real close before" in spec.anchor_source
    assert proxy["open"].iloc[0] == pytest.approx(5.0)
    before = reference.loc[reference.index < reference.index[200], "volume"]
    relative = reference["volume"] / before.median()
    np.testing.assert_allclose(proxy["volume"], 2000.0 * relative)  # the token's median volume x relative


def test_the_same_map_on_1h_and_4h_reference_bars_gives_proxies_that_aggregate_into_each_other():
    hourly = _reference(n=24 * 20)
    four_hourly = resample_candles(hourly, "1h", "4h").frame
    spec = _spec(four_hourly, 1.4)
    on_4h = proxy_candles(four_hourly, spec)
    from_1h = resample_candles(proxy_candles(hourly, spec), "1h", "4h").frame
    np.testing.assert_allclose(from_1h[["open", "high", "low", "close"]], on_4h[["open", "high", "low", "close"]],
                               rtol=1e-12)


# --------------------------------------------------------------------------- warm-up bridge
def test_a_late_series_is_bridged_with_its_last_earlier_bars_rescaled_to_its_first_open():
    earlier = _reference(n=100)
    late_start = earlier.index[-1] + pd.Timedelta(days=200)
    late = _reference(n=50, seed=5).set_axis(pd.date_range(late_start, periods=50, freq=H))
    begin = late_start - 30 * H
    bridged, info = bridge_warmup(late, pd.concat([earlier, late]), begin, H)
    assert bridged.index[0] == begin and bridged.index.to_series().diff().dropna().eq(H).all()
    assert info["bars"] == 30 and info["from"] == earlier.index[-30].isoformat()
    assert bridged["close"].iloc[29] == pytest.approx(late["open"].iloc[0])  # joins the first real open
    pd.testing.assert_frame_equal(bridged.iloc[30:], late)
    assert bridge_warmup(late, late, late_start, H) == (late, None)


# --------------------------------------------------------------------------- exchange outage
def test_an_outage_removes_every_bar_that_overlaps_it():
    start, end = T0 + 24 * H, T0 + 32 * H  # 8 hours
    hourly = _reference(n=72)
    four = _reference(n=18, bar=pd.Timedelta("4h"))
    daily = _reference(n=3, bar=pd.Timedelta("1D"))
    frames, removed = apply_outage({"A": hourly}, H, start, end)
    assert removed == 8 and not ((frames["A"].index >= start) & (frames["A"].index < end)).any()
    assert apply_outage({"A": four}, pd.Timedelta("4h"), start, end)[1] == 2
    assert apply_outage({"A": daily}, pd.Timedelta("1D"), start, end)[0]["A"].index.tolist() == \
        [daily.index[0], daily.index[2]]  # the whole day of the outage


def _outage_candles() -> pd.DataFrame:
    """Flat at 100, a slide to 94 during hours 20-27 (through the 95 stop), reopening at 90 at hour 28."""
    index = pd.date_range(T0, periods=40, freq=H)
    close = np.full(40, 100.0)
    close[20:28] = np.linspace(99.0, 94.0, 8)
    close[28:] = 90.5
    open_ = np.r_[100.0, close[:-1]]
    open_[28] = 90.0
    frame = pd.DataFrame({"open": open_, "close": close}, index=index)
    frame["high"] = frame[["open", "close"]].max(axis=1) + 0.2
    frame["low"] = frame[["open", "close"]].min(axis=1) - 0.2
    return frame


def test_a_stop_below_the_outage_gap_fills_at_the_reopening_open_not_at_its_level():
    candles = _outage_candles()
    outage = (T0 + 20 * H, T0 + 28 * H)
    config = EngineConfig(bar_length="1h", close_at_end=False)

    def run(frame: pd.DataFrame):
        signals = pd.DataFrame({"entry": frame.index == T0 + 5 * H, "stop": np.nan}, index=frame.index)
        signals.loc[T0 + 5 * H, "stop"] = 95.0
        return run_signals({"A": frame}, {"A": signals}, config).trades

    normal = run(candles).iloc[0]
    assert normal["exit_reason"] == "stop_loss" and normal["exit_price"] == pytest.approx(95.0 * (1 - 0.005))
    gapped_frames, removed = apply_outage({"A": candles}, H, *outage)
    assert removed == 8
    gapped = run(gapped_frames["A"]).iloc[0]
    assert gapped["exit_reason"] == "stop_loss" and gapped["exit_time"] == T0 + 28 * H
    assert gapped["exit_price"] == pytest.approx(90.0 * (1 - 0.005))  # the reopening open, with slippage
    assert gapped["pnl"] < normal["pnl"]


# --------------------------------------------------------------------------- quote-coin depeg
def test_the_quote_path_is_read_at_each_bars_close_and_marks_the_whole_equity():
    quarter = pd.Timedelta("15min")
    path_index = pd.date_range(T0 + 2 * H, periods=12, freq=quarter)  # 02:00 .. 04:45
    path = pd.Series(np.linspace(1.0, 0.89, 12), index=path_index)
    bars = pd.date_range(T0, periods=8, freq=H)
    quote = quote_usd_at_closes(path, bars, H)
    assert quote.iloc[0] == 1.0 and quote.iloc[1] == 1.0  # before the path: at the peg
    assert quote.loc[T0 + 2 * H] == pytest.approx(path.iloc[3])  # 02:00 bar closes 03:00: the 02:45 bar's close
    assert quote.loc[T0 + 6 * H] == pytest.approx(path.iloc[-1])  # after the path: its last close
    equity = pd.Series(1000.0, index=bars)
    usd = mark_to_usd(equity, quote)
    assert usd.min() == pytest.approx(1000.0 * 0.89)
    assert (1 - usd / usd.cummax()).max() == pytest.approx(0.11)
