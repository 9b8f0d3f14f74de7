"""The bundled 1m candles (BTC and ETH through the 2024-08-05 crash): stored at 1m, resampled to 1h and 1d,
and the daily bars equal an independent daily source (CryptoDataDownload's Binance daily file)."""

from __future__ import annotations

import pandas as pd
import pytest

from marketdata.models import Candle
from marketdata.sample import sample_load
from marketdata.selectors import candles_df
from marketdata.services import candles_resample
from tests.conftest import DATA

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("symbol", ["BTC", "ETH"])
def test_one_minute_candles_resample_to_the_exchange_daily_bars(symbol):
    loaded = sample_load(symbols=[symbol], timeframes=["1m"])
    assert loaded["inserted"] > 43_000 and Candle.objects.filter(symbol=symbol, timeframe="1m").count() > 43_000

    hourly = candles_resample(symbol=symbol, source_timeframe="1m", target_timeframe="1h")
    daily = candles_resample(symbol=symbol, source_timeframe="1m", target_timeframe="1d")
    assert hourly["buckets"] == 719 and daily["buckets"] == 29  # whole hours and days between 07-26 14:15 and 08-25
    assert daily["dropped_incomplete"] == 2  # the first and the last, partial, days

    reference = pd.read_csv(DATA / f"Binance_{symbol}USDT_d_2024-07-26_2024-08-25.csv", skiprows=1)
    reference.index = pd.to_datetime(reference["Date"], utc=True)
    built = candles_df(symbol=symbol, timeframe="1d")
    common = built.index.intersection(reference.index)
    assert len(common) == 29
    for ours, theirs in (("open", "Open"), ("high", "High"), ("low", "Low"), ("close", "Close"),
                         ("volume", f"Volume {symbol}")):
        assert built.loc[common, ours].to_numpy() == pytest.approx(reference.loc[common, theirs].to_numpy(), rel=1e-9)
    crash = built.loc["2024-08-05"]
    assert crash["low"] == reference.loc["2024-08-05", "Low"].item()
