"""DefiLlama (free API): protocol TVL, fees, revenue, DEX/derivatives/options volume, stablecoin supply.

Endpoints (shapes from DefiLlama's official OpenAPI description of the free API):

- ``GET {base}/protocol/{slug}``: ``tvl: [{date, totalLiquidityUSD}]`` (and per chain in ``chainTvls``).
- ``GET {base}/v2/historicalChainTvl/{chain}``: ``[{date, tvl}]`` (Arbitrum/Optimism are chains).
- ``GET {base}/summary/fees/{slug}?dataType=dailyFees|dailyRevenue``: ``totalDataChart: [[ts, value]]``.
- ``GET {base}/summary/{dexs|derivatives|options}/{slug}``: ``totalDataChart: [[ts, value]]``.
- ``GET {stablecoins_base}/stablecoin/{id}``: ``totalCirculating: [{date, totalCirculating}]`` (documented),
  or ``tokens: [{date, circulating: {peggedUSD}}]`` (what the live API also returns).

Timestamps are Unix seconds; a value is stored on the UTC date of its timestamp (the last point of a day
wins, so today's intraday TVL snapshot replaces nothing older). A 404 for one metric means DefiLlama has no
such series for that protocol: the metric is reported missing and the others are kept.

The slugs and stablecoin ids in :data:`PROTOCOLS` were taken from DefiLlama's public listings; they
cannot be re-checked offline, so a renamed slug shows up as a reported missing metric, not a crash.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
import requests

from marketdata.sources.base import HTTPSource, MalformedPayloadError, RateLimiter, SourceError
from marketdata.symbols import TOKENS_BY_SYMBOL

METRICS: tuple[str, ...] = ("tvl", "volume", "fees", "revenue", "supply")
#: Per-chain keys of ``chainTvls`` that are not plain TVL (DefiLlama's own convention).
_NON_TVL_KEYS = {"staking", "pool2", "borrowed", "vesting", "offers", "treasury", "doublecounted"}


@dataclass(frozen=True)
class ProtocolSpec:
    """Where each metric of one protocol lives on DefiLlama (``None``: not tracked)."""

    key: str  # stored as OnchainMetric.protocol
    tvl_slug: str | None = None
    chain: str | None = None  # TVL of a whole chain instead of a protocol
    fees_slug: str | None = None
    volume: tuple[str, str] | None = None  # ("dexs" | "derivatives" | "options", slug)
    stablecoin_id: str | None = None


PROTOCOLS: dict[str, ProtocolSpec] = {spec.key: spec for spec in (
    ProtocolSpec("synthetix", "synthetix", fees_slug="synthetix", volume=("derivatives", "synthetix")),
    ProtocolSpec("perpetual-protocol", "perpetual-protocol", fees_slug="perpetual-protocol",
                 volume=("derivatives", "perpetual-protocol")),
    ProtocolSpec("gmx", "gmx", fees_slug="gmx", volume=("derivatives", "gmx")),
    ProtocolSpec("lyra", "lyra", fees_slug="lyra", volume=("options", "lyra")),
    ProtocolSpec("gains-network", "gains-network", fees_slug="gains-network",
                 volume=("derivatives", "gains-network")),
    ProtocolSpec("curve-dex", "curve-dex", fees_slug="curve-dex", volume=("dexs", "curve-dex")),
    ProtocolSpec("convex-finance", "convex-finance", fees_slug="convex-finance"),
    ProtocolSpec("frax", "frax", fees_slug="frax", stablecoin_id="6"),
    ProtocolSpec("arbitrum", chain="Arbitrum", fees_slug="arbitrum"),
    ProtocolSpec("optimism", chain="Optimism", fees_slug="optimism"),
    ProtocolSpec("aave", "aave", fees_slug="aave"),
    ProtocolSpec("compound-finance", "compound-finance", fees_slug="compound-finance"),
    ProtocolSpec("makerdao", "makerdao", fees_slug="makerdao"),
    ProtocolSpec("usd-coin", stablecoin_id="2"),
    ProtocolSpec("dai", stablecoin_id="5"),
)}


def resolve_protocols(names: list[str] | None) -> list[ProtocolSpec]:
    """Protocol keys or token symbols -> specs (all of :data:`PROTOCOLS` when ``names`` is empty)."""
    if not names:
        return list(PROTOCOLS.values())
    specs: list[ProtocolSpec] = []
    for name in names:
        spec = PROTOCOLS.get(name.strip().lower())
        token = TOKENS_BY_SYMBOL.get(name.strip().upper())
        if spec is None and token is not None and token.defillama_slug:
            spec = PROTOCOLS.get(token.defillama_slug)
        if spec is None:
            raise ValueError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)} or a token symbol")
        if spec not in specs:
            specs.append(spec)
    return specs


class DefiLlamaSource(HTTPSource):
    name = "defillama"

    def __init__(
        self,
        base_url: str = "https://api.llama.fi",
        stablecoins_base_url: str = "https://stablecoins.llama.fi",
        *,
        calls_per_minute: int = 120,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_base: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        session: requests.Session | None = None,
        **http_options: Any,
    ) -> None:
        super().__init__(
            base_url, timeout=timeout, max_retries=max_retries, backoff_base=backoff_base,
            rate_limiter=RateLimiter(calls_per_minute, 60.0, clock=clock, sleep=sleep), sleep=sleep,
            session=session, **http_options,
        )
        self.stablecoins_base_url = stablecoins_base_url.rstrip("/")

    # One series per call: a pd.Series of float indexed by UTC date.
    def tvl(self, slug: str) -> pd.Series:
        return parse_protocol_tvl(self.get_json(f"/protocol/{slug}"), slug)

    def chain_tvl(self, chain: str) -> pd.Series:
        payload = self.get_json(f"/v2/historicalChainTvl/{chain}")
        return parse_records(payload, "tvl", f"historicalChainTvl/{chain}")

    def fees(self, slug: str, data_type: str = "dailyFees") -> pd.Series:
        payload = self.get_json(f"/summary/fees/{slug}", {"dataType": data_type})
        return parse_total_data_chart(payload, f"summary/fees/{slug}?dataType={data_type}")

    def volume(self, kind: str, slug: str) -> pd.Series:
        if kind not in {"dexs", "derivatives", "options"}:
            raise ValueError(f"unknown volume kind {kind!r}")
        params = {"excludeTotalDataChartBreakdown": "true"}
        if kind == "options":
            params["dataType"] = "dailyNotionalVolume"
        return parse_total_data_chart(self.get_json(f"/summary/{kind}/{slug}", params), f"summary/{kind}/{slug}")

    def stablecoin_supply(self, stablecoin_id: str) -> pd.Series:
        payload = self.get_json(f"{self.stablecoins_base_url}/stablecoin/{stablecoin_id}")
        return parse_stablecoin_supply(payload, stablecoin_id)

    def protocol_metrics(
        self, spec: ProtocolSpec, start: date | None = None, end: date | None = None
    ) -> tuple[pd.DataFrame, list[str]]:
        """All tracked metrics of ``spec`` as one frame (index: date, columns: :data:`METRICS`) and the
        metrics DefiLlama has no series for (HTTP 404). Malformed payloads raise."""
        fetchers: dict[str, Callable[[], pd.Series]] = {}
        if spec.tvl_slug:
            fetchers["tvl"] = lambda: self.tvl(spec.tvl_slug)
        elif spec.chain:
            fetchers["tvl"] = lambda: self.chain_tvl(spec.chain)
        if spec.fees_slug:
            fetchers["fees"] = lambda: self.fees(spec.fees_slug, "dailyFees")
            fetchers["revenue"] = lambda: self.fees(spec.fees_slug, "dailyRevenue")
        if spec.volume:
            fetchers["volume"] = lambda: self.volume(*spec.volume)
        if spec.stablecoin_id:
            fetchers["supply"] = lambda: self.stablecoin_supply(spec.stablecoin_id)
        series: dict[str, pd.Series] = {}
        missing: list[str] = []
        for metric, fetch in fetchers.items():
            try:
                series[metric] = fetch()
            except SourceError as exc:
                if exc.status != 404:
                    raise
                missing.append(metric)
        frame = pd.DataFrame(series, columns=list(METRICS)).sort_index()
        if start is not None:
            frame = frame[frame.index >= start]
        if end is not None:
            frame = frame[frame.index <= end]
        return frame, missing


def _daily(points: list[tuple[Any, Any]], what: str) -> pd.Series:
    """``[(unix seconds, value)]`` -> float Series by UTC date (last point of a day wins)."""
    if not points:
        return pd.Series(dtype=float)
    try:
        stamps = pd.to_datetime([float(ts) for ts, _ in points], unit="s", utc=True)
        values = [float(value) if value is not None else float("nan") for _, value in points]
    except (TypeError, ValueError) as exc:
        raise MalformedPayloadError(f"defillama {what}: a date or value is not a number: {exc}") from exc
    series = pd.Series(values, index=stamps).sort_index()
    series = series.groupby(series.index.date).last()
    series.index = pd.Index(series.index, name="date")
    return series


def parse_records(payload: Any, value_key: str, what: str) -> pd.Series:
    if not isinstance(payload, list) or any(
        not isinstance(item, dict) or "date" not in item or value_key not in item for item in payload
    ):
        raise MalformedPayloadError(f"defillama {what}: expected an array of {{date, {value_key}}} objects")
    return _daily([(item["date"], item[value_key]) for item in payload], what)


def parse_protocol_tvl(payload: Any, slug: str) -> pd.Series:
    """Total TVL by day: the top-level ``tvl`` array when present, else the sum of the plain chains of
    ``chainTvls`` (keys such as ``Ethereum-staking`` or ``borrowed`` are not TVL and are skipped)."""
    what = f"protocol/{slug}"
    if not isinstance(payload, dict):
        raise MalformedPayloadError(f"defillama {what}: expected an object")
    if isinstance(payload.get("tvl"), list):
        return parse_records(payload["tvl"], "totalLiquidityUSD", what)
    chains = payload.get("chainTvls")
    if not isinstance(chains, dict):
        raise MalformedPayloadError(f"defillama {what}: neither 'tvl' nor 'chainTvls' present")
    parts = [
        parse_records(body.get("tvl") if isinstance(body, dict) else None, "totalLiquidityUSD", f"{what} {chain}")
        for chain, body in chains.items()
        if "-" not in chain and chain.lower() not in _NON_TVL_KEYS
    ]
    if not parts:
        return pd.Series(dtype=float)
    return pd.concat(parts, axis=1).sum(axis=1, min_count=1)


def parse_total_data_chart(payload: Any, what: str) -> pd.Series:
    chart = payload.get("totalDataChart") if isinstance(payload, dict) else None
    if not isinstance(chart, list) or any(not isinstance(point, list) or len(point) != 2 for point in chart):
        raise MalformedPayloadError(f"defillama {what}: expected 'totalDataChart' as [[timestamp, value], ...]")
    return _daily([(ts, value) for ts, value in chart], what)


def parse_stablecoin_supply(payload: Any, stablecoin_id: str) -> pd.Series:
    """Circulating supply (USD-pegged units) by day, from the documented or the live shape."""
    what = f"stablecoin/{stablecoin_id}"
    if not isinstance(payload, dict):
        raise MalformedPayloadError(f"defillama {what}: expected an object")
    if isinstance(payload.get("totalCirculating"), list):
        records, key = payload["totalCirculating"], "totalCirculating"
    elif isinstance(payload.get("tokens"), list):
        records, key = payload["tokens"], "circulating"
    else:
        raise MalformedPayloadError(f"defillama {what}: neither 'totalCirculating' nor 'tokens' present")
    points = []
    for index, item in enumerate(records):
        value = item.get(key) if isinstance(item, dict) else None
        if isinstance(value, dict):  # {"peggedUSD": n}
            value = next(iter(value.values()), None)
        if not isinstance(item, dict) or "date" not in item or not isinstance(value, int | float):
            raise MalformedPayloadError(f"defillama {what}: record {index} has no date or numeric {key}")
        points.append((item["date"], value))
    return _daily(points, what)


def from_settings(**kwargs: Any) -> DefiLlamaSource:
    from django.conf import settings

    kwargs.setdefault("stablecoins_base_url",
                      getattr(settings, "DEFILLAMA_STABLECOINS_BASE_URL", "https://stablecoins.llama.fi"))
    return DefiLlamaSource(kwargs.pop("base_url", settings.DEFILLAMA_BASE_URL), **kwargs)
