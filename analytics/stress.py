"""How a backtest behaved inside a historical stress window (pure part; no Django).

Input: a ``pd.DataFrame`` indexed by UTC bar times with columns

* ``equity`` (required): account equity at the bar;
* ``drawdown`` (optional): drawdown from the run's all-time peak, positive fraction;
* ``circuit_breaker`` (optional): truthy on bars where the risk circuit breaker was active/tripped;
* ``trades`` (optional): number of trades opened at the bar.

The window is ``[window_start, window_end]`` (both ends inclusive, so a window given as whole days covers
its last bar at ``window_end``). The return over the window starts from the last equity *before* the
window when there is one (so a crash on the first bar counts), otherwise from the first bar inside.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.jsonsafe import json_safe
from core.timeutil import utc_timestamp as _utc

NO_DATA = "no data"


def stress_window_report(equity: pd.DataFrame, window_start, window_end) -> dict:
    """Return, drawdown, worst day, trades and circuit-breaker activity of ``equity`` within the window."""
    start, end = _utc(window_start), _utc(window_end)
    if not end > start:
        raise ValueError("window_end must be after window_start")
    frame = equity.sort_index()
    if frame.index.tz is None:
        frame = frame.tz_localize("UTC")
    inside = frame.loc[(frame.index >= start) & (frame.index <= end)]
    base = {"window_start": start.isoformat(), "window_end": end.isoformat()}
    if inside.empty or inside["equity"].dropna().empty:
        return json_safe({**base, "status": NO_DATA, "n_bars": 0, "return": None, "max_drawdown": None,
                          "max_drawdown_from_peak": None, "worst_day": None, "trades": None,
                          "circuit_breaker_fired": None, "circuit_breaker_first_time": None})
    before = frame.loc[frame.index < start, "equity"].dropna()
    path = inside["equity"].dropna()
    if not before.empty:
        path = pd.concat([before.iloc[[-1]], path])
    report = {
        **base,
        "status": "ok",
        "n_bars": len(inside),
        "start_equity": float(path.iloc[0]),
        "end_equity": float(path.iloc[-1]),
        "return": float(path.iloc[-1] / path.iloc[0] - 1.0),
        "max_drawdown": float((1.0 - path / path.cummax()).max()),
        "max_drawdown_from_peak": float(inside["drawdown"].max()) if "drawdown" in inside else None,
        "worst_day": _worst_day(path),
        "trades": int(inside["trades"].fillna(0).sum()) if "trades" in inside else None,
        **_circuit_breaker(inside),
    }
    return json_safe(report)


def _worst_day(path: pd.Series) -> dict | None:
    """The UTC day with the lowest close-to-close return (the first close is the baseline)."""
    closes = path.resample("1D").last().dropna()
    if len(path) > 1 and (path.index[0].normalize() == path.index[1].normalize()):
        closes = pd.concat([path.iloc[[0]].set_axis([closes.index[0] - pd.Timedelta(days=1)]), closes])
    daily = closes.pct_change().dropna()
    if daily.empty:
        return None
    day = daily.idxmin()
    return {"date": day.date().isoformat(), "return": float(daily.loc[day])}


def _circuit_breaker(inside: pd.DataFrame) -> dict:
    if "circuit_breaker" not in inside:
        return {"circuit_breaker_fired": None, "circuit_breaker_first_time": None}
    fired = inside["circuit_breaker"].fillna(False).astype(bool)
    return {
        "circuit_breaker_fired": bool(fired.any()),
        "circuit_breaker_first_time": fired.idxmax().isoformat() if fired.any() else None,
    }


# --------------------------------------------------------------------------- what the strategy did in the window
#: Refusal reasons (``backtests.engine`` codes) in words, as "N refused for <words>".
REFUSAL_WORDS = {
    "missing_stop": "a missing stop", "stop_beyond_price": "a stop beyond the fill price",
    "position_size": "the position size limits", "insufficient_cash": "insufficient cash",
    "portfolio_heat": "portfolio heat", "correlation": "correlation", "circuit_breaker": "the circuit breaker",
    "gap_expired": "a missing fill bar (no candle)", "short_not_allowed": "shorts not allowed",
    "end_of_data": "the end of the data",
}


def _in_window(times: pd.Series | pd.DatetimeIndex, start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    values = pd.DatetimeIndex(times)
    if values.tz is None:
        values = values.tz_localize("UTC")
    return np.asarray((values >= start) & (values < end))


def window_activity(*, trades: pd.DataFrame, orders: pd.DataFrame, refusals: pd.DataFrame, equity: pd.DataFrame,
                    breaker_times: list[str] | pd.DatetimeIndex, window_start, window_end) -> dict:
    """Positions opened and closed in ``[window_start, window_end)``, whether one was held when it opened and
    when it ended, stops hit, refusals by reason and circuit-breaker events inside it.

    ``trades``: the engine's closed legs (``symbol``, ``entry_time``, ``exit_time``, ``exit_reason``); ``orders``:
    its fills (``time``, ``kind``; a position opens with an ``entry`` fill, also one never closed); ``refusals``:
    its refused entries (``time``, ``reason``); ``equity``: its bar frame (``open_positions``). Positions open on the
    window's last bar (or closed there by an engine run with ``close_at_end``, reason ``end_of_data``) are counted
    as open at its end, not as closed.
    """
    start, end = _utc(window_start), _utc(window_end)
    legs = trades if trades is not None else pd.DataFrame(columns=["symbol", "entry_time", "exit_time",
                                                                   "exit_reason"])
    entries = orders.loc[orders["kind"].eq("entry").to_numpy() & _in_window(orders["time"], start, end)] \
        if len(orders) else orders
    final = legs.sort_values("exit_time", kind="stable").drop_duplicates(["symbol", "entry_time"], keep="last") \
        if len(legs) else legs
    closing = final.loc[_in_window(final["exit_time"], start, end)] if len(final) else final
    at_end = closing["exit_reason"].eq("end_of_data") if len(closing) else pd.Series(dtype=bool)
    stops = legs.loc[_in_window(legs["exit_time"], start, end) & legs["exit_reason"].eq("stop_loss").to_numpy()] \
        if len(legs) else legs
    refused = refusals.loc[_in_window(refusals["time"], start, end)] if len(refusals) else refusals
    by_reason = refused["reason"].value_counts() if len(refused) else pd.Series(dtype=int)
    breakers = pd.DatetimeIndex(pd.to_datetime(list(breaker_times), utc=True))
    breakers = breakers[_in_window(breakers, start, end)]
    held = equity["open_positions"] if "open_positions" in equity else (equity["exposure"] > 0).astype(int)
    before = held.loc[held.index < start]
    inside = held.loc[(held.index >= start) & (held.index < end)]
    return json_safe({
        "opened": len(entries),
        "closed": int(len(closing) - int(at_end.sum())),
        "open_at_end": int(at_end.sum()) + (int(inside.iloc[-1]) if len(inside) else 0),
        "held_at_start": int(before.iloc[-1]) if len(before) else 0,
        "held_any": bool(len(inside) and (inside > 0).any()),
        "stops_hit": len(stops),
        "refusals": {str(reason): int(count) for reason, count in by_reason.items() if count},
        "circuit_breaker_events": len(breakers),
        "circuit_breaker_times": [t.isoformat() for t in breakers],
    })


# --------------------------------------------------------------------------- the window in words
def _percent(value: float | None, digits: int = 2) -> str:
    """Two decimals by default: positions are 2-5% of equity, so a window's moves are small; never "-0.00%"."""
    if value is None:
        return "n/a"
    text = f"{value * 100:.{digits}f}%"
    return text[1:] if text.startswith("-") and not text.strip("-0.%") else text


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


def refusals_in_words(refusals: dict | None) -> str:
    """``{"portfolio_heat": 3, "correlation": 1}`` as "3 refused for portfolio heat, 1 for correlation"."""
    given = [(reason, count) for reason, count in (refusals or {}).items() if count]
    if not given:
        return "no refusals"

    def words(reason: str) -> str:
        return REFUSAL_WORDS.get(reason, reason.replace("_", " "))

    (reason, count), *rest = given
    return ", ".join([f"{count} refused for {words(reason)}", *(f"{n} for {words(r)}" for r, n in rest)])


def activity_sentence(activity: dict) -> str:
    """What the strategy did in the window; with no trade, whether it was flat or holding."""
    opened, closed = activity.get("opened", 0), activity.get("closed", 0)
    still_open = activity.get("open_at_end", 0)
    tail = f"; {_count(still_open, 'position')} still open at the window's end" if still_open else ""
    if opened:
        return f"opened {_count(opened, 'position')} in the window, closed {closed}{tail}"
    if closed:
        return f"opened no position in the window; closed {closed} opened before it{tail}"
    if activity.get("held_at_start") or still_open:
        return "no trade in the window: held the position opened before the window"
    return "no trade in the window: held no position, flat through the window"


def breaker_sentence(activity: dict) -> str:
    events = activity.get("circuit_breaker_events", 0)
    if not events:
        return "the drawdown circuit breaker did not fire"
    first = activity["circuit_breaker_times"][0][:16].replace("T", " ")
    return f"the drawdown circuit breaker fired {'once' if events == 1 else f'{events} times'} (first at {first} UTC)"


def _fitted_words(proxy: dict) -> str:
    fit = proxy["fit"]
    clipped = f", clipped from {fit['raw']:.2f}" if abs(fit["raw"] - fit["beta"]) >= 0.005 else ""
    return (f"{proxy['symbol']} with beta {proxy['beta']:.2f}{clipped} (R\u00b2 {fit['r2']:.2f} on {fit['overlap']:,} "
            f"common bars {fit['first'][:10]}..{fit['last'][:10]})")


def _reference_words(reference: str, group: list[dict]) -> str:
    """The tokens that follow one reference, with their betas (tokens sharing a fallback beta said once)."""
    parts = [_fitted_words(p) for p in group if p.get("fit")]
    fallbacks: dict[tuple[float, str], list[str]] = {}
    for proxy in group:
        if not proxy.get("fit"):
            fallbacks.setdefault((round(proxy["beta"], 2), proxy["beta_source"]), []).append(proxy["symbol"])
    for (beta, source), symbols in fallbacks.items():
        parts.append(f"{' and '.join(symbols)} with beta {beta:.2f} (too little common history to fit one: "
                     f"{source})")
    verb = "follows" if len(group) == 1 else "follow"
    return f"{', '.join(p['symbol'] for p in group)} {verb} {reference}'s path: " + "; ".join(parts)


def basis_sentence(result: dict) -> str:
    """Real or proxy, and for a proxy: the reference, each token's beta and what it was estimated on."""
    proxies = result.get("proxies") or []
    real = result.get("real_symbols") or []
    partial = [f"{symbol} on {share * 100:.0f}% of the window's bars"
               for symbol, share in (result.get("coverage") or {}).items() if symbol in real and share < 0.999]
    real_words = (f"real candles for {', '.join(real)}" + (f" ({'; '.join(partial)})" if partial else "")) if real else ""
    if not proxies:
        return "basis: real, " + (real_words or "real candles")
    by_reference: dict[str, list[dict]] = {}
    for proxy in proxies:
        by_reference.setdefault(proxy["reference"], []).append(proxy)
    parts = [_reference_words(reference, group) for reference, group in by_reference.items()]
    return "basis: proxy; " + "; ".join(parts) + (f"; {real_words}" if real_words else "; no token had real candles")


def worst_day_words(worst: dict | None) -> str:
    if not worst:
        return "worst day: none (under a day of bars)"
    if worst["return"] >= -5e-5:
        return "no losing day"
    return f"worst day {worst['date']} ({_percent(worst['return'])})"


def bridge_words(symbol: str, info: dict) -> str:
    """A bridged series in words: what was borrowed, where it was placed, how much of it the strategy could trade."""
    tradable = info.get("in_run_in", 0)
    where = (f", {tradable} of them in the run-in or the window" if tradable else " (indicator warm-up only)")
    return (f"{symbol} had no real bars before {info['first_real'][:16].replace('T', ' ')}: its {info['bars']} bars of "
            f"{info['from'][:10]}..{info['to'][:10]} were placed before it, rescaled to its first open{where}")


def window_summary(result: dict) -> list[str]:
    """The window's result as sentences (report, API and admin): numbers, activity, refusals, breaker, basis and
    the scenario's own figures. No raw values: every flag and mapping is put into words."""
    if result.get("status") != "ok":
        return [result.get("message") or "not run"]
    activity = result.get("activity") or {}
    worst = result.get("worst_day")
    lines = [f"return {_percent(result.get('return'))}, max drawdown {_percent(result.get('max_drawdown'))}, "
             + worst_day_words(worst),
             activity_sentence(activity),
             f"entries: {refusals_in_words(activity.get('refusals'))}",
             breaker_sentence(activity),
             basis_sentence(result)]
    if activity.get("stops_hit"):
        lines[1] += f" ({_count(activity['stops_hit'], 'stop')} hit)"
    outage = result.get("outage")
    if outage:
        lines.append(f"exchange outage {outage['start'][:16].replace('T', ' ')} UTC for {outage['hours']:g} hours: "
                     f"{_count(outage['bars_removed'], 'bar')} removed, no fills until the first bar back")
    usd = result.get("usd")
    if usd:
        lines.append(f"in USD, with the quote coin following {usd['path']} (low {usd['quote_low']:.4f}): return "
                     f"{_percent(usd.get('return'))}, max drawdown {_percent(usd.get('max_drawdown'))}")
    bridges = [bridge_words(symbol, info) for symbol, info in (result.get("bridged") or {}).items() if info.get("bars")]
    if bridges:
        lines.append("bridged: " + "; ".join(bridges))
    share = result.get("data_fallback_share")
    if share is not None:
        lines.append(f"fundamentals: the price-only or assumed fallback of a primary input decided on "
                     f"{share * 100:.0f}% of the bars")
    if result.get("holdout_touch"):
        lines.append("inside the locked holdout: counted on it")
    return lines
