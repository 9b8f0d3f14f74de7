"""Candle timeframes supported by the platform (pure module, no Django)."""

from __future__ import annotations

import pandas as pd

#: Timeframe code -> length of one candle.
TIMEFRAMES: dict[str, pd.Timedelta] = {
    "1m": pd.Timedelta(minutes=1),
    "5m": pd.Timedelta(minutes=5),
    "15m": pd.Timedelta(minutes=15),
    "1h": pd.Timedelta(hours=1),
    "4h": pd.Timedelta(hours=4),
    "1d": pd.Timedelta(days=1),
    "1w": pd.Timedelta(weeks=1),
}

TIMEFRAME_CHOICES: list[tuple[str, str]] = [(code, code) for code in TIMEFRAMES]


def timeframe_delta(timeframe: str) -> pd.Timedelta:
    """Length of one candle of ``timeframe``; ``ValueError`` naming the valid codes otherwise."""
    try:
        return TIMEFRAMES[timeframe]
    except KeyError:
        raise ValueError(
            f"unknown timeframe {timeframe!r}; expected one of {', '.join(TIMEFRAMES)}"
        ) from None


def bars_per_day(timeframe: str) -> float:
    return pd.Timedelta(days=1) / timeframe_delta(timeframe)


def timeframe_seconds_str(timeframe: str) -> str:
    """The candle length as an unambiguous Timedelta string (``"3600s"``), for APIs that parse strings."""
    return f"{int(timeframe_delta(timeframe).total_seconds())}s"
