"""The bundled real fundamentals and sentiment (``marketdata/sample_data/onchain``, ``.../sentiment``; see
``sample_data/PROVENANCE.md``) read into the shapes of the write services, and their loader.

Each row is stored under the vendor it came from (``OnchainMetric.source`` / ``SentimentIndex.source``):

=====================================  ==========================  ===========================================
file                                   vendor                      stored as
=====================================  ==========================  ===========================================
DefiLlama chain TVL (wide CSV)         DefiLlama                   ``arbitrum``, ``optimism``: ``tvl``
DefiLlama stablecoin supply (wide)     DefiLlama                   ``usd-coin``, ``dai``, ``frax``: ``supply``
Token Terminal lending exports         Token Terminal              ``aave``, ``compound-finance``, ``makerdao``:
                                                                   ``fees``, ``revenue``, ``tvl``, ``borrowed``,
                                                                   ``market_cap``
Aave v2/v3 Ethereum reserves, hourly   Aave subgraph               ``usd-coin``, ``dai``: ``supply_apy``,
                                                                   ``borrow_apy``, ``borrowed``
Fear & Greed (alternative.me /fng/)    alternative.me              ``SentimentIndex`` ``fear_greed``
=====================================  ==========================  ===========================================

Adjustments (each counted in the loader's result):

- The stablecoin chart's last day is an intraday snapshot: dropped.
- Token Terminal's circulating market cap is 0 before a token's supply was tracked (28 MKR days): stored
  as missing, not as a zero valuation. MakerDAO's second TVL column is gross merchandise value, not
  borrows: not loaded.
- Aave: the hourly APRs (percent, per-second compounding on chain) become a daily lenders' and borrowers'
  APY, ``exp(APR) - 1``, as the supplied-USD-weighted mean over the day's live hours of the v2 and v3
  markets; hours before a market went live (zero supplied) are skipped; a day with fewer than
  :data:`MIN_HOURS_PER_DAY` live hours (the partial last day) is dropped.

Point in time: all of these are daily values and are joined onto bars by ``marketdata.pointintime``
(visible after the day ends plus the publication lag), whatever vendor they came from.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.parallel import parallel_imap
from marketdata.models import Source
from marketdata.onchain_services import onchain_upsert, sentiment_upsert
from marketdata.sources.alternative_me import INDEX_NAME as FEAR_GREED
from marketdata.symbols import TOKENS_BY_SYMBOL

DATA_DIR = Path(__file__).resolve().parent / "sample_data"
MIN_HOURS_PER_DAY = 20

CHAIN_TVL_FILE = "onchain/defillama_chain_tvl/chain_tvl_historical_wide_2020-01-01_2025-08-02.csv"
STABLECOIN_FILE = ("onchain/defillama_stablecoin_supply/"
                   "defillama_stablecoins_area_chart_all_2017-11-29_2025-08-03.csv.gz")
TOKEN_TERMINAL_DIR = "onchain/tokenterminal_lending"
AAVE_DIR = "onchain/aave_reserves_hourly"
FEAR_GREED_FILE = "sentiment/fear_greed_index/alternative_me_fng_2018-02-01_2025-12-03.json"

def _protocol(symbol: str) -> str:
    """The stored protocol key of a token: its DefiLlama slug, which is what the strategies' loader reads."""
    slug = TOKENS_BY_SYMBOL[symbol].defillama_slug
    if slug is None:
        raise ValueError(f"{symbol} has no protocol slug in marketdata.symbols")
    return slug


#: chain column of the TVL file -> stored protocol key
CHAINS = {"arbitrum": _protocol("ARB"), "optimism": _protocol("OP")}
#: stablecoin column -> stored protocol key
STABLECOINS = {symbol: _protocol(symbol) for symbol in ("USDC", "DAI", "FRAX")}
#: Token Terminal file prefix -> stored protocol key
TOKEN_TERMINAL = {"aave": _protocol("AAVE"), "compound": _protocol("COMP"), "makerdao": _protocol("MKR")}
#: Aave reserve asset -> stored protocol key
AAVE_RESERVES = {"usdc": _protocol("USDC"), "dai": _protocol("DAI")}


@dataclass(frozen=True)
class FundamentalsFile:
    """One bundled group of files, read into ``{protocol: frame}`` (or the sentiment frame)."""

    name: str
    vendor: str
    reader: Callable[[], tuple[dict[str, pd.DataFrame], int]]  # frames and dropped-row count
    sentiment: bool = False


def _path(relative: str) -> Path:
    return DATA_DIR / relative


def read_chain_tvl() -> tuple[dict[str, pd.DataFrame], int]:
    wide = pd.read_csv(_path(CHAIN_TVL_FILE), parse_dates=["date"]).set_index("date")
    return {key: wide[[column]].rename(columns={column: "tvl"}).dropna() for column, key in CHAINS.items()}, 0


def read_stablecoin_supply() -> tuple[dict[str, pd.DataFrame], int]:
    wide = pd.read_csv(_path(STABLECOIN_FILE), usecols=["Date", *STABLECOINS], parse_dates=["Date"])
    wide = wide.set_index("Date").sort_index().iloc[:-1]  # the last day is an intraday snapshot
    return ({key: wide[[column]].rename(columns={column: "supply"}).dropna() for column, key in STABLECOINS.items()},
            len(STABLECOINS))


def _token_terminal(prefix: str, kind: str) -> pd.DataFrame:
    frame = pd.read_csv(_path(f"{TOKEN_TERMINAL_DIR}/{prefix}_{kind}.csv"), parse_dates=["Date"])
    return frame.set_index("Date").sort_index().astype("float64")


def read_token_terminal() -> tuple[dict[str, pd.DataFrame], int]:
    frames, dropped = {}, 0
    for prefix, key in TOKEN_TERMINAL.items():
        earnings = _token_terminal(prefix, "fee-revenue")
        earnings.columns = ["fees", "revenue"]
        caps = _token_terminal(prefix, "market-cap")
        market_cap = caps.iloc[:, 1]  # circulating
        dropped += int((market_cap <= 0).sum())
        locked = _token_terminal(prefix, "tvl-borrow")
        parts = {"fees": earnings["fees"], "revenue": earnings["revenue"], "tvl": locked.iloc[:, 0],
                 "market_cap": market_cap.where(market_cap > 0)}
        if prefix != "makerdao":  # MakerDAO's second column is gross merchandise value, not borrows
            parts["borrowed"] = locked.iloc[:, 1]
        frames[key] = pd.DataFrame(parts).sort_index()
    return frames, dropped


def _aave_hourly(relative: str) -> pd.DataFrame:
    raw = gzip.decompress(_path(relative).read_bytes())
    frame = pd.read_parquet(io.BytesIO(raw), columns=["supplied_USD", "borrowed_USD", "lender_variable_apr",
                                                      "borrower_variable_apr"])
    return frame[frame["supplied_USD"] > 0].dropna(subset=["lender_variable_apr"])


def read_aave_reserves() -> tuple[dict[str, pd.DataFrame], int]:
    frames, dropped = {}, 0
    for asset, key in AAVE_RESERVES.items():
        hourly = pd.concat([_aave_hourly(f"{AAVE_DIR}/aave_{version}_{asset}_eth.parquet.gz")
                            for version in ("v2", "v3")])
        day = hourly.index.floor("D")
        weight = hourly["supplied_USD"]
        grouped = pd.DataFrame({
            "lend": hourly["lender_variable_apr"] * weight, "borrow": hourly["borrower_variable_apr"] * weight,
            "weight": weight, "borrowed": hourly["borrowed_USD"],
        }).groupby(day).sum()
        hours = pd.Series(hourly.index.unique()).dt.floor("D").value_counts().reindex(grouped.index)
        complete = hours >= MIN_HOURS_PER_DAY  # distinct live hours of either market
        dropped += int((~complete).sum())
        grouped, hours_per_day = grouped[complete], hours[complete]
        frames[key] = pd.DataFrame({
            "supply_apy": np.expm1(grouped["lend"] / grouped["weight"] / 100.0),
            "borrow_apy": np.expm1(grouped["borrow"] / grouped["weight"] / 100.0),
            "borrowed": grouped["borrowed"] / hours_per_day,  # mean outstanding borrows over the day
        })
    return frames, dropped


def read_fear_greed() -> tuple[dict[str, pd.DataFrame], int]:
    points = json.loads(_path(FEAR_GREED_FILE).read_text())
    frame = pd.DataFrame({"date": pd.to_datetime([p["date"] for p in points]).date,
                          "value": [float(p["fear_greed_value"]) for p in points],
                          "classification": [p["fear_greed_class"] for p in points]})
    return {FEAR_GREED: frame.sort_values("date").reset_index(drop=True)}, 0


FUNDAMENTALS_FILES: tuple[FundamentalsFile, ...] = (
    FundamentalsFile(CHAIN_TVL_FILE, Source.DEFILLAMA, read_chain_tvl),
    FundamentalsFile(STABLECOIN_FILE, Source.DEFILLAMA, read_stablecoin_supply),
    FundamentalsFile(TOKEN_TERMINAL_DIR, Source.TOKEN_TERMINAL, read_token_terminal),
    FundamentalsFile(AAVE_DIR, Source.AAVE_SUBGRAPH, read_aave_reserves),
    FundamentalsFile(FEAR_GREED_FILE, Source.ALTERNATIVE_ME, read_fear_greed, sentiment=True),
)


def _read_fundamentals_file(bundled: FundamentalsFile) -> tuple[dict[str, pd.DataFrame], int]:
    return bundled.reader()


def fundamentals_load(progress: Callable[[dict], None] | None = None) -> dict:
    """Upsert every bundled fundamentals file (idempotent: a re-run creates and updates nothing).

    Returns ``{"files": [{"file", "vendor", "series": {key: rows}, "created", "updated", "unchanged",
    "dropped"}], "created", "updated", "unchanged"}``. Each series is written in its own transaction.
    """
    entries = []
    # The next files are read in another process while this one writes (as sample_load does with candles)
    read = parallel_imap(_read_fundamentals_file, FUNDAMENTALS_FILES)
    for bundled, (frames, dropped) in zip(FUNDAMENTALS_FILES, read, strict=True):
        entry = {"file": bundled.name, "vendor": str(bundled.vendor), "series": {}, "created": 0, "updated": 0,
                 "unchanged": 0, "dropped": dropped}
        for key, frame in frames.items():
            counts = (sentiment_upsert(key, frame, bundled.vendor) if bundled.sentiment
                      else onchain_upsert(key, frame, bundled.vendor))
            entry["series"][key] = len(frame)
            for name in ("created", "updated", "unchanged"):
                entry[name] += counts[name]
        entries.append(entry)
        if progress is not None:
            progress(entry)
    return {"files": entries, **{key: sum(e[key] for e in entries) for key in ("created", "updated", "unchanged")}}
