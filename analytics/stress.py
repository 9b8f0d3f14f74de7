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
