"""Binance against CoinGecko: the days both cover are compared close to close and scored."""

from __future__ import annotations

import pandas as pd
import pytest

from marketdata.reconciliation import reconcile
from marketdata.services import sources_reconcile


def _daily(closes: list[float], start: str = "2023-01-01") -> pd.DataFrame:
    return pd.DataFrame({"close": closes}, index=pd.date_range(start, periods=len(closes), freq="D", tz="UTC"))


def test_identical_series_score_one():
    result = reconcile(_daily([1.0, 2.0, 3.0]), _daily([1.0, 2.0, 3.0]))
    assert result["score"] == 1.0 and result["common"] == 3 and result["close_diff_abs_max"] == 0.0


def test_missing_days_and_disagreements_lower_the_score():
    primary = _daily([100, 101, 102, 103, 104]).drop(pd.Timestamp("2023-01-03", tz="UTC"))
    secondary = _daily([100, 101, 102, 110, 104])  # 2023-01-04 is 5.6% off
    result = reconcile(primary, secondary)
    assert result["missing_in_primary"] == ["2023-01-03T00:00:00+00:00"]
    assert result["days_above_tolerance"] == 1
    assert result["score"] == pytest.approx(4 / 5 * (1 - 1 / 4))
    assert result["worst_days"][0]["day"].startswith("2023-01-04")


def test_no_overlap_gives_no_score():
    result = reconcile(_daily([1.0, 2.0]), _daily([1.0, 2.0], start="2024-01-01"))
    assert result["status"] == "no overlap" and result["score"] is None


@pytest.mark.django_db
def test_bundled_binance_and_coingecko_agree_on_perp_in_2021():
    from marketdata.sample import sample_load

    sample_load(symbols=["PERP"])
    result = sources_reconcile(symbols=["PERP"])["PERP"]
    assert result["status"] == "ok" and result["common"] > 200  # 2021-04 .. 2021-12
    assert result["close_diff_abs_median"] < 0.01
    assert result["score"] > 0.8


@pytest.mark.django_db
def test_fetched_coingecko_series_in_another_currency_is_caught(httpserver, settings):
    """The recorded CoinGecko body is in EUR: against Binance's USDT closes most days disagree by >1%."""
    from marketdata.loading import candles_upsert
    from tests.marketdata.sources.payloads import btc_daily_klines, load_json

    klines = btc_daily_klines()[["open_time", "open", "high", "low", "close", "volume"]]
    klines = klines.assign(open_time=pd.to_datetime(klines["open_time"], unit="ms", utc=True))
    candles_upsert(klines, symbol="BTC", timeframe="1d", source="binance")
    httpserver.expect_request("/coins/bitcoin/market_chart/range").respond_with_json(
        load_json("coingecko/market_chart_range_bitcoin_eur_2020_03_01-2021_08_01.json"))
    settings.COINGECKO_BASE_URL = httpserver.url_for("")
    result = sources_reconcile(symbols=["BTC"], start=pd.Timestamp("2021-01-01", tz="UTC"),
                               end=pd.Timestamp("2021-07-01", tz="UTC"), fetch=True)["BTC"]
    assert result["common"] > 150
    assert result["days_above_tolerance"] > 0.9 * result["common"]
    assert result["score"] < 0.1
