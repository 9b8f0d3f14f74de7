"""Fixtures: real BTC/ETH hourly candles loaded into the test database."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[1] / "data"


def real_candles(start: str, end: str) -> pd.DataFrame:
    frame = pd.read_csv(DATA / "BTCUSDT_1h.csv.gz", parse_dates=["date"])
    frame["open_time"] = pd.to_datetime(frame["date"], utc=True)
    frame = frame[(frame["open_time"] >= start) & (frame["open_time"] < end)]
    return frame[["open_time", "open", "high", "low", "close", "volume"]].reset_index(drop=True)


@pytest.fixture
def btc_candles_in_db(db):
    """BTC 1h candles 2022-01-01 .. 2022-05-01 (real Binance data) in the candle table."""
    from marketdata.loading import candles_upsert

    frame = real_candles("2021-12-01", "2022-05-01")
    result = candles_upsert(frame, symbol="BTC", timeframe="1h", source="bundled")
    assert result.inserted == len(frame)
    return frame
