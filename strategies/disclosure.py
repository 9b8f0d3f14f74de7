"""What data a run stood on: per symbol and declared input, how often it was there and which rule decided
(pure: pandas only, no Django).

A strategy declares its non-price inputs (``BaseStrategy.inputs``, :class:`strategies.base.DataInput`). For
the evaluated bars of a run (from ``start`` on; the warm-up is not counted) this module measures, per symbol
and input:

- ``present``: the share of bars on which any of the input's columns had a value (as known at the bar's
  close: the frames are point-in-time aligned by the loader);
- ``used``: the share of bars on which the rule that reads the input decided, from the strategy's
  ``uses_<input>`` signal column when it emits one (an input can be present but not yet usable, such as a
  30-day change in its first 30 days), else ``present``;
- the vendor(s) the values came from.

``fallback_share`` is the share of all evaluated bars (every traded symbol) on which *any primary* input
fell back to its price-only (or assumed) rule. A strategy that declares no inputs is price-only by design:
its share is ``None`` and it is not flagged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from strategies.base import BaseStrategy, DataInput, MarketData

#: Above this fallback share a verdict is "mostly price-only" (and the strategy cannot go to paper trading).
MOSTLY_FALLBACK = 0.5


def _present(data: MarketData, spec: DataInput, symbol: str, index: pd.Index) -> pd.Series:
    frame = getattr(data, spec.table).get(symbol)
    if frame is None or frame.empty:
        return pd.Series(False, index=index)
    columns = [column for column in spec.columns if column in frame.columns]
    if not columns:
        return pd.Series(False, index=index)
    aligned = frame[columns].reindex(index)
    return aligned.notna().any(axis=1)


def _used(spec: DataInput, signals: pd.DataFrame, present: pd.Series) -> pd.Series:
    if spec.rule_column in signals.columns:
        return signals[spec.rule_column].reindex(present.index).fillna(False).astype(bool)
    return present


def _vendor(data: MarketData, spec: DataInput, symbol: str) -> str:
    known = data.vendors.get(symbol, {})
    names = sorted({known[column] for column in spec.columns if column in known})
    return "; ".join(names)


def data_coverage(strategy: BaseStrategy, data: MarketData, signals: dict[str, pd.DataFrame],
                  start: pd.Timestamp | None = None) -> dict[str, Any] | None:
    """Coverage of ``strategy.inputs`` on the evaluated bars of ``signals``; ``None`` when it declares none.

    Returns ``{"inputs": [{"symbol", "input", "primary", "purpose", "fallback", "bars", "present", "used",
    "vendor"}], "bars", "fallback_share", "mostly_fallback"}``.
    """
    inputs = tuple(type(strategy).inputs)
    if not inputs:
        return None
    rows: list[dict[str, Any]] = []
    total_bars, fallback_bars = 0, 0
    for symbol in sorted(signals):
        frame = signals[symbol]
        index = frame.index if start is None else frame.index[frame.index >= pd.Timestamp(start)]
        if len(index) == 0:
            continue
        on_fallback = np.zeros(len(index), dtype=bool)
        for spec in inputs:
            present = _present(data, spec, symbol, index)
            used = _used(spec, frame, present)
            if spec.primary:
                on_fallback |= ~used.to_numpy()
            rows.append({"symbol": symbol, "input": spec.name, "primary": spec.primary, "purpose": spec.purpose,
                         "fallback": spec.fallback, "bars": len(index), "present": float(present.mean()),
                         "used": float(used.mean()), "vendor": _vendor(data, spec, symbol)})
        if any(spec.primary for spec in inputs):
            total_bars += len(index)
            fallback_bars += int(on_fallback.sum())
    share = fallback_bars / total_bars if total_bars else None
    return {"inputs": rows, "bars": total_bars, "fallback_share": share,
            "mostly_fallback": share is not None and share > MOSTLY_FALLBACK}


def coverage_lines(coverage: dict[str, Any] | None) -> list[str]:
    """One sentence per symbol and input, for reports and notes."""
    if not coverage:
        return []
    lines = []
    for row in coverage["inputs"]:
        vendor = f" ({row['vendor']})" if row["vendor"] else ""
        kind = "" if row["primary"] else " [secondary]"
        lines.append(f"{row['symbol']} {row['input']}{kind}: present on {row['present']:.0%} of {row['bars']} bars"
                     f"{vendor}, its rule decided on {row['used']:.0%}; elsewhere: {row['fallback']}")
    return lines
