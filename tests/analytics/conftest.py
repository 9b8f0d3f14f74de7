from tests.backtests.conftest import btc_candles_in_db  # noqa: F401  (real BTC candles in the database)
