"""Stress tests: a strategy, or the candidates together, through each stress window and its scenarios.

Each window is replayed on real candles where the strategy's tokens have them and on proxy candles where they
have none (the rules: ``analytics.stress_scenarios``); the default windows and scenarios (an exchange outage,
a quote-coin depeg) are in ``analytics.stress_events``. This module loads the data and calls the pure modules;
every result carries its basis (``"real"`` or ``"proxy"``), what the proxy was built from, and its window in
words (``analytics.stress.window_summary``).

The strategy trades from the run-in start (``StressEvent.warmup_days`` before the window; its indicators warm
up before that), so it meets the window as it would have; the window's figures start from its equity on the
last bar before the window, and a position still open at its end is marked to its last close (not sold). A
window, or the data a proxy's beta was estimated on, that overlaps the
strategy's locked holdout is counted on the lock (``analytics.holdout``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
from django.db import transaction

from analytics import holdout
from analytics.models import StressEvent
from analytics.stress import stress_window_report, window_activity, window_summary
from analytics.stress_events import DEFAULT_OUTAGE_HOURS, STRESS_SCENARIOS
from analytics.stress_scenarios import (
    REFERENCE_MIN_COVERAGE,
    ProxySpec,
    apply_outage,
    bridge_warmup,
    choose_reference,
    fallback_beta,
    fit_beta,
    mark_to_usd,
    proxy_candles,
    proxy_spec,
    quote_usd_at_closes,
    reference_candidates,
    window_coverage,
)
from backtests.data import candles_for, daily_rows_cached, fundamentals_for
from backtests.engine import EngineConfig
from backtests.evaluation import evaluate_window
from backtests.portfolio import PortfolioMember, portfolio_backtest
from backtests.services import engine_config
from backtests.warm import ensure_compiled
from core.jsonsafe import json_safe
from core.parallel import parallel_map
from core.timeutil import utc_timestamp
from marketdata.models import Candle
from marketdata.selectors import candles_df, candles_resampled
from marketdata.timeframes import timeframe_delta
from strategies.base import BaseStrategy, MarketData
from strategies.registry import get_strategy, validated_parameters

logger = logging.getLogger(__name__)

#: The portfolio's common grid (as ``analytics.services.candidates_portfolio``).
PORTFOLIO_GRID = "1h"
#: Points kept per equity curve for the charts.
MAX_POINTS = 400


# --------------------------------------------------------------------------- windows
@dataclass(frozen=True)
class StressWindow:
    """One replay: an event window, plainly (``kind="replay"``) or with a scenario on it."""

    slug: str
    event: str
    name: str
    start: pd.Timestamp
    end: pd.Timestamp
    run_in_days: int
    kind: str = "replay"
    outage_start: pd.Timestamp | None = None
    outage_hours: float | None = None
    quote_symbol: str | None = None
    quote_timeframe: str | None = None
    quote_path: str | None = None

    @property
    def begin(self) -> pd.Timestamp:
        """The run-in start: the strategy may trade from here."""
        return self.start - pd.Timedelta(days=self.run_in_days)

    @property
    def outage_end(self) -> pd.Timestamp | None:
        if self.outage_start is None or self.outage_hours is None:
            return None
        return self.outage_start + pd.Timedelta(hours=self.outage_hours)

    def base(self) -> dict:
        return {"event": self.event, "slug": self.slug, "scenario": self.kind, "name": self.name,
                "start": self.start.isoformat(), "end": self.end.isoformat(), "run_in_start": self.begin.isoformat()}


def stress_windows(events: Sequence[StressEvent], *, scenarios: bool = True,
                   outage_hours: float | None = None) -> list[StressWindow]:
    """The events' windows, each followed by the scenarios defined on it (``outage_hours`` overrides the
    outage's default, :data:`~analytics.stress_events.DEFAULT_OUTAGE_HOURS`)."""
    windows = []
    for event in events:
        plain = StressWindow(slug=event.slug, event=event.slug, name=event.name, start=utc_timestamp(event.start),
                             end=utc_timestamp(event.end), run_in_days=int(event.warmup_days))
        windows.append(plain)
        for scenario in STRESS_SCENARIOS if scenarios else []:
            if scenario["event"] != event.slug:
                continue
            hours = outage_hours if outage_hours is not None else scenario.get("outage_hours", DEFAULT_OUTAGE_HOURS)
            windows.append(replace(
                plain, slug=scenario["slug"], kind=scenario["kind"], name=scenario["name"],
                outage_start=utc_timestamp(scenario["outage_start"]) if scenario.get("outage_start") else None,
                outage_hours=float(hours) if scenario["kind"] == "outage" else None,
                quote_symbol=scenario.get("quote_symbol"), quote_timeframe=scenario.get("quote_timeframe"),
                quote_path=scenario.get("quote_path")))
    return windows


# --------------------------------------------------------------------------- candles
#: Stored timeframes finer than the strategy's that complete its candles where none are stored (the 2024-08 crash
#: has BTC/ETH at 1m only; the SVB depeg has USDC at 15m from 2023-03-09, Binance's USDCUSDT only from 03-11 14:00).
FINER_TIMEFRAMES = ("1m", "15m")


class CandleSource:
    """Every candle of one timeframe a stress run reads, loaded once per symbol: the stored ones (or built from
    1h, ``backtests.data.candles_for``), completed by candles built from stored finer ones
    (:data:`FINER_TIMEFRAMES`, complete buckets only) on the bars that have none."""

    def __init__(self, timeframe: str) -> None:
        self.timeframe = timeframe
        self.bar = timeframe_delta(timeframe)
        self._frames: dict[str, pd.DataFrame] = {}
        #: symbol -> (finer timeframe, first, last, count) of the candles built from finer ones (said in the notes
        #: of a window they reach)
        self.built: dict[str, tuple[str, pd.Timestamp, pd.Timestamp, int]] = {}

    def history(self, symbol: str) -> pd.DataFrame:
        if symbol not in self._frames:
            self._frames[symbol] = self._load(symbol)
        return self._frames[symbol]

    def span(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        frame = self.history(symbol)
        return frame.loc[(frame.index >= start) & (frame.index < end)]

    def _load(self, symbol: str) -> pd.DataFrame:
        frame = candles_for(symbol, self.timeframe, None, None, [])
        for finer in FINER_TIMEFRAMES:
            if timeframe_delta(finer) >= self.bar or \
                    not Candle.objects.filter(symbol=symbol, timeframe=finer).exists():
                continue
            built = candles_resampled(symbol=symbol, source_timeframe=finer, timeframe=self.timeframe).frame
            built = built.loc[~built.index.isin(frame.index)] if len(frame) else built
            if built.empty:
                continue
            self.built[symbol] = (finer, built.index[0], built.index[-1], len(built))
            columns = frame.columns if len(frame.columns) else built.columns
            frame = pd.concat([frame, built.reindex(columns=columns)]).sort_index()
        return frame

    def notes_for(self, symbols: Sequence[str], start: pd.Timestamp, end: pd.Timestamp) -> list[str]:
        """Where the candles of ``symbols`` over ``[start, end)`` were built from finer stored candles."""
        return [f"{symbol}: {count} {self.timeframe} candles {first:%Y-%m-%d %H:%M}..{last:%Y-%m-%d %H:%M} built "
                f"from stored {finer} candles where no {self.timeframe} candle is stored (complete buckets only)"
                for symbol, (finer, first, last, count) in self.built.items()
                if symbol in symbols and first < end and last >= start]


class CandleSources(dict):
    """One :class:`CandleSource` per timeframe, made when first asked for."""

    def __missing__(self, timeframe: str) -> CandleSource:
        source = self[timeframe] = CandleSource(timeframe)
        return source


# --------------------------------------------------------------------------- one strategy's market in a window
@dataclass
class StressMarket:
    """A strategy's data for one window: real candles where they exist, proxies elsewhere."""

    market: MarketData
    timeframe: str
    real: list[str]
    proxies: dict[str, ProxySpec]
    coverage: dict[str, float]
    bridged: dict[str, dict] = field(default_factory=dict)
    unproxied: list[str] = field(default_factory=list)

    @property
    def basis(self) -> str:
        return "proxy" if self.proxies else "real"

    def data_ranges(self, window: StressWindow) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
        """The time ranges this window's result looked at: the replay, every beta's estimation bars and the bars a
        bridge borrowed."""
        ranges = [(window.begin, window.end)]
        ranges += [(spec.fit.first, spec.fit.last) for spec in self.proxies.values() if spec.fit is not None]
        ranges += [(utc_timestamp(info["from"]), utc_timestamp(info["to"])) for info in self.bridged.values()]
        return ranges

    def describe(self) -> dict:
        return {"basis": self.basis, "real_symbols": list(self.real), "proxied_symbols": list(self.proxies),
                "proxies": [spec.to_dict() for spec in self.proxies.values()], "coverage": dict(self.coverage),
                "bridged": dict(self.bridged), "symbols_with_data": list(self.real),
                "missing_symbols": [*self.proxies, *self.unproxied]}


def _bridged_span(source: CandleSource, symbol: str, load_start: pd.Timestamp, run_in: pd.Timestamp,
                  end: pd.Timestamp, bridged: dict[str, dict]) -> pd.DataFrame:
    """A reference or regime series over ``[load_start, end)``, the bars before its first real one bridged from
    earlier bars (how many of them fall on or after the ``run_in`` start is recorded)."""
    frame = source.span(symbol, load_start, end)
    if frame.empty:
        return frame
    filled, info = bridge_warmup(frame, source.history(symbol), load_start, source.bar)
    if info and info.get("bars"):
        placed = filled.index[:info["bars"]]
        bridged[symbol] = {**info, "in_run_in": int((placed >= run_in).sum())}
    return filled


def _eligible(source: CandleSource, symbols: Sequence[str], window: StressWindow) -> dict[str, bool]:
    return {s: window_coverage(source.span(s, window.start, window.end), window.start, window.end, source.bar)
            >= REFERENCE_MIN_COVERAGE for s in symbols}


def _plan_proxy(symbol: str, universe: Sequence[str], source: CandleSource, window: StressWindow,
                load_start: pd.Timestamp, bridged: dict[str, dict],
                locked: tuple[pd.Timestamp, pd.Timestamp] | None) -> tuple[ProxySpec, pd.DataFrame] | None:
    """The proxy spec of ``symbol`` and its reference's bars over the span, or ``None`` without a reference;
    betas avoid the ``locked`` holdout's bars while they can."""
    from analytics.stress_scenarios import MARKET_REFERENCES, sector_mates

    candidates = reference_candidates(symbol, _eligible(source, [*sector_mates(symbol), *MARKET_REFERENCES],
                                                        window))
    if not candidates:
        return None
    bar = source.bar
    history = source.history(symbol)

    def fit(token: str, reference: str):
        own = source.history(token)
        if own.empty:
            return None
        closes = own["close"], source.history(reference)["close"]
        outside = fit_beta(*closes, bar, before=load_start, after=window.end, exclude=locked)
        return outside or (fit_beta(*closes, bar, before=load_start, after=window.end) if locked else None)

    fits = {candidate: fit(symbol, candidate) for candidate in candidates}
    reference, why = choose_reference(candidates, fits)
    others = [f.beta for other in universe if other not in (symbol, reference)
              and (f := fit(other, reference)) is not None] if fits.get(reference) is None else []
    reference_span = _bridged_span(source, reference, load_start, window.begin, window.end, bridged)
    spec = proxy_spec(symbol, reference=reference, reference_reason=why, reference_span=reference_span,
                      window_start=window.start, window_end=window.end, fit=fits.get(reference),
                      fallback=fallback_beta(others), history=history if len(history) else None)
    return spec, reference_span


def stress_market(strategy_class: type[BaseStrategy], symbols: Sequence[str], timeframe: str, window: StressWindow,
                  sources: CandleSources) -> StressMarket:
    """The strategy's market for ``window`` (module docstring): real tokens, proxies, regime, fundamentals."""
    source = sources[timeframe]
    bar = source.bar
    load_start = window.begin - bar * int(strategy_class.warmup_bars)
    lock = holdout.lock_of(strategy_class.name)
    locked = (utc_timestamp(lock.holdout_start), utc_timestamp(lock.holdout_end)) if lock else None
    candles: dict[str, pd.DataFrame] = {}
    coverage: dict[str, float] = {}
    proxies: dict[str, ProxySpec] = {}
    bridged: dict[str, dict] = {}
    unproxied: list[str] = []
    notes: list[str] = []
    for symbol in symbols:
        frame = source.span(symbol, load_start, window.end)
        coverage[symbol] = window_coverage(frame, window.start, window.end, bar)
        if coverage[symbol] > 0:
            candles[symbol] = frame
            continue
        planned = _plan_proxy(symbol, symbols, source, window, load_start, bridged, locked)
        if planned is None:
            unproxied.append(symbol)
            notes.append(f"{symbol}: no {timeframe} candles in the window and no reference with candles in it: "
                         "not traded")
            continue
        spec, reference_span = planned
        proxies[symbol] = spec
        candles[symbol] = proxy_candles(reference_span, spec)
        notes.append(f"{symbol}: proxy candles from {spec.reference}'s path, beta {spec.beta:.2f} "
                     f"({spec.beta_source})")
    regime = {}
    for symbol in strategy_class.regime_symbols:
        frame = _bridged_span(source, symbol, load_start, window.begin, window.end, bridged)
        if not frame.empty:
            regime[symbol] = frame
    used = [*candles, *regime, *(spec.reference for spec in proxies.values())]
    notes += source.notes_for(used, load_start, window.end)
    found = fundamentals_for(strategy_class(), candles, bar)
    market = MarketData(candles=candles, onchain=found.onchain, social=found.social, regime=regime, notes=notes,
                        sentiment=found.sentiment, vendors=found.vendors)
    real = [s for s in symbols if s in candles and s not in proxies]
    return StressMarket(market=market, timeframe=timeframe, real=real, proxies=proxies, coverage=coverage,
                        bridged=bridged, unproxied=unproxied)


def with_outage(market: MarketData, bar: pd.Timedelta, window: StressWindow) -> tuple[MarketData, int]:
    """``market`` without the bars of the window's outage (traded and regime candles)."""
    if window.outage_start is None or window.outage_end is None:
        return market, 0
    candles, removed = apply_outage(market.candles, bar, window.outage_start, window.outage_end)
    regime, _ = apply_outage(market.regime, bar, window.outage_start, window.outage_end)
    return replace(market, candles=candles, regime=regime, notes=list(market.notes)), removed


# --------------------------------------------------------------------------- results
def _points(equity: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> dict:
    """The equity inside ``[start, end)`` from its last value before ``start`` (the window's baseline),
    thinned to at most :data:`MAX_POINTS`."""
    before = equity.loc[equity.index < start].iloc[-1:]
    inside = equity.loc[(equity.index >= start) & (equity.index < end)]
    step = max(1, -(-len(inside) // MAX_POINTS))
    shown = pd.concat([before, inside.iloc[::step]])
    return {"timestamps": [ts.isoformat() for ts in shown.index], "equity": shown.round(4).tolist()}


def quote_path(window: StressWindow) -> pd.Series:
    """The quote coin's USD closes for a depeg scenario: stored candles, else the bundled file."""
    frame = candles_df(symbol=window.quote_symbol, timeframe=window.quote_timeframe,
                       start=window.begin - pd.Timedelta(days=1), end=window.end)
    if frame.empty:
        from marketdata.sample import SAMPLE_FILES, read_sample_file

        for sample in SAMPLE_FILES:
            if sample.symbol == window.quote_symbol and sample.timeframe == window.quote_timeframe:
                raw, _ = read_sample_file(sample)
                frame = raw.set_index(pd.to_datetime(raw["open_time"], utc=True))[["close"]]
    return frame["close"]


def _window_result(window: StressWindow, *, equity: pd.DataFrame, trades: pd.DataFrame, orders: pd.DataFrame,
                   refusals: pd.DataFrame, breaker_times: list[str], bar: pd.Timedelta, extra: dict) -> dict:
    """The window's report: figures, activity, scenario figures and sentences."""
    report = stress_window_report(equity, window.start, window.end)
    report.pop("trades", None)
    activity = window_activity(trades=trades, orders=orders, refusals=refusals, equity=equity,
                               breaker_times=breaker_times, window_start=window.start, window_end=window.end)
    result = {**window.base(), **extra, **report, "status": "ok", "n_trades": activity["opened"],
              "trades": activity["opened"], "activity": activity,
              "risk_manager": {"refusals": activity["refusals"],
                               "circuit_breaker_events": activity["circuit_breaker_events"]},
              "equity": _points(equity["equity"], window.start, window.end)}
    if window.kind == "outage":
        result["outage"] = {"start": window.outage_start.isoformat(), "end": window.outage_end.isoformat(),
                            "hours": window.outage_hours, "bars_removed": extra.get("outage_bars_removed", 0)}
    if window.kind == "quote_depeg":
        quote = quote_usd_at_closes(quote_path(window), equity.index, bar)
        usd = mark_to_usd(equity["equity"], quote)
        usd_report = stress_window_report(pd.DataFrame({"equity": usd}), window.start, window.end)
        inside = quote.loc[(quote.index >= window.start) & (quote.index < window.end)]
        result["usd"] = {"path": window.quote_path, "quote_low": float(inside.min()) if len(inside) else 1.0,
                         "return": usd_report["return"], "max_drawdown": usd_report["max_drawdown"],
                         "worst_day": usd_report["worst_day"], "convention":
                         "whole equity converted at the quote coin's USD price; token prices in the quote coin "
                         "as recorded"}
        result["equity_usd"] = _points(usd, window.start, window.end)
    result.pop("outage_bars_removed", None)
    result = json_safe(result)
    result["summary"] = window_summary(result)
    return result


def _no_data(window: StressWindow, timeframe: str, symbols: Sequence[str], plan: StressMarket | None) -> dict:
    message = (f"no {timeframe} candles for {', '.join(symbols)} in this window, and no reference (a sector mate, "
               "BTC or ETH) has candles in it to build a proxy from")
    result = {**window.base(), **(plan.describe() if plan else {}), "status": "no data", "message": message,
              "basis": "none", "return": None, "max_drawdown": None, "n_trades": None}
    result["summary"] = [message]
    return json_safe(result)


#: What :func:`_touch` needs to count a strategy's look at a stress window: (strategy, parameters, symbols,
#: timeframe, ranges looked at, performance).
TouchRequest = tuple[str, dict, list[str], str, list[tuple[pd.Timestamp, pd.Timestamp]], dict | None]


def _touch(request: TouchRequest, kind: str, source: str) -> dict | None:
    """Count the result on the strategy's lock when any range it looked at overlaps the holdout (the bounding
    range of those that do is recorded)."""
    strategy, params, symbols, timeframe, ranges, performance = request
    lock = holdout.lock_of(strategy)
    if lock is None:
        return None
    touching = [r for r in ranges if holdout.overlaps(lock, *r)]
    if not touching:
        return None
    with transaction.atomic():
        return holdout.touch_if_locked(strategy=strategy, kind=kind, source=source, parameters=params,
                                       symbols=list(symbols), timeframe=timeframe,
                                       start=min(r[0] for r in touching), end=max(r[1] for r in touching),
                                       performance=performance)


# --------------------------------------------------------------------------- one strategy
def stress_config(settings: dict | None, timeframe: str) -> EngineConfig:
    """The run's costs and risk limits; positions open at the window's end are marked to its last close, not
    sold there (the window's end is a cut of the replay, not a decision to exit)."""
    return replace(engine_config(settings or {}, timeframe), close_at_end=False)


def stress_test(strategy: str, params: dict, events: list[StressEvent], *, symbols: list[str] | None = None,
                timeframe: str = "1h", settings: dict | None = None, source: str = "stress test",
                scenarios: bool = True, outage_hours: float | None = None) -> list[dict]:
    """Run ``strategy`` through each event window and its scenarios (module docstring); one result each."""
    ensure_compiled()
    strategy_class = get_strategy(strategy)
    symbols = list(symbols or strategy_class.universe)
    config = stress_config(settings, timeframe)
    sources = CandleSources()
    selected = list(stress_windows(events, scenarios=scenarios, outage_hours=outage_hours))
    with daily_rows_cached():  # side by side as in portfolio_stress, the touches counted after in window order
        computed = parallel_map(lambda window: _strategy_window(strategy, strategy_class, params, symbols, timeframe,
                                                                config, window, sources), selected, database=True)
    return json_safe([_count_touch(report, request, window, source)
                      for window, (report, request) in zip(selected, computed, strict=True)])


def _count_touch(report: dict, request: TouchRequest | None, window: StressWindow, source: str) -> dict:
    if request is None:
        return report
    return _with_touch(report, _touch(request, "stress window", f"{source}: {window.slug}"))


def _with_touch(report: dict, touch: dict | None) -> dict:
    """``report`` with its holdout touch (if any) recorded and its summary rewritten to say so."""
    if touch:
        report["holdout_touch"] = touch
        report["summary"] = window_summary(report)
    return report


def _strategy_window(name: str, strategy_class: type[BaseStrategy], params: dict, symbols: list[str],
                     timeframe: str, config: EngineConfig, window: StressWindow,
                     sources: CandleSources) -> tuple[dict, TouchRequest | None]:
    """The strategy through ``window`` (reads the database, writes nothing) and the holdout touch it makes."""
    plan = stress_market(strategy_class, symbols, timeframe, window, sources)
    if not plan.market.candles:
        return _no_data(window, timeframe, symbols, plan), None
    bar = timeframe_delta(timeframe)
    market, removed = with_outage(plan.market, bar, window)
    outcome = evaluate_window(strategy_class(**params), market, config, window.begin, window.end, bar)
    if outcome.result is None:
        return _no_data(window, timeframe, symbols, plan), None
    result = outcome.result
    coverage = outcome.coverage or {}
    extra = {**plan.describe(), "outage_bars_removed": removed, "data_fallback_share": coverage.get("fallback_share"),
             "notes": list(dict.fromkeys([*market.notes, *result.summary.get("notes", [])]))}
    report = _window_result(window, equity=result.equity, trades=result.trades, orders=result.orders,
                            refusals=result.refusals, breaker_times=result.summary["circuit_breaker_times"], bar=bar,
                            extra=extra)
    return report, (name, params, symbols, timeframe, plan.data_ranges(window), outcome.performance)


def stress_test_job(*, strategy: str, parameters: dict | None = None, events: list[str] | None = None,
                    symbols: list[str] | None = None, timeframe: str | None = None, **settings: Any) -> dict:
    params = validated_parameters(strategy, parameters)
    selected = StressEvent.objects.all()
    if events:
        selected = selected.filter(slug__in=events)
    reports = stress_test(strategy, params, list(selected), symbols=symbols,
                          timeframe=timeframe or get_strategy(strategy).timeframe, settings=settings)
    return {"strategy": strategy, "parameters": params, "events": reports}


# --------------------------------------------------------------------------- the candidates together
def portfolio_stress(members: Mapping[str, dict], events: list[StressEvent], *, settings: dict | None = None,
                     scenarios: bool = True, outage_hours: float | None = None,
                     source: str = "research portfolio stress") -> dict:
    """The candidate strategies together (``members``: name -> chosen parameters) under one risk manager on the
    common 1h grid (``backtests.portfolio``) through each window and scenario, reported like a strategy.

    Each member's data is its own stress market (real or proxy, at its timeframe); the grid carries the same
    candles at 1h (a proxy on the grid is the same map of the reference's 1h bars).
    """
    if not members:
        return {"status": "no candidates", "members": [], "windows": []}
    ensure_compiled()
    sources = CandleSources()
    config = stress_config(settings, PORTFOLIO_GRID)
    selected = list(stress_windows(events, scenarios=scenarios, outage_hours=outage_hours))
    with daily_rows_cached():  # the windows side by side, each process with its own connection; the holdout
        computed = parallel_map(lambda window: _portfolio_window(members, window, sources, config), selected,
                                database=True)  # touches counted here after, in window order (as one loop)
    windows = [_count_touches(report, touches, window, source)
               for window, (report, touches) in zip(selected, computed, strict=True)]
    return json_safe({"status": "ok", "members": list(members), "windows": windows})


def _count_touches(report: dict, requests: list[TouchRequest], window: StressWindow, source: str) -> dict:
    touches = {request[0]: touched for request in requests
               if (touched := _touch(request, "stress window (portfolio)", f"{source}: {window.slug}"))}
    return _with_touch(report, touches)


def _portfolio_window(members: Mapping[str, dict], window: StressWindow, sources: CandleSources,
                      config: EngineConfig) -> tuple[dict, list[TouchRequest]]:
    """The candidates' portfolio through ``window`` (reads the database, writes nothing) and the holdout touches
    its result makes."""
    grid_source = sources[PORTFOLIO_GRID]
    grid_bar = grid_source.bar
    plans, portfolio_members, grid = {}, [], {}
    for name, params in members.items():
        cls = get_strategy(name)
        plan = stress_market(cls, list(cls.universe), cls.timeframe, window, sources)
        if not plan.market.candles:
            continue
        bar = timeframe_delta(cls.timeframe)
        market, _ = with_outage(plan.market, bar, window)
        plans[name] = plan
        portfolio_members.append(PortfolioMember(name=name, strategy=cls(**params), market=market, bar=bar,
                                                 start=window.begin))
        for symbol in market.candles:
            spec = plan.proxies.get(symbol)
            if spec is None:
                grid[symbol] = grid_source.span(symbol, window.begin, window.end)
            else:
                reference = grid_source.span(spec.reference, window.begin, window.end)
                grid[symbol] = proxy_candles(reference, spec) if len(reference) else reference
    if not portfolio_members:
        return _no_data(window, PORTFOLIO_GRID, [s for m in members for s in get_strategy(m).universe], None), []
    removed = 0
    if window.outage_start is not None and window.outage_end is not None:
        grid, removed = apply_outage(grid, grid_bar, window.outage_start, window.outage_end)
    grid = {symbol: frame for symbol, frame in grid.items() if len(frame)}
    outcome = portfolio_backtest(portfolio_members, grid, config, window.begin, window.end)
    if outcome.result is None:
        return _no_data(window, PORTFOLIO_GRID, list(grid), None), []
    result = outcome.result
    described = [plan.describe() for plan in plans.values()]
    proxies = [proxy for d in described for proxy in d["proxies"]]
    extra = {"basis": "proxy" if proxies else "real", "members": list(plans),
             "real_symbols": [s for d in described for s in d["real_symbols"]],
             "proxied_symbols": [s for d in described for s in d["proxied_symbols"]], "proxies": proxies,
             "coverage": {s: v for d in described for s, v in d["coverage"].items()},
             "bridged": {f"{s} ({plans[name].timeframe})": v for name, d in zip(plans, described, strict=True)
                         for s, v in d["bridged"].items()},
             "outage_bars_removed": removed, "notes": list(outcome.notes),
             "member_activity": _member_activity(outcome, window)}
    report = _window_result(window, equity=result.equity, trades=result.trades, orders=result.orders,
                            refusals=result.refusals, breaker_times=result.summary["circuit_breaker_times"],
                            bar=grid_bar, extra=extra)
    return report, [(member.name, members[member.name], list(member.strategy.universe), member.strategy.timeframe,
                     plans[member.name].data_ranges(window), outcome.members.get(member.name))
                    for member in portfolio_members]


def _member_activity(outcome: Any, window: StressWindow) -> dict[str, dict]:
    """Each member's positions opened in the window and its refused entries there."""
    result = outcome.result
    out = {}
    for name, stats in outcome.members.items():
        symbols = stats.get("symbols") or []
        trades = result.trades.loc[result.trades["symbol"].isin(symbols)]
        orders = result.orders.loc[result.orders["symbol"].isin(symbols)]
        refusals = result.refusals.loc[result.refusals["symbol"].isin(symbols)]
        activity = window_activity(trades=trades, orders=orders, refusals=refusals, equity=result.equity.iloc[:0],
                                   breaker_times=[], window_start=window.start, window_end=window.end)
        out[name] = {"opened": activity["opened"], "closed": activity["closed"], "refusals": activity["refusals"]}
    return out
