"""Source registry: automatic selection, forced sources, configured clients."""

from __future__ import annotations

import pytest

from marketdata.sources import get_source, select_source
from marketdata.sources.binance import BinanceSource
from marketdata.sources.coingecko import API_KEY_HEADER, CoinGeckoSource
from marketdata.symbols import TOKENS


@pytest.mark.parametrize("token", TOKENS, ids=lambda t: t.symbol)
def test_binance_where_it_lists_the_pair_coingecko_otherwise(token):
    expected = "binance" if token.binance_pair else "coingecko"
    assert select_source(token.symbol, "1d") == expected


def test_intraday_timeframes_need_binance():
    assert select_source("ETH", "15m") == "binance"
    with pytest.raises(ValueError, match="no source can serve DAI at 1h"):
        select_source("DAI", "1h")


def test_a_forced_source_is_used_when_it_can_serve():
    assert select_source("BTC", "1d", prefer="coingecko") == "coingecko"


@pytest.mark.parametrize(("symbol", "timeframe", "prefer"), [("DAI", "1d", "binance"), ("BTC", "1h", "coingecko")])
def test_a_forced_source_that_cannot_serve_is_a_clear_error(symbol, timeframe, prefer):
    with pytest.raises(ValueError, match=f"source '{prefer}' cannot serve {symbol} at {timeframe}"):
        select_source(symbol, timeframe, prefer=prefer)


def test_unknown_names_are_errors():
    with pytest.raises(ValueError, match="unknown timeframe"):
        select_source("BTC", "2h")
    with pytest.raises(ValueError, match="unknown OHLCV source"):
        select_source("BTC", "1d", prefer="kraken")
    with pytest.raises(ValueError, match="unknown OHLCV source"):
        get_source("kraken")


def test_get_source_reads_settings(settings):
    settings.BINANCE_BASE_URL = "http://binance.test/"
    settings.COINGECKO_BASE_URL = "http://coingecko.test/api/v3"
    settings.COINGECKO_API_KEY = "secret"

    binance = get_source("binance")
    coingecko = get_source("coingecko")

    assert isinstance(binance, BinanceSource) and binance.base_url == "http://binance.test"
    assert isinstance(coingecko, CoinGeckoSource) and coingecko.base_url == "http://coingecko.test/api/v3"
    assert coingecko.session.headers[API_KEY_HEADER] == "secret"
    assert get_source("binance", base_url="http://elsewhere").base_url == "http://elsewhere"


def test_sources_import_no_django():
    import subprocess
    import sys

    code = ("import sys, marketdata.sources.binance, marketdata.sources.coingecko, marketdata.sources.defillama, "
            "marketdata.sources.lunarcrush; assert 'django' not in sys.modules, 'django imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
