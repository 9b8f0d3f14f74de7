"""Provenance of a run: a hash of the exact candles used and the code version."""

from __future__ import annotations

import hashlib
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def candles_hash(candles: dict[str, pd.DataFrame]) -> str:
    """SHA-256 over every symbol's open times and OHLCV values, in symbol order (stable across backends)."""
    digest = hashlib.sha256()
    for symbol in sorted(candles):
        frame = candles[symbol]
        digest.update(symbol.encode())
        digest.update(np.asarray(frame.index.as_unit("ns").asi8 if isinstance(frame.index, pd.DatetimeIndex) else frame.index,
                                 dtype="int64").tobytes())
        for column in ("open", "high", "low", "close", "volume"):
            digest.update(np.ascontiguousarray(frame[column].to_numpy(dtype="float64")).tobytes())
    return digest.hexdigest()


@lru_cache(maxsize=1)
def code_version() -> str:
    """The git commit of the code (with ``-dirty`` when the tree has changes), or ``unknown``."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit[:12]}{'-dirty' if dirty else ''}"
