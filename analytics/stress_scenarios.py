"""Stress scenarios built from data (pure: pandas/numpy only, no Django): proxy candles for tokens without
candles in a window, a warm-up bridge, an exchange outage, and equity marked to USD through a quote-coin depeg.

The service (``analytics.stress_services``) loads the candles and calls these; every choice made here is
written into the result so the report can say it in words.

Proxy candles
-------------
A token of the strategy's universe with **no real candle inside the window** ``[start, end)`` at the
strategy's timeframe is *proxied* over the whole loaded span (indicator warm-up, run-in and window). Real and
synthetic bars are never spliced into one series: a token with some real candles in the window stays real
(its coverage is reported), one without any is proxy throughout. The proxy maps a reference's path by a beta::

    P(t) = A * (R(t) / R0) ** beta        for open, high, low and close alike

``R`` is the reference's price, ``R0`` its first open of the span, ``A`` the token's anchor price (its last
real close before the span, else its first real close after the window, else 1.0). For ``beta >= 0`` the map is
increasing, so every bar keeps ``high >= max(open, close)`` and ``low <= min(open, close)``, a gap of the
reference is a gap of the proxy, and the token's log returns are ``beta`` times the reference's; the same map
on 1h and 4h reference bars gives proxies that aggregate into each other (the portfolio's 1h grid).

**Reference** (:func:`choose_reference`): the candidates are the token's sector mates (``marketdata.symbols``)
with real candles on at least :data:`REFERENCE_MIN_COVERAGE` of the window's bars (candles built from finer
stored ones count), then BTC, then ETH (same condition). When the token has enough history of its own, the candidate whose fit explains its returns best
(highest R^2) is chosen; without, the first candidate (a sector mate before BTC: without evidence the
token's own sector is the better guess; DAI and FRAX follow USDC).

**Beta** (:func:`fit_beta`): OLS slope (with intercept) of the token's log returns on the reference's over their
common consecutive bars at the strategy's timeframe (a return across a gap of either series is left out):
the last :data:`ESTIMATION_DAYS` days of common bars before the span; if fewer than :data:`MIN_OVERLAP_DAYS`
days' worth exist there, the first :data:`ESTIMATION_DAYS` days after the window; bars of the strategy's locked
holdout are left out while that leaves enough (else they are used, and the result counts on the lock). The slope
is clipped to
:data:`BETA_CLIP` (a negative slope would invert the crash; the clip is reported). With fewer than
:data:`MIN_OVERLAP_DAYS` days of common bars on both sides, the fallback is the median of the betas estimated
for the strategy's other tokens on the same reference, else 1.0 (:func:`fallback_beta`).

**Volume**: the token's median volume on its estimation bars (1.0 without own history: then the volume is
the reference's relative volume itself, which only volume ratios read) times the reference's relative
volume, its volume over its median volume on the span's bars before the window.

Warm-up bridge
--------------
When a reference or regime series starts after the span begins (the 2024-08 crash: BTC/ETH 1m candles start
2024-07-26, nothing before since 2023-12), :func:`bridge_warmup` fills the bars before its first real bar with
the series' last real bars before its gap, moved onto the missing bar times and rescaled so they end at the
first real open. Usually only the indicators' warm-up is bridged; a reference whose real candles start later
(USDC in the SVB window, from 2023-03-09) has its run-in bridged too, never more than the
``1 - REFERENCE_MIN_COVERAGE`` of the window's bars its eligibility allows. Every bridge is reported.

Exchange outage
---------------
:func:`apply_outage` removes every bar that overlaps the outage, from traded and regime candles alike: no
price, no fill. The engine then lets exits wait for the first bar back and fills a stop at
``min(open, stop)`` there (``backtests.engine.run.EXECUTION_RULES``). A bar longer than the outage is removed
whole (an 8-hour outage removes two 4h bars, or the whole 1d bar).

Quote-coin depeg
----------------
The strategies trade against USDT. :func:`quote_usd_at_closes` lays a quote-coin USD path (the real USDC/USD
path through the SVB depeg, applied to the quote coin as a shape) on the strategy's bars, and
:func:`mark_to_usd` converts the whole equity (cash and positions alike) at it: the recorded quote-coin
prices of the tokens are kept, so the depeg reaches the account through the quote coin's own value only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from marketdata.symbols import TOKENS, TOKENS_BY_SYMBOL

#: The market references after the sector mates, in order of preference.
MARKET_REFERENCES: tuple[str, ...] = ("BTC", "ETH")
#: A reference must have real candles on at least this share of the window's bars.
REFERENCE_MIN_COVERAGE = 0.8
#: Days of common bars the beta is estimated on, and the fewest that count as an estimate.
ESTIMATION_DAYS = 365
MIN_OVERLAP_DAYS = 60
#: Betas outside this range are clipped (reported as clipped).
BETA_CLIP = (0.0, 3.0)
#: The beta when neither the token nor the strategy's other tokens give one.
DEFAULT_BETA = 1.0
PRICE_COLUMNS = ("open", "high", "low", "close")


# --------------------------------------------------------------------------- beta
@dataclass(frozen=True)
class BetaFit:
    """An OLS fit of a token's log returns on a reference's: ``beta`` clipped, ``raw`` as estimated."""

    beta: float
    raw: float
    r2: float
    overlap: int  # common returns used
    first: pd.Timestamp
    last: pd.Timestamp
    side: str  # "before" the span or "after" the window

    @property
    def clipped(self) -> bool:
        return self.raw != self.beta

    def to_dict(self) -> dict:
        values = asdict(self)
        values.update(first=self.first.isoformat(), last=self.last.isoformat(), clipped=self.clipped)
        return values


def log_returns(close: pd.Series, bar: pd.Timedelta) -> pd.Series:
    """Log returns between bars exactly one ``bar`` apart (a return across a gap is left out)."""
    close = close.astype("float64").dropna()
    close = close.loc[close > 0]
    step = close.index.to_series().diff()
    returns = np.log(close / close.shift(1))
    return returns.loc[step == bar].dropna()


def ols(y: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """Slope and R^2 of ``y = a + b x`` (NaN slope when ``x`` does not vary)."""
    x_centered, y_centered = x - x.mean(), y - y.mean()
    sxx = float(x_centered @ x_centered)
    if sxx <= 0:
        return float("nan"), float("nan")
    slope = float(x_centered @ y_centered) / sxx
    syy = float(y_centered @ y_centered)
    r2 = (float(x_centered @ y_centered) ** 2 / (sxx * syy)) if syy > 0 else 0.0
    return slope, r2


def bars_in(days: float, bar: pd.Timedelta) -> int:
    return max(2, int(pd.Timedelta(days=days) / bar))


def fit_beta(token_close: pd.Series, reference_close: pd.Series, bar: pd.Timedelta, *, before: pd.Timestamp,
             after: pd.Timestamp, estimation_days: float = ESTIMATION_DAYS,
             min_overlap_days: float = MIN_OVERLAP_DAYS, clip: tuple[float, float] = BETA_CLIP,
             exclude: tuple[pd.Timestamp, pd.Timestamp] | None = None) -> BetaFit | None:
    """The beta of the token on the reference (module docstring), or ``None`` with too little overlap.

    ``before``: the span's first bar (the estimate prefers common bars before it); ``after``: the window's end;
    ``exclude``: a range ``[start, end)`` whose bars are never used (a locked holdout).
    """
    common = pd.concat({"y": log_returns(token_close, bar), "x": log_returns(reference_close, bar)},
                       axis=1, join="inner").dropna()
    if exclude is not None:
        common = common.loc[(common.index < exclude[0]) | (common.index >= exclude[1])]
    wanted, minimum = bars_in(estimation_days, bar), bars_in(min_overlap_days, bar)
    for side, rows in (("before", common.loc[common.index < before].iloc[-wanted:]),
                       ("after", common.loc[common.index >= after].iloc[:wanted])):
        if len(rows) < minimum:
            continue
        raw, r2 = ols(rows["y"].to_numpy(), rows["x"].to_numpy())
        if not np.isfinite(raw):
            continue
        return BetaFit(beta=float(np.clip(raw, *clip)), raw=raw, r2=r2, overlap=len(rows), first=rows.index[0],
                       last=rows.index[-1], side=side)
    return None


def fallback_beta(others: Sequence[float]) -> tuple[float, str]:
    """(beta, how it was chosen) for a token without enough overlap (module docstring)."""
    if others:
        return float(np.median(others)), (f"the median of the betas of the strategy's other tokens on the same "
                                          f"reference ({len(others)})")
    return DEFAULT_BETA, f"the default {DEFAULT_BETA:.1f}, as no other token of the strategy has a beta on it"


# --------------------------------------------------------------------------- reference
def sector_mates(symbol: str) -> list[str]:
    """The other tokens of ``symbol``'s sector, in registry order (none for an unknown symbol)."""
    token = TOKENS_BY_SYMBOL.get(symbol)
    if token is None:
        return []
    return [t.symbol for t in TOKENS if t.sector == token.sector and t.symbol != symbol]


def reference_candidates(symbol: str, eligible: Mapping[str, bool]) -> list[str]:
    """The references ``symbol`` may be proxied by: eligible sector mates, then BTC, then ETH."""
    ordered = [*sector_mates(symbol), *(s for s in MARKET_REFERENCES if s != symbol)]
    seen: list[str] = []
    for candidate in ordered:
        if eligible.get(candidate) and candidate not in seen:
            seen.append(candidate)
    return seen


def choose_reference(candidates: Sequence[str], fits: Mapping[str, BetaFit | None]) -> tuple[str, str]:
    """(reference, why): the best-fitting candidate (highest R^2) among those with a fit, else the first."""
    fitted = [(fits[c].r2, -i, c) for i, c in enumerate(candidates) if fits.get(c) is not None]  # type: ignore[union-attr]
    if fitted:
        best = max(fitted)[2]
        return best, "best fit (highest R^2) of the token's own history among " + ", ".join(candidates)
    return candidates[0], ("first candidate (no own history to compare fits): sector mates with data before BTC "
                           "and ETH")


def window_coverage(frame: pd.DataFrame | None, start: pd.Timestamp, end: pd.Timestamp, bar: pd.Timedelta) -> float:
    """Share of the window's bars ``[start, end)`` on which ``frame`` has a candle."""
    expected = max(1, int((end - start) / bar))
    if frame is None or frame.empty:
        return 0.0
    inside = int(((frame.index >= start) & (frame.index < end)).sum())
    return min(1.0, inside / expected)


# --------------------------------------------------------------------------- proxy candles
@dataclass(frozen=True)
class ProxySpec:
    """How one token's proxy candles are made: ``P = anchor * (R / reference_base) ** beta``."""

    symbol: str
    reference: str
    beta: float
    fit: BetaFit | None
    beta_source: str  # "estimated" or the fallback rule in words
    reference_reason: str
    anchor: float
    anchor_source: str
    reference_base: float
    volume_base: float
    reference_volume_base: float

    def to_dict(self) -> dict:
        return {"symbol": self.symbol, "reference": self.reference, "beta": self.beta,
                "fit": self.fit.to_dict() if self.fit else None, "beta_source": self.beta_source,
                "reference_reason": self.reference_reason, "anchor": self.anchor, "anchor_source": self.anchor_source,
                "overlap": self.fit.overlap if self.fit else 0}


def anchor_price(history: pd.DataFrame | None, span_start: pd.Timestamp, window_end: pd.Timestamp) -> tuple[float, str]:
    """(the token's price level for its proxy, where it came from)."""
    if history is not None and not history.empty:
        earlier = history.loc[history.index < span_start, "close"].dropna()
        if len(earlier):
            return float(earlier.iloc[-1]), f"its last real close before the span ({earlier.index[-1]:%Y-%m-%d})"
        later = history.loc[history.index >= window_end, "close"].dropna()
        if len(later):
            return float(later.iloc[0]), f"its first real close after the window ({later.index[0]:%Y-%m-%d})"
    return 1.0, "no real price of its own: indexed at 1.0"


def proxy_spec(symbol: str, *, reference: str, reference_reason: str, reference_span: pd.DataFrame,
               window_start: pd.Timestamp, window_end: pd.Timestamp, fit: BetaFit | None,
               fallback: tuple[float, str], history: pd.DataFrame | None) -> ProxySpec:
    """The :class:`ProxySpec` of ``symbol`` on ``reference_span`` (the reference's candles over the span)."""
    beta, source = (fit.beta, "estimated") if fit is not None else fallback
    anchor, anchor_source = anchor_price(history, reference_span.index[0], window_end)
    before = reference_span.loc[reference_span.index < window_start, "volume"].dropna()
    reference_volume = float(before.median()) if len(before) else float(reference_span["volume"].median())
    own_volume = 1.0
    if history is not None and fit is not None:
        estimation = history.loc[(history.index >= fit.first) & (history.index <= fit.last), "volume"].dropna()
        if len(estimation) and float(estimation.median()) > 0:
            own_volume = float(estimation.median())
    return ProxySpec(symbol=symbol, reference=reference, beta=float(beta), fit=fit, beta_source=source,
                     reference_reason=reference_reason, anchor=anchor, anchor_source=anchor_source,
                     reference_base=float(reference_span["open"].iloc[0]), volume_base=own_volume,
                     reference_volume_base=reference_volume if reference_volume > 0 else 1.0)


def proxy_candles(reference: pd.DataFrame, spec: ProxySpec) -> pd.DataFrame:
    """The token's synthetic OHLCV on the reference's bars (module docstring); bar-consistent by construction."""
    scale = {column: spec.anchor * (reference[column].astype("float64") / spec.reference_base) ** spec.beta
             for column in PRICE_COLUMNS}
    frame = pd.DataFrame(scale, index=reference.index)
    # float rounding of the power map must not break the bar's order
    frame["high"] = frame[list(PRICE_COLUMNS)].max(axis=1)
    frame["low"] = frame[list(PRICE_COLUMNS)].min(axis=1)
    relative = reference["volume"].astype("float64") / spec.reference_volume_base
    frame["volume"] = (spec.volume_base * relative).clip(lower=0.0)
    frame["quote_volume"] = frame["volume"] * frame["close"]
    frame["trade_count"] = np.nan
    frame.index.name = reference.index.name
    return frame


# --------------------------------------------------------------------------- warm-up bridge
def bridge_warmup(frame: pd.DataFrame, earlier: pd.DataFrame, begin: pd.Timestamp,
                  bar: pd.Timedelta) -> tuple[pd.DataFrame, dict | None]:
    """``frame`` with the bars missing between ``begin`` and its first bar filled from ``earlier`` (module
    docstring); returns the frame and what was bridged (``None`` when nothing had to be)."""
    if frame.empty or frame.index[0] <= begin:
        return frame, None
    missing = pd.date_range(begin, frame.index[0] - bar, freq=bar)
    source = earlier.loc[earlier.index < frame.index[0]].dropna(subset=["close"]).iloc[-len(missing):]
    if source.empty:
        return frame, {"bars": 0, "missing": len(missing), "from": None, "to": None}
    times = missing[-len(source):]
    factor = float(frame["open"].iloc[0]) / float(source["close"].iloc[-1])
    moved = source.copy()
    for column in PRICE_COLUMNS:
        moved[column] = moved[column].astype("float64") * factor
    moved.index = times.rename(frame.index.name)
    bridged = pd.concat([moved[frame.columns], frame])
    return bridged, {"bars": len(source), "missing": len(missing), "from": source.index[0].isoformat(),
                     "to": source.index[-1].isoformat(), "placed_from": times[0].isoformat(),
                     "placed_to": times[-1].isoformat(), "first_real": frame.index[0].isoformat(), "scale": factor}


# --------------------------------------------------------------------------- outage
def outage_mask(index: pd.DatetimeIndex, bar: pd.Timedelta, start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    """True for the bars ``[t, t + bar)`` that overlap the outage ``[start, end)``."""
    return np.asarray((index < end) & (index + bar > start))


def apply_outage(frames: Mapping[str, pd.DataFrame], bar: pd.Timedelta, start: pd.Timestamp,
                 end: pd.Timestamp) -> tuple[dict[str, pd.DataFrame], int]:
    """The frames without the bars overlapping the outage, and how many bars one symbol lost at most."""
    out, removed = {}, 0
    for symbol, frame in frames.items():
        mask = outage_mask(frame.index, bar, start, end)
        removed = max(removed, int(mask.sum()))
        out[symbol] = frame.loc[~mask]
    return out, removed


# --------------------------------------------------------------------------- quote-coin depeg
def quote_usd_at_closes(usd_close: pd.Series, index: pd.DatetimeIndex, bar: pd.Timedelta) -> pd.Series:
    """The quote coin's USD price at each bar's close: the path's last close at or before ``t + bar``; 1.0
    before the path starts, its last close after it ends."""
    path = usd_close.astype("float64").dropna().sort_index()
    closes_at = pd.Series(path.to_numpy(), index=path.index + _step(path.index))
    at_close = closes_at.reindex(index + bar, method="ffill")
    return pd.Series(at_close.fillna(1.0).to_numpy(), index=index)


def _step(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The path's bar length (its most common spacing): a close is known at its bar's end."""
    if len(index) < 2:
        return pd.Timedelta(0)
    return pd.Series(index).diff().mode().iloc[0]


def mark_to_usd(equity: pd.Series, quote_usd: pd.Series) -> pd.Series:
    """Equity in the quote coin converted to USD at the quote coin's price on each bar."""
    return equity * quote_usd.reindex(equity.index).fillna(1.0)
