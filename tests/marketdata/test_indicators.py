"""Indicators against hand-checked cases, the StockCharts/ta reference tables and the ``ta`` package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import ta

from marketdata import indicators as ind

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "ta_reference"
REL_TOL = 1e-6


def reference(name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE / name)


def assert_close(actual: pd.Series, expected: pd.Series, *, rtol: float = REL_TOL, atol: float = 0.0) -> None:
    """Where ``expected`` is defined, ``actual`` is defined too and within tolerance."""
    actual = pd.Series(np.asarray(actual, dtype="float64"))
    expected = pd.Series(np.asarray(expected, dtype="float64"))
    defined = expected.notna()
    assert defined.any()
    assert actual[defined].notna().all()
    np.testing.assert_allclose(actual[defined], expected[defined], rtol=rtol, atol=atol)


@pytest.fixture(scope="module")
def random_walk() -> pd.DataFrame:
    """3,000 hourly candles of a geometric random walk with consistent OHLC and volume."""
    rng = np.random.default_rng(42)
    n = 3000
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.004, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.004, n)))
    volume = rng.lognormal(3, 1, n)
    index = pd.date_range("2022-01-01 05:00", periods=n, freq="h", tz="UTC", name="open_time")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)


# --------------------------------------------------------------------------- hand-checked cases


def test_sma_and_ema_hand_case():
    close = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0])
    assert ind.sma(close, 3).tolist()[2:] == [2.0, 3.0, 4.0]
    # alpha = 2 / (3 + 1) = 0.5, seeded with the first value: 1, 1.5, 2.25, 3.125, 4.0625
    assert ind.ema(close, 3).tolist()[2:] == [2.25, 3.125, 4.0625]
    assert ind.sma(close, 3)[:2].isna().all() and ind.ema(close, 3)[:2].isna().all()


def test_rsi_hand_case():
    # changes +1, +1, -1; alpha 1/2: avg gain 0, .5, .75, .375; avg loss 0, 0, 0, .5
    value = ind.rsi(pd.Series([1.0, 2.0, 3.0, 2.0]), window=2)
    assert value[:2].isna().all()
    assert value[2] == 100.0  # no losses yet
    assert value[3] == pytest.approx(100 - 100 / (1 + 0.375 / 0.5))


def test_atr_hand_case():
    high = pd.Series([10.0, 12.0, 11.0])
    low = pd.Series([8.0, 9.0, 7.0])
    close = pd.Series([9.0, 11.0, 8.0])
    # TR: 2 (high-low at the first bar), max(12, 9) - min(9, 9) = 3, max(11, 11) - min(7, 11) = 4
    assert ind.true_range(high, low, close).tolist() == [2.0, 3.0, 4.0]
    value = ind.atr(high, low, close, window=2)
    assert np.isnan(value[0])
    assert value[1] == 2.5 and value[2] == (2.5 * 1 + 4.0) / 2


def test_bbands_hand_case():
    frame = ind.bbands(pd.Series([1.0, 2.0, 3.0]), window=3, std=2)
    std = np.sqrt(2 / 3)  # population std of 1, 2, 3
    assert frame["middle"][2] == 2.0
    assert frame["upper"][2] == pytest.approx(2 + 2 * std)
    assert frame["lower"][2] == pytest.approx(2 - 2 * std)
    assert frame["percent_b"][2] == pytest.approx((3 - (2 - 2 * std)) / (4 * std))
    assert frame["width"][2] == pytest.approx(4 * std / 2 * 100)
    flat = ind.bbands(pd.Series([5.0] * 4), window=3)
    assert flat["percent_b"].isna().all()  # collapsed bands: undefined, not 0 or infinity


def test_volume_ratio_is_nan_not_inf_when_volume_average_is_zero():
    volume = pd.Series([0.0, 0.0, 0.0, 6.0])
    ratio = ind.volume_ratio(volume, window=2)
    assert ratio[:3].isna().all()
    assert ratio[3] == 6.0 / 3.0


def test_vwap_daily_resets_at_midnight_utc():
    index = pd.DatetimeIndex(["2024-03-01 22:00", "2024-03-01 23:00", "2024-03-02 00:00", "2024-03-02 01:00"],
                             tz="UTC")
    high = pd.Series([12.0, 15.0, 21.0, 30.0], index=index)
    low = pd.Series([9.0, 12.0, 18.0, 24.0], index=index)
    close = pd.Series([9.0, 15.0, 21.0, 27.0], index=index)  # typical prices 10, 14, 20, 27
    volume = pd.Series([1.0, 3.0, 2.0, 2.0], index=index)
    value = ind.vwap_daily(high, low, close, volume)
    expected = [10.0, (10 * 1 + 14 * 3) / 4, 20.0, (20 * 2 + 27 * 2) / 4]
    assert value.tolist() == pytest.approx(expected, rel=1e-12)


def test_vwap_daily_uses_utc_days_for_other_timezones():
    index = pd.DatetimeIndex(["2024-03-01 23:30", "2024-03-02 00:30"], tz="UTC").tz_convert("Asia/Tokyo")
    ones = pd.Series([1.0, 1.0], index=index)
    value = ind.vwap_daily(ones * 3, ones * 3, pd.Series([3.0, 6.0], index=index) * 1, ones)
    # 00:30 UTC starts a new day: its VWAP is its own typical price (3 + 3 + 6) / 3 = 4
    assert value.tolist() == [3.0, 4.0]


def test_vwap_daily_is_nan_while_the_day_has_no_volume():
    index = pd.date_range("2024-01-01", periods=3, freq="h", tz="UTC")
    price = pd.Series([10.0, 10.0, 10.0], index=index)
    value = ind.vwap_daily(price, price, price, pd.Series([0.0, 0.0, 5.0], index=index))
    assert value.iloc[:2].isna().all() and value.iloc[2] == 10.0


# --------------------------------------------------------------------------- reference tables


def test_rsi_matches_reference_table():
    table = reference("cs-rsi.csv")
    value = ind.rsi(table["Close"], window=14)
    assert value.first_valid_index() == table["RSI"].first_valid_index() == 14
    assert_close(value, table["RSI"])  # table has 6 decimals on values ~50-70: < 1e-7 relative


def test_macd_line_matches_reference_table():
    table = reference("cs-macd.csv")
    frame = ind.macd(table["Close"])
    assert frame["macd"][:25].isna().all()
    assert_close(frame["macd"][25:], table["MACD_line"][25:])


def test_macd_signal_and_histogram_match_reference_table_once_seed_has_decayed():
    """The sheet seeds its signal line differently (it has a "signal" before the MACD line exists);
    an EMA(9) forgets its seed by a factor 0.8 per bar, so after 75 bars (0.8**75 ~ 5e-8) the two
    must agree to 1e-6 relative: the last 24 rows (100..123)."""
    table = reference("cs-macd.csv")
    frame = ind.macd(table["Close"])
    assert frame["signal"][:33].isna().all() and frame["signal"][33:].notna().all()
    assert_close(frame["signal"][100:], table["MACD_signal"][100:])
    assert_close(frame["hist"][100:], table["MACD_diff"][100:])


@pytest.mark.parametrize(("csv", "window"), [("cs-atr.csv", 14), ("cs-atr2.csv", 10)])
def test_atr_matches_reference_table(csv, window):
    table = reference(csv)
    value = ind.atr(table["High"], table["Low"], table["Close"], window=window)
    assert value[:window - 1].isna().all()  # the sheet writes 0 there; we say "not defined"
    assert_close(value[window - 1:], table["ATR"][window - 1:])


def test_bbands_match_reference_table():
    """6-decimal table: ``percent_b`` crosses 0 (0.028541, -0.059760), where 1e-6 relative is
    finer than the table's rounding (half a unit of the 6th decimal = 5e-7); those values get
    ``atol=5e-7``, the table's own precision."""
    table = reference("cs-bbands.csv")
    frame = ind.bbands(table["Close"], window=20, std=2)
    assert frame[:19].isna().all().all()
    for ours, theirs in [("middle", "MiddleBand"), ("upper", "HighBand"), ("lower", "LowBand"),
                         ("width", "WidthBand")]:
        assert_close(frame[ours], table[theirs])
    assert_close(frame["percent_b"], table["PercentageBand"], atol=5e-7)


def test_adx_matches_reference_table():
    table = reference("cs-adx.csv")
    frame = ind.adx(table["High"], table["Low"], table["Close"], window=14)
    assert frame["plus_di"].first_valid_index() == 14
    assert frame["adx"].first_valid_index() == 27 == table["ADX"].first_valid_index()
    assert_close(frame["plus_di"], table["+DI14"])
    assert_close(frame["minus_di"], table["-DI14"])
    assert_close(frame["adx"], table["ADX"])


def test_rolling_vwap_matches_reference_table():
    """The table (ta's VolumeWeightedAveragePrice) starts with a cumulative VWAP before 14 bars
    exist; we leave those warm-up bars NaN and compare from bar 13."""
    table = reference("cs-vwap.csv")
    value = ind.vwap_rolling(table["High"], table["Low"], table["Close"], table["Volume"], window=14)
    assert value[:13].isna().all()
    assert_close(value[13:], table["vwap"][13:])


# --------------------------------------------------------------------------- the ta package


def _defined_agree(ours: pd.Series, theirs: pd.Series, first: int) -> None:
    assert ours[:first].isna().all()
    np.testing.assert_allclose(ours[first:], theirs[first:], rtol=1e-9, atol=0)


def test_moving_averages_rsi_macd_bbands_match_ta(random_walk):
    close = random_walk["close"]
    for window in (9, 20, 50, 200):
        _defined_agree(ind.ema(close, window), ta.trend.EMAIndicator(close, window).ema_indicator(), window - 1)
    for window in (20, 50):
        _defined_agree(ind.sma(close, window), ta.trend.SMAIndicator(close, window).sma_indicator(), window - 1)
    for window in (9, 14):
        # ta also reports bar window-1, averaging a made-up zero change at bar 0 in; we start at bar window
        _defined_agree(ind.rsi(close, window), ta.momentum.RSIIndicator(close, window).rsi(), window)
    ours, theirs = ind.macd(close), ta.trend.MACD(close)
    _defined_agree(ours["macd"], theirs.macd(), 25)
    _defined_agree(ours["signal"], theirs.macd_signal(), 33)
    _defined_agree(ours["hist"], theirs.macd_diff(), 33)
    bands, ta_bands = ind.bbands(close), ta.volatility.BollingerBands(close, 20, 2)
    for ours_name, theirs_series in [("middle", ta_bands.bollinger_mavg()), ("upper", ta_bands.bollinger_hband()),
                                     ("lower", ta_bands.bollinger_lband()), ("percent_b", ta_bands.bollinger_pband()),
                                     ("width", ta_bands.bollinger_wband())]:
        _defined_agree(bands[ours_name], theirs_series, 19)


def _rsi_by_series_methods(close: pd.Series, window: int) -> pd.Series:
    change = close.astype("float64").diff()
    average = {side: values.clip(lower=0.0).fillna(0.0).ewm(alpha=1.0 / window, adjust=False).mean()
               for side, values in (("gain", change), ("loss", -change))}
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - 100.0 / (1.0 + average["gain"] / average["loss"])
    value = value.where(average["loss"] != 0.0, 100.0)
    value.iloc[:window] = np.nan
    return value


def _bbands_by_series_methods(close: pd.Series, window: int, std: float) -> pd.DataFrame:
    rolling = close.rolling(window, min_periods=window)
    middle, deviation = rolling.mean(), rolling.std(ddof=0)
    upper, lower = middle + std * deviation, middle - std * deviation
    return pd.DataFrame({"middle": middle, "upper": upper, "lower": lower,
                         "percent_b": (close - lower) / (upper - lower).where(upper != lower),
                         "width": (upper - lower) / middle * 100.0})


def _macd_by_series_methods(close: pd.Series) -> pd.DataFrame:
    line = ind.ema(close, 12) - ind.ema(close, 26)
    signal = line.ewm(alpha=2.0 / 10, adjust=False, min_periods=9).mean()
    return pd.DataFrame({"macd": line, "signal": signal, "hist": line - signal})


def _wilder_by_series_methods(values: pd.Series, window: int) -> pd.Series:
    out = pd.Series(np.nan, index=values.index, dtype="float64")
    seeded = pd.concat([pd.Series([values.iloc[:window].mean()]), values.iloc[window:].reset_index(drop=True)])
    out.iloc[window - 1:] = seeded.ewm(alpha=1.0 / window, adjust=False).mean().to_numpy()
    return out


@pytest.mark.parametrize("window", [2, 14, 20])
def test_indicators_on_arrays_equal_their_series_formulation_bit_for_bit(random_walk, window):
    """The array versions (rsi 5x, bbands 2.5x, macd, atr and the volume ratio 1.3-1.9x faster a call) compute
    what the Series methods compute, to the last bit, flat stretches (no losses, zero bandwidth, no volume) and
    gaps included."""
    frame = random_walk.copy()
    frame.iloc[500:560, :] = frame.iloc[500].to_numpy()  # no gains or losses, zero standard deviation
    frame.iloc[500:560, frame.columns.get_loc("volume")] = 0.0
    frame.iloc[[700, 1200], :] = np.nan
    close, volume = frame["close"], frame["volume"]
    pd.testing.assert_series_equal(ind.rsi(close, window), _rsi_by_series_methods(close, window), check_exact=True)
    pd.testing.assert_frame_equal(ind.bbands(close, window, 2.0), _bbands_by_series_methods(close, window, 2.0),
                                  check_exact=True)
    pd.testing.assert_frame_equal(ind.macd(close), _macd_by_series_methods(close), check_exact=True)
    ranges = ind.true_range(frame["high"], frame["low"], close)
    pd.testing.assert_series_equal(ind.wilder_smooth(ranges, window), _wilder_by_series_methods(ranges, window),
                                   check_exact=True)
    average = volume.rolling(window, min_periods=window).mean()
    pd.testing.assert_series_equal(ind.volume_ratio(volume, window), volume / average.where(average != 0.0),
                                   check_exact=True)


def test_atr_adx_match_ta(random_walk):
    high, low, close = random_walk["high"], random_walk["low"], random_walk["close"]
    _defined_agree(ind.atr(high, low, close), ta.volatility.AverageTrueRange(high, low, close, 14)
                   .average_true_range(), 13)
    ours, theirs = ind.adx(high, low, close), ta.trend.ADXIndicator(high, low, close, 14)
    _defined_agree(ours["adx"], theirs.adx(), 27)
    # ta leaves +DI/-DI at 0 on bar 14 (its loop starts one bar late); from bar 15 they must agree
    np.testing.assert_allclose(ours["plus_di"][15:], theirs.adx_pos()[15:], rtol=1e-9)
    np.testing.assert_allclose(ours["minus_di"][15:], theirs.adx_neg()[15:], rtol=1e-9)


def test_volume_indicators_and_rolling_vwap_match_ta(random_walk):
    frame = random_walk
    _defined_agree(ind.vwap_rolling(frame["high"], frame["low"], frame["close"], frame["volume"]),
                   ta.volume.VolumeWeightedAveragePrice(frame["high"], frame["low"], frame["close"], frame["volume"])
                   .volume_weighted_average_price(), 13)
    expected_sma = ta.trend.SMAIndicator(frame["volume"], 20).sma_indicator()
    _defined_agree(ind.volume_sma(frame["volume"]), expected_sma, 19)
    _defined_agree(ind.volume_ratio(frame["volume"]), frame["volume"] / expected_sma, 19)


def test_vwap_daily_matches_a_groupby_recomputation(random_walk):
    frame = random_walk
    price_volume = (frame["high"] + frame["low"] + frame["close"]) / 3 * frame["volume"]
    day = frame.index.floor("D")
    expected = price_volume.groupby(day).cumsum() / frame["volume"].groupby(day).cumsum()
    np.testing.assert_allclose(ind.vwap_daily(frame["high"], frame["low"], frame["close"], frame["volume"]),
                               expected, rtol=1e-9)


# --------------------------------------------------------------------------- causality and registry


EVERY_INDICATOR = [*ind.DEFAULT_SET, ("ema", {"window": 3}), ("bbands", {"window": 10, "std": 1.5}),
                   ("vwap_rolling", {"window": 5})]


@pytest.mark.parametrize(("name", "params"), EVERY_INDICATOR,
                         ids=[f"{name}({ind.canonical_params(params)})" for name, params in EVERY_INDICATOR])
def test_no_look_ahead(random_walk, name, params):
    """Values up to bar t are the same whether or not later bars exist."""
    full = ind.compute_indicator(name, random_walk, **params)
    for cut in (0, 5, 30, 233, 1000, 2999):
        prefix = ind.compute_indicator(name, random_walk.iloc[:cut + 1], **params)
        pd.testing.assert_frame_equal(prefix, full.iloc[:cut + 1], rtol=1e-12, atol=0)


def test_compute_all_has_every_default_column_aligned_to_the_candles(random_walk):
    frame = ind.compute_all(random_walk)
    assert frame.index.equals(random_walk.index)
    expected = [ind.wide_column(name, params, output) for name, params in ind.DEFAULT_SET
                for output in ind.get_spec(name).outputs]
    assert list(frame.columns) == expected
    assert {"ema_200", "rsi_14", "macd_12_26_9_signal", "bbands_20_2_percent_b", "adx_14_minus_di",
            "vwap_daily", "vwap_rolling_14", "volume_ratio_20"} <= set(frame.columns)
    assert frame["ema_200"][:199].isna().all() and frame["ema_200"][199:].notna().all()
    pd.testing.assert_series_equal(frame["rsi_9"], ind.rsi(random_walk["close"], 9), check_names=False)


def test_registry_names_and_compute_indicator_outputs(random_walk):
    assert set(ind.INDICATORS) == {"ema", "sma", "rsi", "macd", "atr", "bbands", "volume_sma", "volume_ratio",
                                   "adx", "vwap_daily", "vwap_rolling"}
    assert list(ind.compute_indicator("macd", random_walk).columns) == ["macd", "signal", "hist"]
    assert list(ind.compute_indicator("rsi", random_walk, window=9).columns) == ["value"]
    with pytest.raises(ValueError, match="no parameter"):
        ind.compute_indicator("rsi", random_walk, span=3)
    with pytest.raises(ValueError, match="unknown indicator"):
        ind.compute_indicator("stoch", random_walk)


def test_canonical_params_is_sorted_and_normalises_integral_floats():
    assert ind.canonical_params({"slow": 26, "fast": 12, "signal": 9}) == "fast=12,signal=9,slow=26"
    assert ind.canonical_params({"window": 20, "std": 2.0}) == ind.canonical_params({"std": 2, "window": 20})
    assert ind.canonical_params({"window": 20, "std": 2.5}) == "std=2.5,window=20"
    assert ind.canonical_params({}) == ""


def test_module_imports_no_django():
    code = "import sys, marketdata.indicators; assert 'django' not in sys.modules, 'django imported'"
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
