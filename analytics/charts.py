"""Small dependency-free SVG charts for the research report (pure module, no Django).

The report must open offline (no CDN), so charts are inline SVG strings built from numbers.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def _finite(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype="float64")
    return array[np.isfinite(array)]


def _scale(values: np.ndarray, lo: float, hi: float, out_lo: float, out_hi: float) -> np.ndarray:
    if hi == lo:
        return np.full_like(values, (out_lo + out_hi) / 2, dtype="float64")
    return out_lo + (values - lo) / (hi - lo) * (out_hi - out_lo)


def _downsample(series: pd.Series, max_points: int = 600) -> pd.Series:
    if len(series) <= max_points:
        return series
    step = math.ceil(len(series) / max_points)
    return series.iloc[::step]


def line_chart(series: dict[str, pd.Series], *, title: str, width: int = 720, height: int = 220,
               percent: bool = False) -> str:
    """One or more time series as polylines on a shared axis."""
    series = {name: _downsample(s.dropna()) for name, s in series.items() if s is not None and len(s.dropna())}
    if not series:
        return f'<p class="empty">{html.escape(title)}: no data</p>'
    pad_l, pad_r, pad_t, pad_b = 70, 10, 24, 22
    x_lo = min(s.index[0] for s in series.values()).value
    x_hi = max(s.index[-1] for s in series.values()).value
    all_y = np.concatenate([s.to_numpy(dtype="float64") for s in series.values()])
    y_lo, y_hi = float(np.min(all_y)), float(np.max(all_y))
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'role="img" aria-label="{html.escape(title)}">',
             f'<text x="{pad_l}" y="15" class="title">{html.escape(title)}</text>']
    for frac in (0.0, 0.5, 1.0):
        y_val = y_lo + frac * (y_hi - y_lo)
        y = _scale(np.array([y_val]), y_lo, y_hi, height - pad_b, pad_t)[0]
        label = f"{y_val:.1%}" if percent else (f"{y_val:,.0f}" if abs(y_val) >= 100 else f"{y_val:.4g}")
        parts.append(f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{pad_l - 4}" y="{y + 4:.1f}" class="axis" text-anchor="end">{label}</text>')
    for i, (name, s) in enumerate(series.items()):
        xs = _scale(s.index.as_unit("ns").asi8.astype("float64"), float(x_lo), float(x_hi), pad_l, width - pad_r)
        ys = _scale(s.to_numpy(dtype="float64"), y_lo, y_hi, height - pad_b, pad_t)
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
        color = PALETTE[i % len(PALETTE)]
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.3" points="{points}">'
                     f'<title>{html.escape(name)}</title></polyline>')
        parts.append(f'<text x="{width - pad_r - 4}" y="{pad_t + 12 * (i + 1)}" text-anchor="end" '
                     f'fill="{color}" class="legend">{html.escape(name)}</text>')
    start = pd.Timestamp(x_lo, tz="UTC").strftime("%Y-%m-%d")
    end = pd.Timestamp(x_hi, tz="UTC").strftime("%Y-%m-%d")
    parts.append(f'<text x="{pad_l}" y="{height - 6}" class="axis">{start}</text>'
                 f'<text x="{width - pad_r}" y="{height - 6}" class="axis" text-anchor="end">{end}</text></svg>')
    return "".join(parts)


def histogram(values: Sequence[float], *, title: str, bins: int = 40, width: int = 360, height: int = 180,
              marker: float | None = None, percent: bool = True) -> str:
    """A histogram of a Monte Carlo distribution, with an optional marker (e.g. the observed value)."""
    data = _finite(values)
    if data.size == 0:
        return f'<p class="empty">{html.escape(title)}: no data</p>'
    counts, edges = np.histogram(data, bins=bins)
    pad_l, pad_b, pad_t = 10, 22, 20
    bar_w = (width - 2 * pad_l) / len(counts)
    top = counts.max() or 1
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="{html.escape(title)}"><text x="{pad_l}" y="14" class="title">{html.escape(title)}</text>']
    for i, count in enumerate(counts):
        h = (height - pad_b - pad_t) * count / top
        parts.append(f'<rect x="{pad_l + i * bar_w:.1f}" y="{height - pad_b - h:.1f}" width="{bar_w * 0.9:.1f}" '
                     f'height="{h:.1f}" fill="#1f77b4"/>')
    fmt = (lambda v: f"{v:.1%}") if percent else (lambda v: f"{v:.3g}")
    if marker is not None and math.isfinite(marker) and edges[-1] > edges[0]:
        x = pad_l + (marker - edges[0]) / (edges[-1] - edges[0]) * (width - 2 * pad_l)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{pad_t}" y2="{height - pad_b}" stroke="#d62728"/>')
    parts.append(f'<text x="{pad_l}" y="{height - 6}" class="axis">{fmt(edges[0])}</text>'
                 f'<text x="{width - pad_l}" y="{height - 6}" class="axis" text-anchor="end">{fmt(edges[-1])}'
                 f'</text></svg>')
    return "".join(parts)


def heatmap(matrix: pd.DataFrame, *, title: str, cell: int = 46, lo: float = -1.0, hi: float = 1.0,
            fmt: str = "{:.2f}") -> str:
    """A labelled heat map (correlations, parameter neighbourhoods); NaN cells are grey."""
    if matrix.empty:
        return f'<p class="empty">{html.escape(title)}: no data</p>'
    rows, cols = matrix.shape
    label_w, label_h = 170, 130
    width, height = label_w + cols * cell + 10, label_h + rows * cell + 10
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="{html.escape(title)}"><text x="4" y="14" class="title">{html.escape(title)}</text>']
    for j, name in enumerate(matrix.columns):
        x = label_w + j * cell + cell / 2
        parts.append(f'<text x="{x:.1f}" y="{label_h - 6}" class="axis" transform="rotate(-45 {x:.1f} '
                     f'{label_h - 6})">{html.escape(str(name))}</text>')
    for i, name in enumerate(matrix.index):
        y = label_h + i * cell
        parts.append(f'<text x="{label_w - 4}" y="{y + cell / 2 + 4:.1f}" class="axis" text-anchor="end">'
                     f'{html.escape(str(name))}</text>')
        for j in range(cols):
            value = matrix.iat[i, j]
            color = _diverging(value, lo, hi)
            text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else fmt.format(value)
            parts.append(f'<rect x="{label_w + j * cell}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                         f'fill="{color}"><title>{html.escape(text)}</title></rect>'
                         f'<text x="{label_w + j * cell + cell / 2 - 1:.1f}" y="{y + cell / 2 + 4:.1f}" '
                         f'class="cell" text-anchor="middle">{text}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _diverging(value, lo: float, hi: float) -> str:
    if value is None or not np.isfinite(value):
        return "#dddddd"
    mid = (lo + hi) / 2
    t = max(-1.0, min(1.0, (value - mid) / ((hi - lo) / 2 or 1)))
    if t >= 0:
        return f"rgb({255},{int(255 * (1 - t))},{int(255 * (1 - t))})"
    return f"rgb({int(255 * (1 + t))},{int(255 * (1 + t))},{255})"
