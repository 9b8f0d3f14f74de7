"""candles_df returns the same frame whichever backend stores the candles."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from marketdata.loading import candles_upsert
from marketdata.selectors import CANDLE_COLUMNS, candles_df
from tests.marketdata.test_loading import make_candles

pytestmark = pytest.mark.django_db


def expected_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """What candles_df must return for ``frame``, built without the database."""
    index = pd.DatetimeIndex(frame["open_time"]).as_unit("ns")
    index.name = "open_time"
    return pd.DataFrame({name: frame[name].to_numpy("float64") for name in CANDLE_COLUMNS}, index=index)


def test_frame_matches_what_was_loaded_exactly():
    frame = make_candles(300, start="2021-06-01 07:00")
    frame.loc[[2, 40], "quote_volume"] = np.nan
    frame.loc[[7], "trade_count"] = np.nan
    candles_upsert(frame, symbol="BTC", timeframe="1h", source="binance")
    candles_upsert(make_candles(20), symbol="ETH", timeframe="1h", source="binance")

    result = candles_df(symbol="BTC", timeframe="1h")

    pd.testing.assert_frame_equal(result, expected_frame(frame), check_freq=False)
    assert str(result.index.dtype) == "datetime64[ns, UTC]"


def test_start_is_inclusive_and_end_exclusive():
    frame = make_candles(48)
    candles_upsert(frame, symbol="BTC", timeframe="1h", source="binance")

    result = candles_df(symbol="BTC", timeframe="1h", start=datetime(2022, 1, 1, 5, tzinfo=UTC),
                        end=datetime(2022, 1, 1, 10, tzinfo=UTC))

    pd.testing.assert_frame_equal(result, expected_frame(frame.iloc[5:10]), check_freq=False)


def test_no_candles_gives_an_empty_frame_of_the_same_shape():
    result = candles_df(symbol="BTC", timeframe="1h")

    assert result.empty
    assert list(result.columns) == CANDLE_COLUMNS
    assert str(result.index.dtype) == "datetime64[ns, UTC]"
    assert all(str(dtype) == "float64" for dtype in result.dtypes)
