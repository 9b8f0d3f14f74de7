"""The bundled real dataset (``marketdata/sample_data``, see its PROVENANCE.md) and its loader.

``sample_load()`` puts it in the database with ``source='bundled'`` (``'bundled_coingecko'`` for the
CoinGecko files) so the demo runs offline.
It is idempotent: re-running inserts nothing, and the overlap of the BTC/ETH 2017-2023 and
2021-2023 files is absorbed by the unique constraint.

Adjustments made while loading (each is counted in the result):

- The BTC/ETH 2017-2023 files end with a still-open (incomplete) candle: it is dropped.
- CoinGecko files are daily price snapshots, not OHLC: ``open = high = low = close = price``
  (flat candles; the data-quality report shows them as such); the off-grid intraday last point
  of each file is dropped, and each snapshot at D 00:00 becomes the candle of day D-1 (it is that
  day's close), the convention of the CoinGecko client.
- Files with base volume only get ``quote_volume`` = volume x typical price, flagged
  ``quote_volume_derived`` (``marketdata.quote_volume``); the volume-share slippage model reads it.
- The USDC/USD 15m file's ``o`` is the previous bar's close, and in 434 of its 808 rows it lies
  outside that bar's ``h``/``l``; ``high``/``low`` are widened to include ``open`` and ``close``
  (``repaired`` counts them) rather than rejecting the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.parallel import parallel_imap
from marketdata.csv_import import drop_off_grid, load_candle_table, read_candle_file
from marketdata.timeframes import timeframe_delta

SAMPLE_DIR = Path(__file__).resolve().parent / "sample_data"
SOURCE = "bundled"  # Binance-sourced bundled files
COINGECKO_SOURCE = "bundled_coingecko"  # kept apart so the two providers can be reconciled

BINANCE_1H_SYMBOLS = ("BTC", "ETH", "SOL", "AVAX", "SNX", "PERP", "CRV", "AAVE", "COMP", "MKR", "USDC", "CVX",
                      "FXS", "OP", "GMX", "GNS", "ARB", "LUNA", "UST", "FTT", "BUSD")
BINANCE_1H_2025H1_SYMBOLS = ("BTC", "ETH", "SOL", "AVAX", "SNX", "PERP", "GMX", "GNS", "USDC", "CRV", "CVX", "FXS",
                             "ARB", "OP", "AAVE", "COMP", "MKR")
BINANCE_1H_2024_2026_SYMBOLS = ("BTC", "ETH", "SOL", "AVAX", "SNX", "ARB", "OP", "AAVE")
COINGECKO_IDS = {"DAI": "dai", "FRAX": "frax", "FXS": "frax-share", "PERP": "perpetual-protocol",
                 "CVX": "convex-finance", "GMX": "gmx"}


@dataclass(frozen=True)
class SampleFile:
    relative_path: str
    symbol: str
    timeframe: str
    note: str = ""
    drop_last: bool = False  # the last row is a still-open candle
    price_only: bool = False
    repair_range: bool = False
    source: str = SOURCE

    @property
    def path(self) -> Path:
        return SAMPLE_DIR / self.relative_path


SAMPLE_FILES: tuple[SampleFile, ...] = (
    *(SampleFile(f"binance_spot_1h_2021_2023/{s}USDT_1h.csv.gz", s, "1h", "Binance spot 1h 2021-04..2023-12")
      for s in BINANCE_1H_SYMBOLS),
    *(SampleFile(f"binance_spot_1h_2017_2023/{s}USDT_1h_2017-08-17_2023-08-02.csv.gz", s, "1h",
                 "Binance spot 1h 2017-08..2023-08", drop_last=True) for s in ("BTC", "ETH")),
    *(SampleFile(f"coingecko_1d_2021/{cid}.csv", s, "1d", "CoinGecko daily price only (flat candles)",
                 price_only=True, source=COINGECKO_SOURCE) for s, cid in COINGECKO_IDS.items()),
    SampleFile("usdc_svb_2023/usdc_usd_15m_2023-03-09_2023-03-18.json", "USDC", "15m",
               "USDC/USD 15m through the SVB depeg (high/low repaired)", repair_range=True),
    *(SampleFile(f"binance_spot_1h_2024-09_2026-02/{s}_USDT-1h.csv.gz", s, "1h", "Binance spot 1h 2024-09..2026-02")
      for s in BINANCE_1H_2024_2026_SYMBOLS),
    *(SampleFile(f"binance_spot_1h_2025H1/{s}_USDT-1h.csv.gz", s, "1h", "Binance spot 1h 2025-01..2025-06")
      for s in BINANCE_1H_2025H1_SYMBOLS),
    *(SampleFile(f"binance_spot_1m_2024-07-26_2024-08-25/{s}_USDT-1m.csv.gz", s, "1m",
                 "Binance spot 1m 2024-07-26..2024-08-25 (the 2024-08-05 crash)") for s in ("BTC", "ETH")),
)


def sample_files(*, symbols=None, timeframes=None) -> list[SampleFile]:
    wanted_symbols = {s.strip().upper() for s in symbols} if symbols else None
    wanted_timeframes = set(timeframes) if timeframes else None
    return [f for f in SAMPLE_FILES
            if (wanted_symbols is None or f.symbol in wanted_symbols)
            and (wanted_timeframes is None or f.timeframe in wanted_timeframes)]


def read_sample_file(sample: SampleFile) -> tuple[pd.DataFrame, dict[str, int]]:
    """The candles of one bundled file, adjusted as the module docstring says, and the counts."""
    frame = read_candle_file(sample.path)
    adjustments = {"dropped": 0, "repaired": 0}
    if sample.drop_last and len(frame):
        frame = frame.iloc[:-1]
        adjustments["dropped"] += 1
    if sample.price_only:
        on_grid = drop_off_grid(frame, sample.timeframe)
        adjustments["dropped"] += len(frame) - len(on_grid)
        # A snapshot at D 00:00 is the closing price of day D-1: label it so, as the CoinGecko client does
        # (found by reconciling against Binance: unshifted, closes were a day late, a 4% median gap on PERP).
        frame = on_grid.assign(open_time=on_grid["open_time"] - timeframe_delta(sample.timeframe))
    if sample.repair_range:
        frame = frame.copy()
        high = np.maximum.reduce([frame["high"], frame["open"], frame["close"]])
        low = np.minimum.reduce([frame["low"], frame["open"], frame["close"]])
        adjustments["repaired"] = int(((high != frame["high"]) | (low != frame["low"])).sum())
        frame["high"], frame["low"] = high, low
    return frame, adjustments


def sample_load(
    *,
    symbols: list[str] | None = None,
    timeframes: list[str] | None = None,
    samples: list[SampleFile] | None = None,
    progress: Callable[[dict], None] | None = None,
) -> dict:
    """Load the bundled candle files (all, or those of ``symbols``/``timeframes``, or ``samples`` in their
    order) with source 'bundled'.

    Returns ``{"files": [...], "received", "inserted", "skipped", "dropped", "repaired"}``, one
    entry per file with its symbol, timeframe, note and counts. ``progress`` is called with each
    file's entry once it is loaded. Each file is loaded in one transaction. The bundled fundamentals and
    sentiment are loaded by ``marketdata.sample_fundamentals.fundamentals_load``.
    """
    entries = []
    if samples is None:
        samples = sample_files(symbols=symbols, timeframes=timeframes)
    # The next files are read and parsed in another process while this one writes (SQLite: 2.2 of 9.9 s)
    for sample, (frame, adjustments) in zip(samples, parallel_imap(read_sample_file, samples), strict=True):
        loaded = load_candle_table(frame, name=sample.relative_path, symbol=sample.symbol,
                                   timeframe=sample.timeframe, source=sample.source)
        entry = {"file": sample.relative_path, "symbol": sample.symbol, "timeframe": sample.timeframe,
                 "note": sample.note, "received": loaded.received, "inserted": loaded.inserted,
                 "skipped": loaded.skipped, **adjustments}
        entries.append(entry)
        if progress is not None:
            progress(entry)
    totals = {key: sum(e[key] for e in entries) for key in ("received", "inserted", "skipped", "dropped",
                                                           "repaired")}
    return {"files": entries, **totals}
