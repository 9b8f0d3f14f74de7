import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from core.jsonsafe import json_safe


def test_json_safe_converts_non_finite_and_numpy():
    out = json_safe({"a": np.float64("nan"), "b": [np.int64(3), math.inf], "c": np.bool_(True)})
    assert out == {"a": None, "b": [3, None], "c": True}


def test_json_safe_handles_dates_frames_and_dataclasses():
    @dataclass
    class Point:
        when: datetime
        value: float

    frame = pd.DataFrame({"x": [1.0, np.nan]}, index=pd.Index([0, 1], name="i"))
    out = json_safe({"p": Point(datetime(2024, 1, 1, tzinfo=UTC), np.float32(1.5)), "d": date(2024, 2, 3),
                     "t": pd.Timestamp("2024-01-01", tz="UTC"), "nat": pd.NaT, "f": frame, "s": {3}})
    assert out == {"p": {"when": "2024-01-01T00:00:00+00:00", "value": 1.5}, "d": "2024-02-03",
                   "t": "2024-01-01T00:00:00+00:00", "nat": None, "f": [{"i": 0, "x": 1.0}, {"i": 1, "x": None}],
                   "s": [3]}
    json.dumps(out, allow_nan=False)
