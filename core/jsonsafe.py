"""The one JSON-safe converter: numpy/pandas values, dataclasses and date-times -> plain JSON values.

Pure (no Django). Non-finite floats become ``None`` so ``json.dumps(..., allow_nan=False)`` accepts the
result; date-times become ISO 8601 strings; frames become lists of records.

>>> import numpy as np, pandas as pd
>>> json_safe({"a": np.float64("nan"), "b": [np.int64(2), pd.Timestamp("2024-01-01", tz="UTC")]})
{'a': None, 'b': [2, '2024-01-01T00:00:00+00:00']}
"""

from __future__ import annotations

import dataclasses
import math
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd


def json_safe(value: Any) -> Any:
    """Convert ``value`` recursively; anything already JSON-safe is returned unchanged."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    if isinstance(value, np.ndarray):
        return [json_safe(item) for item in value.tolist()]
    if isinstance(value, pd.DataFrame):
        return json_safe(value.reset_index().to_dict("records"))
    if isinstance(value, pd.Series):
        return json_safe(value.tolist())
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    if isinstance(value, pd.Timedelta | timedelta):
        return pd.Timedelta(value).isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json_safe(dataclasses.asdict(value))
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value
