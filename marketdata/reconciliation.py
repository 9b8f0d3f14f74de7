"""Compare two providers' candles of one symbol (pure module, no Django).

Where Binance and CoinGecko both cover a symbol and period, their daily closes should agree to within a
fraction of a percent (CoinGecko aggregates many venues). ``reconcile`` reports, over the period both cover:
candles missing on either side, close-to-close relative differences, and a 0..1 score::

    score = coverage * (1 - share of common days whose |close difference| > tolerance)
    coverage = common days / days present on either side

No overlap gives ``status: "no overlap"`` and no score (never a made-up one).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_TOLERANCE = 0.01  # 1% close-to-close


def reconcile(primary: pd.DataFrame, secondary: pd.DataFrame, *, tolerance: float = DEFAULT_TOLERANCE,
              max_listed: int = 20) -> dict:
    """``primary``/``secondary``: candles indexed by UTC open time with a ``close`` column."""
    if primary.empty or secondary.empty:
        return {"status": "no overlap", "score": None, "common": 0}
    start = max(primary.index[0], secondary.index[0])
    end = min(primary.index[-1], secondary.index[-1])
    if start > end:
        return {"status": "no overlap", "score": None, "common": 0,
                "primary_range": [primary.index[0].isoformat(), primary.index[-1].isoformat()],
                "secondary_range": [secondary.index[0].isoformat(), secondary.index[-1].isoformat()]}
    a = primary.loc[(primary.index >= start) & (primary.index <= end), "close"]
    b = secondary.loc[(secondary.index >= start) & (secondary.index <= end), "close"]
    common = a.index.intersection(b.index)
    only_primary = a.index.difference(b.index)
    only_secondary = b.index.difference(a.index)
    diff = (a.loc[common] - b.loc[common]) / b.loc[common]
    abs_diff = diff.abs()
    above = abs_diff > tolerance
    union = len(common) + len(only_primary) + len(only_secondary)
    coverage = len(common) / union if union else 0.0
    score = coverage * (1.0 - float(above.mean())) if len(common) else 0.0
    worst = abs_diff.sort_values(ascending=False).head(max_listed)
    return {
        "status": "ok",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "common": len(common),
        "missing_in_primary": [t.isoformat() for t in only_secondary[:max_listed]],
        "missing_in_primary_count": len(only_secondary),
        "missing_in_secondary": [t.isoformat() for t in only_primary[:max_listed]],
        "missing_in_secondary_count": len(only_primary),
        "close_diff_mean": float(diff.mean()) if len(common) else None,
        "close_diff_abs_median": float(abs_diff.median()) if len(common) else None,
        "close_diff_abs_max": float(abs_diff.max()) if len(common) else None,
        "close_diff_abs_p95": float(np.percentile(abs_diff, 95)) if len(common) else None,
        "tolerance": tolerance,
        "days_above_tolerance": int(above.sum()),
        "worst_days": [{"day": t.isoformat(), "diff": float(diff.loc[t])} for t in worst.index],
        "coverage": round(coverage, 4),
        "score": round(score, 4),
    }
