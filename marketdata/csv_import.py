"""Offline import of candle files: Binance public kline dumps and the bundled sample formats.

Readers (no database) turn a file into candle frames (``open_time`` tz-aware UTC, ``open high low
close volume quote_volume quote_volume_derived trade_count``) plus a ``line`` column giving each
row's line in its file, so that errors can name it. Formats recognised by their content:

- Binance kline dumps (data.binance.vision): no header, 12 columns ``open time, open, high, low,
  close, volume, close time, quote volume, trades, taker buy base, taker buy quote, ignore``.
  Open times are epoch milliseconds, or microseconds in the 2025+ spot dumps; the unit is
  detected per file from the magnitude (seconds < 1e11 <= ms < 1e14 <= µs < 1e17 <= ns).
- The same with a header row (``open_time,open,...,quote_asset_volume,number_of_trades,...``).
- Any CSV with a header naming a time column (``open_time``, ``open_time_ms``, ``date``,
  ``timestamp``, ...) and ``open high low close volume``; text times without a zone are UTC.
- CoinGecko price snapshots (``timestamp,readableTimestamp,coinId,price,marketCap,totalVolume``):
  price only, so ``open = high = low = close = price``; ``quote_volume`` is CoinGecko's USD
  volume and ``volume`` is derived from it as ``totalVolume / price``. Such frames carry
  ``attrs["price_only"] = True``.
- JSON ``{"data": [{"dt", "o", "h", "l", "c", "v"}, ...]}`` (the bundled USDC/USD 15m file).

Files may be plain, ``.gz`` or ``.zip`` (every CSV member is a table of its own). Decompressed input is
capped at :data:`MAX_TABLE_BYTES` per table (a zip member's size claim is checked first, then the bytes
actually read), so a decompression bomb is refused before it fills memory; a corrupt zip member or a
truncated gzip is a :class:`CandleFileError` naming the file.

``ohlcv_csv_import`` reads and checks every table of every file first, then loads them all in one
transaction through :func:`marketdata.loading.candles_upsert`: a bad row anywhere imports nothing. A file
name in Binance's dump convention (``BTCUSDT-1h-2024-01.zip``) and a ``ticker``/``symbol`` column must name
the ``--symbol`` and timeframe asked for, unless forced.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from django.db import transaction

from core.timeutil import epoch_unit
from marketdata.loading import CandleValidationError, LoadResult, candles_upsert
from marketdata.sources.base import derive_quote_volume
from marketdata.symbols import get_token, pair_base
from marketdata.timeframes import timeframe_delta

BINANCE_KLINE_COLUMNS = ("open_time", "open", "high", "low", "close", "volume", "close_time",
                         "quote_volume", "trade_count", "taker_buy_base", "taker_buy_quote", "ignore")
TIME_ALIASES = ("open_time_ms", "open_time", "open time", "opentime", "timestamp", "open_time_utc", "date",
                "datetime", "time", "dt")
COLUMN_ALIASES = {
    "open": ("open", "o"), "high": ("high", "h"), "low": ("low", "l"), "close": ("close", "c"),
    "volume": ("volume", "v", "base_volume"),
    "quote_volume": ("quote_volume", "quote_asset_volume", "quote asset volume", "quote_av"),
    "trade_count": ("trade_count", "number_of_trades", "number of trades", "trades", "count"),
}


#: Largest decompressed table accepted (a month of 1s candles is ~170 MB; a year of 1m candles ~40 MB).
MAX_TABLE_BYTES = 256 * 1024 * 1024
#: ``BTCUSDT-1h-2024-01.zip``, ``ETHUSDT-1m-2024-08-05.csv``: Binance's dump names (pair, interval, date).
DUMP_NAME = re.compile(r"^(?P<pair>[A-Z0-9]+)-(?P<interval>\d+[smhdwM])-\d{4}-\d{2}(?:-\d{2})?")


class CandleFileError(ValueError):
    """A file cannot be read or holds a bad row; the message names the file and line."""


@dataclass
class FileImportResult:
    path: str
    received: int = 0
    inserted: int = 0
    skipped: int = 0
    dropped_off_grid: int = 0


@dataclass
class CsvImportResult:
    symbol: str
    timeframe: str
    files: list[FileImportResult] = field(default_factory=list)

    @property
    def totals(self) -> LoadResult:
        return LoadResult(sum(f.received for f in self.files), sum(f.inserted for f in self.files),
                          sum(f.skipped for f in self.files))


# --- Reading -----------------------------------------------------------------------------------


def iter_candle_tables(path: str | Path, max_bytes: int = MAX_TABLE_BYTES) -> Iterator[tuple[str, pd.DataFrame]]:
    """``(name, frame)`` for each table in ``path``: one for a CSV/JSON file, one per zip member."""
    path = Path(path)
    if not path.exists():
        raise CandleFileError(f"{path}: no such file")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.infolist() if not m.is_dir()]
                if not members:
                    raise CandleFileError(f"{path}: empty zip archive")
                for member in members:
                    name = f"{path}:{member.filename}"
                    if member.file_size > max_bytes:
                        raise CandleFileError(f"{name}: claims {member.file_size} bytes uncompressed, more than "
                                              f"the {max_bytes} allowed")
                    with archive.open(member) as handle:
                        raw = _read_capped(handle, max_bytes, name)
                    yield name, parse_candle_bytes(raw, name=name)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
            raise CandleFileError(f"{path}: corrupt zip archive: {error.__class__.__name__}: {error}") from None
        return
    with open(path, "rb") as handle:
        magic = handle.read(2)
        handle.seek(0)
        if magic == b"\x1f\x8b":
            try:
                with gzip.GzipFile(fileobj=handle) as unzipped:
                    raw = _read_capped(unzipped, max_bytes, str(path))
            except (EOFError, OSError, zlib.error) as error:
                raise CandleFileError(f"{path}: corrupt or truncated gzip: {error.__class__.__name__}: {error}") \
                    from None
        else:
            raw = _read_capped(handle, max_bytes, str(path))
    yield str(path), parse_candle_bytes(raw, name=str(path))


def _read_capped(handle, max_bytes: int, name: str) -> bytes:
    raw = handle.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise CandleFileError(f"{name}: more than {max_bytes} bytes uncompressed: refused (a decompression bomb?)")
    return raw


def check_names_the_request(name: str, frame: pd.DataFrame, *, symbol: str, timeframe: str) -> None:
    """``CandleFileError`` when a table's file (or zip member) name in Binance's dump convention, or its
    ``ticker``/``symbol`` column, names another symbol or timeframe than the import asks for (BTC prices
    stored as ETH would poison every later run)."""
    for part in dict.fromkeys(Path(piece).name for piece in name.split(":")):
        match = DUMP_NAME.match(part)
        if not match:
            continue
        base = pair_base(match["pair"])
        if base and base != symbol:
            raise CandleFileError(f"{name}: the file name says {match['pair']} ({base}), not {symbol}; "
                                  f"use --force to import it as {symbol} anyway")
        if match["interval"] != timeframe:
            raise CandleFileError(f"{name}: the file name says {match['interval']} candles, not {timeframe}; "
                                  "use --force to import it anyway")
    for column, values in frame.attrs.get("named_symbols", {}).items():
        bases = {pair_base(v.upper().replace("/", "").replace("-", "")) or v.upper() for v in values}
        if bases - {symbol}:
            raise CandleFileError(f"{name}: its {column} column names {', '.join(sorted(bases))}, not {symbol}; "
                                  "use --force to import it anyway")


def read_candle_file(path: str | Path) -> pd.DataFrame:
    """All tables of ``path`` as one candle frame (see the module docstring for formats)."""
    frames = [frame for _, frame in iter_candle_tables(path)]
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    out.attrs["price_only"] = any(frame.attrs.get("price_only") for frame in frames)
    return out


def parse_candle_bytes(raw: bytes, *, name: str) -> pd.DataFrame:
    text_start = raw.lstrip()[:1]
    if text_start in (b"{", b"["):
        return _parse_json(raw, name=name)
    first_line = raw.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip().lstrip("\ufeff")
    if not first_line:
        raise CandleFileError(f"{name}: empty file")
    first_field = first_line.split(",")[0].strip().strip('"')
    has_header = not _is_number(first_field)
    try:
        table = pd.read_csv(io.BytesIO(raw), header=0 if has_header else None, skip_blank_lines=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise CandleFileError(f"{name}: not a readable CSV file ({error})") from None
    first_data_line = 2 if has_header else 1
    if has_header:
        return _from_named_columns(table, name=name, first_data_line=first_data_line)
    return _from_binance_layout(table, name=name, first_data_line=first_data_line)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _from_binance_layout(table: pd.DataFrame, *, name: str, first_data_line: int) -> pd.DataFrame:
    if table.shape[1] < 6:
        raise CandleFileError(
            f"{name}: a file without a header needs the Binance kline columns "
            f"({', '.join(BINANCE_KLINE_COLUMNS)}); found {table.shape[1]} column(s)"
        )
    table = table.iloc[:, : len(BINANCE_KLINE_COLUMNS)]
    table.columns = list(BINANCE_KLINE_COLUMNS[: table.shape[1]])
    return _candle_frame(table, name=name, first_data_line=first_data_line)


def _from_named_columns(table: pd.DataFrame, *, name: str, first_data_line: int) -> pd.DataFrame:
    lowered = {str(column).strip().lower(): column for column in table.columns}
    if "price" in lowered and "open" not in lowered:
        return _from_price_snapshots(table, lowered, name=name, first_data_line=first_data_line)
    renamed = {}
    time_column = next((lowered[a] for a in TIME_ALIASES if a in lowered), None)
    if time_column is None:
        raise CandleFileError(f"{name}: no time column (expected one of {', '.join(TIME_ALIASES)})")
    renamed[time_column] = "open_time"
    for target, aliases in COLUMN_ALIASES.items():
        found = next((lowered[a] for a in aliases if a in lowered), None)
        if found is not None:
            renamed[found] = target
    missing = [c for c in ("open", "high", "low", "close", "volume") if c not in renamed.values()]
    if missing:
        raise CandleFileError(f"{name}: missing column(s) {', '.join(missing)} in the header")
    named = {column: sorted({str(v) for v in table[lowered[column]].dropna().unique()})
             for column in ("ticker", "symbol") if column in lowered}
    table = table[list(renamed)].rename(columns=renamed)
    frame = _candle_frame(table, name=name, first_data_line=first_data_line)
    frame.attrs["named_symbols"] = named
    return frame


def _from_price_snapshots(table: pd.DataFrame, lowered: dict, *, name: str, first_data_line: int) -> pd.DataFrame:
    time_column = next((lowered[a] for a in TIME_ALIASES if a in lowered), None)
    if time_column is None:
        raise CandleFileError(f"{name}: no time column for the price snapshots")
    price = _numbers(table[lowered["price"]], "price", name=name, first_data_line=first_data_line)
    volume_column = lowered.get("totalvolume") or lowered.get("total_volume")
    quote = (_numbers(table[volume_column], "totalVolume", name=name, first_data_line=first_data_line)
             if volume_column is not None else pd.Series(np.nan, index=table.index))
    frame = pd.DataFrame({"open_time": table[time_column], "open": price, "high": price, "low": price,
                          "close": price, "volume": quote / price, "quote_volume": quote})
    out = _candle_frame(frame, name=name, first_data_line=first_data_line)
    out.attrs["price_only"] = True
    return out


def _parse_json(raw: bytes, *, name: str) -> pd.DataFrame:
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError as error:
        raise CandleFileError(f"{name}: invalid JSON ({error})") from None
    rows = payload.get("data") if isinstance(payload, dict) else payload
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise CandleFileError(f"{name}: expected a list of {{dt, o, h, l, c, v}} objects under 'data'")
    table = pd.DataFrame(rows).rename(columns={"dt": "open_time", "o": "open", "h": "high", "l": "low",
                                               "c": "close", "v": "volume"})
    missing = [c for c in ("open_time", "open", "high", "low", "close", "volume") if c not in table.columns]
    if missing:
        raise CandleFileError(f"{name}: JSON rows lack {', '.join(missing)}")
    out = _candle_frame(table, name=name, first_data_line=1)
    out["line"] = np.arange(1, len(out) + 1)  # JSON has no lines: number the records instead
    return out


def _candle_frame(table: pd.DataFrame, *, name: str, first_data_line: int) -> pd.DataFrame:
    table = table.reset_index(drop=True)
    out = pd.DataFrame({"open_time": _times(table["open_time"], name=name, first_data_line=first_data_line)})
    for column in ("open", "high", "low", "close", "volume"):
        out[column] = _numbers(table[column], column, name=name, first_data_line=first_data_line)
    for column in ("quote_volume", "trade_count"):
        out[column] = (_numbers(table[column], column, name=name, first_data_line=first_data_line,
                                allow_missing=True) if column in table.columns else np.nan)
    out["quote_volume_derived"] = False
    out = derive_quote_volume(out)  # base-volume-only files: quote volume = volume x typical price, flagged
    out["line"] = np.arange(first_data_line, first_data_line + len(out))
    return out


def _numbers(values: pd.Series, column: str, *, name: str, first_data_line: int,
             allow_missing: bool = False) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    bad = numbers.isna() & (values.notna() | (not allow_missing))
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        raise CandleFileError(
            f"{name}, line {first_data_line + position}: {column} is not a number ({values.iloc[position]!r})"
        )
    return numbers.reset_index(drop=True)


def _times(values: pd.Series, *, name: str, first_data_line: int) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all() and len(numeric):
        unit = epoch_unit(float(numeric.abs().max()))
        return pd.Series(pd.to_datetime(numeric.astype("int64"), unit=unit, utc=True)).dt.as_unit("ns")
    try:  # one format inferred from the first value: fast
        parsed = pd.to_datetime(values, utc=True)
    except (ValueError, TypeError):
        parsed = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
    bad = parsed.isna()
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        raise CandleFileError(
            f"{name}, line {first_data_line + position}: open time {values.iloc[position]!r} is not a timestamp"
        )
    return pd.Series(parsed).dt.as_unit("ns").reset_index(drop=True)


def drop_off_grid(frame: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """Rows whose ``open_time`` is on the ``timeframe`` grid (price snapshots taken mid-bar go)."""
    delta = timeframe_delta(timeframe)
    ns = frame["open_time"].to_numpy("datetime64[ns]").view("int64")
    return frame[ns % delta.value == 0]


# --- Importing ---------------------------------------------------------------------------------


def load_candle_table(frame: pd.DataFrame, *, name: str, symbol: str, timeframe: str, source: str) -> LoadResult:
    """``candles_upsert`` of one table, with validation errors naming ``name`` and the file line."""
    try:
        return candles_upsert(frame, symbol=symbol, timeframe=timeframe, source=source)
    except CandleValidationError as error:
        where = f", line {int(frame['line'].iloc[error.row])}" if error.row is not None else ""
        raise CandleFileError(f"{name}{where}: {error}") from None


def ohlcv_csv_import(
    *,
    paths: Iterable[str | Path],
    symbol: str,
    timeframe: str,
    source: str = "binance_csv",
    force: bool = False,
    progress: Callable[[FileImportResult], None] | None = None,
) -> CsvImportResult:
    """Load candle files for one registered symbol and timeframe: all of them or nothing.

    Every table of every file is read and checked first (format, size, symbol and timeframe named by the
    file, unless ``force``); then all are loaded in one transaction, so a bad row in the last member of the
    last file leaves the database as it was. Price-only snapshots (CoinGecko) not on the ``timeframe`` grid
    are dropped and counted in ``dropped_off_grid``.
    """
    token = get_token(symbol)
    timeframe_delta(timeframe)
    result = CsvImportResult(symbol=token.symbol, timeframe=timeframe)
    tables: list[tuple[FileImportResult, str, pd.DataFrame]] = []
    for path in paths:
        file_result = FileImportResult(path=str(path))
        result.files.append(file_result)
        for name, frame in iter_candle_tables(path):
            if not force:
                check_names_the_request(name, frame, symbol=token.symbol, timeframe=timeframe)
            if frame.attrs.get("price_only"):
                on_grid = drop_off_grid(frame, timeframe)
                file_result.dropped_off_grid += len(frame) - len(on_grid)
                frame = on_grid
            tables.append((file_result, name, frame))
    with transaction.atomic():
        for file_result, name, frame in tables:
            loaded = load_candle_table(frame, name=name, symbol=token.symbol, timeframe=timeframe, source=source)
            file_result.received += loaded.received
            file_result.inserted += loaded.inserted
            file_result.skipped += loaded.skipped
    for file_result in result.files:
        if progress is not None:
            progress(file_result)
    return result
