"""Report charts are valid, self-contained SVG built from the numbers given."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd

from analytics.charts import heatmap, histogram, line_chart


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_line_chart_draws_one_polyline_per_series_within_the_viewbox():
    idx = pd.date_range("2023-01-01", periods=1000, freq="h", tz="UTC")
    svg = line_chart({"a": pd.Series(np.linspace(1, 2, 1000), index=idx),
                      "b": pd.Series(np.linspace(2, 1, 1000), index=idx)}, title="Equity")
    root = _parse(svg)
    polylines = [el for el in root.iter() if el.tag.endswith("polyline")]
    assert len(polylines) == 2
    coords = [tuple(map(float, p.split(","))) for p in polylines[0].get("points").split()]
    assert len(coords) <= 600  # downsampled
    assert all(0 <= x <= 720 and 0 <= y <= 220 for x, y in coords)
    # a rising series goes up the screen (smaller y)
    assert coords[0][1] > coords[-1][1]


def test_empty_inputs_say_no_data():
    assert "no data" in line_chart({}, title="Equity")
    assert "no data" in histogram([], title="MC")
    assert "no data" in heatmap(pd.DataFrame(), title="Corr")


def test_histogram_bars_sum_to_sample_size():
    values = np.random.default_rng(0).normal(size=500)
    root = _parse(histogram(values, title="Final return", bins=10, marker=0.0))
    rects = [el for el in root.iter() if el.tag.endswith("rect")]
    assert len(rects) == 10
    heights = [float(r.get("height")) for r in rects]
    assert max(heights) > 0


def test_heatmap_cells_carry_values_and_nan_is_grey():
    matrix = pd.DataFrame([[1.0, 0.8], [0.8, np.nan]], index=["x", "y"], columns=["x", "y"])
    svg = heatmap(matrix, title="Correlation")
    root = _parse(svg)
    rects = [el for el in root.iter() if el.tag.endswith("rect")]
    assert len(rects) == 4
    assert rects[3].get("fill") == "#dddddd"
    assert "0.80" in svg
