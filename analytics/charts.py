"""Charts of the research report (Plotly) and the admin's small SVG line chart (pure module, no Django).

The research report is a standalone HTML file opened from disk, so every chart must work offline: the
figures are built with ``plotly.graph_objects`` and written as ``<div>`` fragments without plotly.js
(:func:`figure_html`); the page includes plotly.js once, inline (:func:`plotly_js`).

Each ``*_figure`` builder takes the numbers the report dict holds and returns a ``go.Figure``, or ``None``
when the series it needs is missing or empty (the report then shows nothing: no empty frame). The data
transforms behind two of them (:func:`monthly_returns`, :func:`rolling_sharpe`) are separate functions so
they can be checked against a hand computation.
"""

from __future__ import annotations

import calendar
import html
import math
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from backtests.metrics import PERIODS_PER_YEAR, daily_returns

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

#: One colour per meaning, the same in every chart of the report.
EQUITY_COLOR, DRAWDOWN_COLOR, TRAIN_COLOR, TEST_COLOR = "#1f77b4", "#d62728", "#9aa5b1", "#ff7f0e"
OBSERVED_COLOR, NO_DATA_COLOR = "#111111", "#e0e0e0"
#: Diverging scales, always centred at 0: red is bad (loss, negative Sharpe/objective), green good.
RETURN_SCALE = "RdYlGn"
#: Correlation: blue -1, white 0, red +1 (red = moves together = no diversification).
CORRELATION_SCALE = "RdBu_r"
FONT = dict(family="system-ui, -apple-system, Segoe UI, sans-serif", size=12, color="#222")
PLOTLY_CONFIG = {"responsive": True, "displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
ROLLING_SHARPE_DAYS = 30
#: A Monte Carlo spread below this (0.01 %) is rounding, not a distribution.
MC_MIN_SPREAD = 1e-4


# --------------------------------------------------------------------------- page plumbing
def plotly_js() -> str:
    """plotly.js, to be inlined once in the report's ``<head>`` (one ``<script>`` for every chart).

    Inline rather than a ``plotly.min.js`` written next to report.html: the report is one file that is
    opened from disk, mailed, attached to a ticket or copied out of its run folder on its own, and a
    sidecar script would silently break every chart the moment the HTML travels without it. Inline costs
    about 4.8 MB per report (the run folder already holds a report.json of similar size) and needs nothing
    from the network or the filesystem. The bundle is the one the installed plotly package ships, so the
    figures' JSON and the library always match.
    """
    return get_plotlyjs()


def figure_html(fig: go.Figure | None, div_id: str, *, height: int | None = None) -> str:
    """A figure as a ``<div>`` (width 100 %, fixed height) plus its ``newPlot`` call; "" for no figure. The house
    template is added here, to the figure's JSON (see :func:`_figure`)."""
    if fig is None:
        return ""
    height = height or int(fig.layout.height or 320)
    spec = fig.to_plotly_json()
    spec["layout"]["template"] = _house_template()
    return pio.to_html(spec, validate=False, full_html=False, include_plotlyjs=False, div_id=div_id,
                       config=PLOTLY_CONFIG, default_width="100%", default_height=f"{height}px")


@cache
def _house_template() -> dict:
    return pio.templates["plotly_white"].to_plotly_json()


def _figure(data: Any = None) -> go.Figure:
    """``go.Figure(data)`` without a template object: applying one (Plotly's default at construction, or
    ``template=`` in the layout) validates and deep-copies it, 15-75 ms a figure, more than the rest of a
    report chart costs; :func:`figure_html` writes the template into the figure's JSON instead."""
    return go.Figure(data, layout={"template": {}})


def _layout(fig: go.Figure, *, title: str, height: int, **extra: Any) -> go.Figure:
    """The house style (the white template: :func:`figure_html`): left title, fixed height (the width follows the page)."""
    layout: dict[str, Any] = dict(
        title=dict(text=title, x=0.01, xanchor="left", xref="container", font=dict(size=14)), height=height,
        autosize=True, font=FONT, margin=dict(l=70, r=30, t=50, b=50), hovermode="x unified",
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    fig.update_layout(**{**layout, **extra})
    return fig


def _date_axis(fig: go.Figure, **kwargs: Any) -> None:
    fig.update_xaxes(type="date", title_text="date (UTC)", tickformat="%Y-%m-%d", hoverformat="%Y-%m-%d %H:%M",
                     showspikes=True, spikemode="across", spikethickness=1, **kwargs)


def _utc_naive(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """plotly.js reads no time-zone offsets: hand it naive UTC timestamps (the axis says UTC)."""
    index = pd.DatetimeIndex(index)
    return index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index


def _usable(series: pd.Series | None) -> pd.Series | None:
    if series is None:
        return None
    series = pd.Series(series, dtype="float64").replace([np.inf, -np.inf], np.nan).dropna()
    return series if len(series) else None


def _percent_format(span: float) -> str:
    """Tick format for fractions spanning ``span``: enough decimals that neighbouring ticks differ
    (-0.4 % and -0.8 % must not both read "-1%"), none for spans of several percent."""
    span = abs(span) * 100
    decimals = 3 if span <= 0 else min(3, max(0, math.ceil(-math.log10(span) + 0.5)))
    return f".{decimals}%"


def _cells(z: np.ndarray) -> list[list[float | None]]:
    """A heat map's values as nested lists, None (a gap) where undefined."""
    return [[float(v) if np.isfinite(v) else None for v in row] for row in z]


def _grid(x_labels: Sequence[str], y_labels: Sequence[str]) -> dict[str, Any]:
    """Heat-map cells on integer positions, labelled by tick text, the labels handed to hover as customdata.

    Plotly reads category labels such as "2025" or "25.0" as numbers; integer positions with tick text
    keep every label exactly as written and every cell where it belongs.
    """
    return dict(x=list(range(len(x_labels))), y=list(range(len(y_labels))),
                customdata=[[[x, y] for x in x_labels] for y in y_labels])


def _grid_axes(fig: go.Figure, x_labels: Sequence[str], y_labels: Sequence[str], **kwargs: Any) -> None:
    fig.update_xaxes(tickmode="array", tickvals=list(range(len(x_labels))), ticktext=list(x_labels), showgrid=False,
                     zeroline=False, automargin=True, range=[-0.5, len(x_labels) - 0.5], **kwargs.get("x", {}))
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(y_labels))), ticktext=list(y_labels), showgrid=False,
                     zeroline=False, automargin=True, range=[len(y_labels) - 0.5, -0.5], **kwargs.get("y", {}))


# --------------------------------------------------------------------------- data transforms
def monthly_returns(equity: pd.Series) -> pd.DataFrame:
    """Calendar-month returns of an equity curve as a year x month table (columns 1..12, NaN: no data).

    Each month's return is its last equity over the previous month's last equity, minus one; the first
    month is measured from the curve's first point (so a partial first or last month counts only the days
    it covers).
    """
    equity = _usable(equity)
    if equity is None or len(equity) < 2:
        return pd.DataFrame()
    equity = equity.sort_index()
    closes = equity.resample("ME").last().dropna()
    previous = closes.shift(1)
    previous.iloc[0] = equity.iloc[0]
    returns = closes / previous - 1.0
    table = pd.DataFrame({"year": returns.index.year, "month": returns.index.month, "value": returns.to_numpy()})
    table = table.pivot(index="year", columns="month", values="value")
    return table.reindex(columns=range(1, 13))


def rolling_sharpe(equity: pd.Series, window: int = ROLLING_SHARPE_DAYS,
                   periods_per_year: int = PERIODS_PER_YEAR) -> pd.Series:
    """Rolling annualised Sharpe of the curve's daily returns (``window`` days, sample std, sqrt(365)).

    The report's convention: daily returns from the last equity of each UTC day, risk-free rate 0. A
    window whose returns are flat (no position the whole time) has no Sharpe (NaN, a gap in the chart), not
    an infinite one. The result starts at the first full window.
    """
    equity = _usable(equity)
    if equity is None:
        return pd.Series(dtype="float64")
    returns = daily_returns(equity.sort_index())
    if len(returns) < window:
        return pd.Series(dtype="float64")
    # each window computed afresh: pandas' running rolling std leaves a residue of ~1e-11 once a return
    # leaves the window, which turns a flat month into a steady "Sharpe -3.5" of rounding noise
    sharpe = returns.rolling(window, min_periods=window).apply(
        lambda values: _window_sharpe(values, periods_per_year), raw=True)
    return sharpe.iloc[window - 1:]


def _window_sharpe(values: np.ndarray, periods_per_year: int) -> float:
    std = float(np.std(values, ddof=1))
    if not std > 1e-12:
        return math.nan
    return float(np.mean(values)) / std * math.sqrt(periods_per_year)


# --------------------------------------------------------------------------- per strategy
def equity_figure(equity: pd.Series | None, *, title: str = "Holdout equity",
                  name: str = "equity") -> go.Figure | None:
    """An equity curve on a date axis, with a range slider-free zoom and a unified hover."""
    equity = _usable(equity)
    if equity is None:
        return None
    fig = _figure(go.Scatter(x=_utc_naive(equity.index), y=equity.to_numpy(), mode="lines", name=name,
                               line=dict(color=EQUITY_COLOR, width=1.6),
                               hovertemplate="%{y:,.0f}<extra>" + html.escape(name) + "</extra>"))
    _layout(fig, title=title, height=320, showlegend=False)
    _date_axis(fig)
    fig.update_yaxes(title_text="equity (account currency)", tickformat=",.0f")
    return fig


def drawdown_figure(drawdown: pd.Series | None, *, title: str = "Holdout drawdown (underwater)") -> go.Figure | None:
    """The underwater curve: distance below the running peak, as a negative percentage filled to zero."""
    drawdown = _usable(drawdown)
    if drawdown is None:
        return None
    values = -np.abs(drawdown.to_numpy())
    fig = _figure(go.Scatter(x=_utc_naive(drawdown.index), y=values, mode="lines", name="drawdown",
                               fill="tozeroy", line=dict(color=DRAWDOWN_COLOR, width=1.2),
                               fillcolor="rgba(214, 39, 40, 0.25)", hovertemplate="%{y:.2%}<extra>drawdown</extra>"))
    _layout(fig, title=title, height=240, showlegend=False)
    _date_axis(fig)
    low = min(float(values.min()) * 1.1, -0.001)
    fig.update_yaxes(title_text="below peak", tickformat=_percent_format(low), hoverformat=".2%",
                     range=[low, -low * 0.02])
    return fig


def monthly_returns_figure(equity: pd.Series | None, *, title: str = "Holdout monthly returns") -> go.Figure | None:
    """Month x year heat map of :func:`monthly_returns`, colour scale centred at 0, values in %."""
    table = monthly_returns(equity) if equity is not None else pd.DataFrame()
    if table.empty or not np.isfinite(table.to_numpy(dtype="float64")).any():
        return None
    z = table.to_numpy(dtype="float64")
    bound = float(np.nanmax(np.abs(z))) or 0.01
    months, years = [calendar.month_abbr[m] for m in table.columns], [str(year) for year in table.index]
    digits = 1 if bound >= 0.01 else 2 if bound >= 0.001 else 3  # small monthly moves keep their sign and size
    text = [["" if not np.isfinite(v) else f"{0.0 if abs(v) < 0.5 * 10 ** -(digits + 2) else v:.{digits}%}"
             for v in row] for row in z]
    fig = _figure(go.Heatmap(
        z=_cells(z), **_grid(months, years), text=text, texttemplate="%{text}",
        colorscale=RETURN_SCALE, zmid=0, zmin=-bound, zmax=bound, xgap=2, ygap=2, hoverongaps=False,
        colorbar=dict(title=dict(text="return"), tickformat=_percent_format(bound), thickness=14, len=1,
                      lenmode="fraction", nticks=5),
        hovertemplate="%{customdata[0]} %{customdata[1]}: %{z:.2%}<extra></extra>"))
    _layout(fig, title=title + " (month-end equity over the previous month-end; first month from the holdout start)",
            height=max(230, 150 + 45 * len(years)), hovermode="closest")
    _grid_axes(fig, months, years, x=dict(title_text="month"), y=dict(title_text="year"))
    return fig


def rolling_sharpe_figure(equity: pd.Series | None, *, window: int = ROLLING_SHARPE_DAYS,
                          title: str | None = None) -> go.Figure | None:
    """:func:`rolling_sharpe` on a date axis with the zero line; gaps where a window was flat."""
    sharpe = rolling_sharpe(equity, window) if equity is not None else pd.Series(dtype="float64")
    if not sharpe.notna().any():
        return None
    fig = _figure(go.Scatter(x=_utc_naive(sharpe.index), y=sharpe.to_numpy(), mode="lines",
                               name=f"{window}-day Sharpe", line=dict(color=EQUITY_COLOR, width=1.4),
                               hovertemplate="%{y:.2f}<extra>" + f"{window}-day Sharpe</extra>"))
    fig.add_hline(y=0, line=dict(color="#888", width=1))
    _layout(fig, title=title or f"Rolling {window}-day Sharpe of the holdout (annualised, sqrt(365); gaps: no "
                                f"return in {window} days)", height=260, showlegend=False)
    span = _utc_naive(_usable(equity).index)  # type: ignore[union-attr]
    _date_axis(fig, range=[span.min(), span.max()])  # lines up under the equity and drawdown charts
    fig.update_xaxes(hoverformat="%Y-%m-%d")
    fig.update_yaxes(title_text="Sharpe (annualised)", tickformat=".1f", zeroline=False)
    return fig


def _sharpe_text(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) and math.isfinite(value) else "n/a"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def walkforward_timeline_figure(periods: Sequence[Mapping] | None, *,
                                title: str = "Walk-forward windows (train grey, test coloured by its Sharpe)"
                                ) -> go.Figure | None:
    """Gantt-like: one row per period, its train span then its test span, test labelled with its Sharpe."""
    periods = [p for p in periods or [] if p.get("train_start") and p.get("test_end")]
    if not periods:
        return None
    labels = [f"period {p.get('index', i)}" for i, p in enumerate(periods)]

    def span(start_key: str, end_key: str) -> tuple[list, list]:
        starts = _utc_naive(pd.to_datetime([p[start_key] for p in periods], utc=True))
        ends = _utc_naive(pd.to_datetime([p[end_key] for p in periods], utc=True))
        return list(starts), [(e - s).total_seconds() * 1000 for s, e in zip(starts, ends, strict=True)]

    train_start, train_ms = span("train_start", "train_end")
    test_start, test_ms = span("test_start", "test_end")
    sharpe = [_number((p.get("test_metrics") or {}).get("sharpe")) for p in periods]
    bound = max([abs(v) for v in sharpe if v is not None] or [1.0])
    date_range = [f"{p['train_start'][:10]} .. {p['train_end'][:10]}" for p in periods]
    test_range = [f"{p['test_start'][:10]} .. {p['test_end'][:10]}" for p in periods]
    fig = _figure()
    fig.add_trace(go.Bar(y=labels, base=train_start, x=train_ms, orientation="h", name="train",
                         marker=dict(color=TRAIN_COLOR), customdata=date_range, text=["train"] * len(periods),
                         textposition="inside", insidetextanchor="middle",
                         hovertemplate="%{y} train %{customdata}<extra></extra>"))
    has = [i for i, v in enumerate(sharpe) if v is not None]
    if has:
        fig.add_trace(go.Bar(
            y=[labels[i] for i in has], base=[test_start[i] for i in has], x=[test_ms[i] for i in has],
            orientation="h", name="test", text=[f"Sharpe {sharpe[i]:.2f}" for i in has], textposition="inside",
            insidetextanchor="middle", customdata=[test_range[i] for i in has],
            marker=dict(color=[sharpe[i] for i in has], colorscale=RETURN_SCALE, cmid=0, cmin=-bound, cmax=bound,
                        colorbar=dict(title=dict(text="test Sharpe"), thickness=14), line=dict(color="#555", width=0.5)),
            hovertemplate="%{y} test %{customdata}: Sharpe %{marker.color:.2f}<extra></extra>"))
    missing = [i for i, v in enumerate(sharpe) if v is None]
    if missing:
        fig.add_trace(go.Bar(
            y=[labels[i] for i in missing], base=[test_start[i] for i in missing], x=[test_ms[i] for i in missing],
            orientation="h", name="test (no Sharpe)", text=["Sharpe n/a"] * len(missing), textposition="inside",
            insidetextanchor="middle", customdata=[test_range[i] for i in missing],
            marker=dict(color=NO_DATA_COLOR, line=dict(color="#999", width=0.5)),
            hovertemplate="%{y} test %{customdata}: no Sharpe (flat or no candles)<extra></extra>"))
    _layout(fig, title=title, height=max(240, 110 + 30 * len(periods)), barmode="overlay", showlegend=False,
            hovermode="closest")
    _date_axis(fig)
    fig.update_xaxes(hoverformat="%Y-%m-%d")
    fig.update_yaxes(autorange="reversed", type="category", title_text=None)
    return fig


def walkforward_sharpe_figure(periods: Sequence[Mapping] | None, *,
                              title: str = "Train vs test Sharpe per walk-forward period (annualised)"
                              ) -> go.Figure | None:
    """Grouped bars: each period's train Sharpe next to its test Sharpe (missing ones marked n/a)."""
    periods = list(periods or [])
    train = [_number((p.get("train_metrics") or {}).get("sharpe")) for p in periods]
    test = [_number((p.get("test_metrics") or {}).get("sharpe")) for p in periods]
    if not any(v is not None for v in train + test):
        return None
    labels = [f"{p.get('index', i)}<br>{str(p.get('test_start', ''))[:10]}" for i, p in enumerate(periods)]
    fig = _figure()
    for name, values, color in (("train", train, TRAIN_COLOR), ("test", test, TEST_COLOR)):
        fig.add_trace(go.Bar(x=labels, y=values, name=f"{name} Sharpe", marker=dict(color=color),
                             text=[_sharpe_text(v) for v in values], textposition="outside", cliponaxis=False,
                             hovertemplate="%{y:.2f}<extra>" + name + "</extra>"))
    _layout(fig, title=title, height=320, barmode="group")
    fig.update_xaxes(title_text="walk-forward period (test window start)", type="category")
    fig.update_yaxes(title_text="Sharpe (annualised)", zeroline=True, zerolinecolor="#888")
    return fig


def montecarlo_figure(paths: Mapping[str, Sequence[float]] | None, observed: Mapping[str, Any] | None = None, *,
                      title: str = "Bootstrap of the holdout positions") -> go.Figure | None:
    """Histograms of the resampled final return and max drawdown, each with its observed value marked."""
    paths, observed = paths or {}, observed or {}
    panels = []
    for key, label in (("final_return", "final return"), ("max_drawdown", "max drawdown")):
        values = np.asarray(paths.get(key) or [], dtype="float64")
        values = values[np.isfinite(values)]
        if values.size:
            panels.append((label, values, _number((observed.get(key) or {}).get("observed"))))
    if not panels:
        return None
    fig = make_subplots(figure=_figure(), rows=1, cols=len(panels), horizontal_spacing=0.1)
    for col, (label, values, mark) in enumerate(panels, start=1):
        lo, hi = float(values.min()), float(values.max())
        if mark is not None:
            lo, hi = min(lo, mark), max(hi, mark)
        if hi - lo < MC_MIN_SPREAD:
            # every resample the same (one position, or all alike): plotly's default bin would span +-50 %,
            # and a 1e-6 axis would only show rounding; centre a readable window on the value instead
            centre = (lo + hi) / 2
            lo, hi = centre - max(abs(centre) * 0.5, 0.002), centre + max(abs(centre) * 0.5, 0.002)
            fig.add_annotation(text="all resamples equal", xref=f"x{col if col > 1 else ''} domain",
                               yref=f"y{col if col > 1 else ''} domain", x=0.02, y=0.5, xanchor="left",
                               showarrow=False, font=dict(size=11, color="#555"))
        width = (hi - lo) / 40
        fig.add_trace(go.Histogram(
            x=values, xbins=dict(start=lo, end=hi + width, size=width), name=label,
            marker=dict(color=EQUITY_COLOR, line=dict(color="white", width=0.5)),
            hovertemplate=label + " %{x}<br>%{y} resamples<extra></extra>"), row=1, col=col)
        pad = (hi - lo) * 0.05
        if mark is not None:
            side = "left" if mark > (lo + hi) / 2 else "right"  # the label stays inside the panel
            fig.add_vline(x=mark, line=dict(color=OBSERVED_COLOR, width=2, dash="dash"), row=1, col=col,
                          annotation=dict(text=f"observed {mark:.2%}", font=dict(size=11), bgcolor="white"),
                          annotation_position=f"top {side}")
        fig.update_xaxes(title_text=f"{label} (fraction of starting equity)", hoverformat=".2%",
                         tickformat=_percent_format(hi - lo + 2 * pad), range=[lo - pad, hi + pad], row=1, col=col)
        fig.update_yaxes(title_text="resamples", row=1, col=col)
    _layout(fig, title=f"{title} ({panels[0][1].size} resamples; dashed line: the holdout as observed)",
            height=340, showlegend=False, hovermode="closest", bargap=0.02)
    return fig


def neighbourhood_figure(neighbourhood: Mapping | None, chosen: Mapping[str, Any] | None = None, *,
                         objective: str = "Sharpe",
                         title: str = "Objective around the chosen parameters (research data)") -> go.Figure | None:
    """The (x, y) grid of the objective with a colour bar centred at 0 and the chosen point marked.

    ``chosen`` holds the final parameters; without it (or when they are off the grid) the mark goes on
    the cell whose value is the neighbourhood's ``best_value``. Untried cells stay grey ("not tried").
    """
    if not neighbourhood or not neighbourhood.get("z") or not neighbourhood.get("x_values"):
        return None
    x_param, y_param = str(neighbourhood["x_param"]), str(neighbourhood["y_param"])
    x_labels = [_value_label(v) for v in neighbourhood["x_values"]]
    y_labels = [_value_label(v) for v in neighbourhood["y_values"]]
    z = np.array([[_number(v) if _number(v) is not None else np.nan for v in row] for row in neighbourhood["z"]],
                 dtype="float64")
    if not np.isfinite(z).any():
        return None
    bound = float(np.nanmax(np.abs(z))) or 1.0
    text = [["" if not np.isfinite(v) else f"{v:.2f}" for v in row] for row in z]
    fig = _figure(_missing_cells(x_labels, y_labels, z, "not tried",
                                   f"{x_param} = %{{customdata[0]}}, {y_param} = %{{customdata[1]}}: not tried"))
    fig.add_trace(go.Heatmap(
        z=_cells(z), **_grid(x_labels, y_labels), text=text, texttemplate="%{text}",
        colorscale=RETURN_SCALE, zmid=0, zmin=-bound, zmax=bound, xgap=2, ygap=2, hoverongaps=False,
        colorbar=dict(title=dict(text=objective), thickness=14),
        hovertemplate=f"{x_param} = %{{customdata[0]}}<br>{y_param} = %{{customdata[1]}}<br>"
                      f"{objective} %{{z:.3f}}<extra></extra>"))
    point = _chosen_cell(neighbourhood, chosen, z)
    if point is not None:
        row, col = point
        fig.add_shape(type="rect", x0=col - 0.47, x1=col + 0.47, y0=row - 0.47, y1=row + 0.47,
                      line=dict(color=OBSERVED_COLOR, width=3))
        fig.add_annotation(x=col, y=row - 0.47, text="<b>chosen</b>", showarrow=False, yanchor="top", yshift=-3,
                           font=dict(size=11, color=OBSERVED_COLOR), bgcolor="rgba(255,255,255,0.8)")
    fixed = ", ".join(f"{k}={_value_label(v)}" for k, v in (neighbourhood.get("fixed") or {}).items())
    _layout(fig, title=title, height=170 + 70 * len(y_labels), hovermode="closest", showlegend=False)
    _grid_axes(fig, x_labels, y_labels, x=dict(title_text=x_param), y=dict(title_text=y_param))
    if fixed:
        fig.update_layout(margin=dict(b=95))
        fig.add_annotation(text=f"other parameters fixed at the chosen values: {html.escape(fixed)}", xref="paper",
                           yref="paper", x=0, y=0, yshift=-62, xanchor="left", yanchor="top", showarrow=False,
                           font=dict(size=11, color="#555"))
    return fig


def _missing_cells(x: Sequence[str], y: Sequence[str], z: np.ndarray, label: str, hover: str) -> go.Heatmap:
    """A grey layer, labelled, under the cells that have no value (the value layer leaves them as gaps)."""
    missing = ~np.isfinite(z)
    return go.Heatmap(z=[[0.0 if m else None for m in row] for row in missing], **_grid(x, y), showscale=False, xgap=2, ygap=2,
                      colorscale=[[0, NO_DATA_COLOR], [1, NO_DATA_COLOR]], hoverongaps=False,
                      text=[[label if m else "" for m in row] for row in missing], texttemplate="%{text}",
                      textfont=dict(color="#666"), hovertemplate=hover + "<extra></extra>")


def _value_label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    return str(value)


def _chosen_cell(neighbourhood: Mapping, chosen: Mapping[str, Any] | None, z: np.ndarray) -> tuple[int, int] | None:
    """(row, column) of the chosen parameters on the grid, else of ``best_value``; None if neither is there."""
    x_values, y_values = list(neighbourhood["x_values"]), list(neighbourhood["y_values"])
    if chosen and chosen.get(neighbourhood["x_param"]) in x_values and chosen.get(neighbourhood["y_param"]) in y_values:
        return y_values.index(chosen[neighbourhood["y_param"]]), x_values.index(chosen[neighbourhood["x_param"]])
    best = _number(neighbourhood.get("best_value"))
    if best is None:
        return None
    hits = np.argwhere(np.isclose(z, best, rtol=0, atol=1e-12))
    return (int(hits[0][0]), int(hits[0][1])) if len(hits) else None


# --------------------------------------------------------------------------- report level
def portfolio_figure(equity: pd.Series | None, drawdown: pd.Series | None, *,
                     title: str = "Candidates together: portfolio equity and drawdown") -> go.Figure | None:
    """Equity above its underwater curve on one shared date axis (zooming one zooms both)."""
    equity, drawdown = _usable(equity), _usable(drawdown)
    if equity is None:
        return None
    rows = 2 if drawdown is not None else 1
    fig = make_subplots(figure=_figure(), rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        row_heights=[0.68, 0.32] if rows == 2 else [1.0])
    fig.add_trace(go.Scatter(x=_utc_naive(equity.index), y=equity.to_numpy(), mode="lines", name="equity",
                             line=dict(color=EQUITY_COLOR, width=1.6), hovertemplate="%{y:,.0f}"), row=1, col=1)
    fig.update_yaxes(title_text="equity (account currency)", tickformat=",.0f", row=1, col=1)
    if drawdown is not None:
        fig.add_trace(go.Scatter(x=_utc_naive(drawdown.index), y=-np.abs(drawdown.to_numpy()), mode="lines",
                                 name="drawdown", fill="tozeroy", line=dict(color=DRAWDOWN_COLOR, width=1.2),
                                 fillcolor="rgba(214, 39, 40, 0.25)", hovertemplate="%{y:.2%}"), row=2, col=1)
        fig.update_yaxes(title_text="below peak", tickformat=_percent_format(float(drawdown.abs().max())), row=2,
                         col=1)
    _layout(fig, title=title, height=460 if rows == 2 else 320, showlegend=False)
    _date_axis(fig)
    fig.update_xaxes(title_text=None, row=1, col=1)
    fig.update_xaxes(hoverformat="%Y-%m-%d")
    return fig


#: Indicators drawn over the candles (in price units); the others (RSI, ATR, ADX, volume) are not overlaid.
PRICE_INDICATORS = ("ema", "sma", "bbands", "vwap_daily", "vwap_rolling")
#: A candle chart keeps at most this many candles; longer runs are shown on coarser candles (OHLC aggregated).
MAX_CANDLES = 1500


def coarser_candles(candles: pd.DataFrame, max_candles: int = MAX_CANDLES) -> pd.DataFrame:
    """The candles aggregated (first open, max high, min low, last close) to at most ``max_candles`` bars."""
    if len(candles) <= max_candles or len(candles) < 2:
        return candles
    bar = pd.Series(candles.index).diff().median()
    rule = bar * math.ceil(len(candles) / max_candles)
    grouped = candles.resample(rule, origin="start")
    out = pd.DataFrame({"open": grouped["open"].first(), "high": grouped["high"].max(),
                        "low": grouped["low"].min(), "close": grouped["close"].last()})
    return out.dropna(subset=["close"])


def price_trades_figure(candles: pd.DataFrame | None, trades: pd.DataFrame | None,
                        indicators: Mapping[str, pd.Series] | None = None, *, title: str) -> go.Figure | None:
    """Candles with the strategy's price indicators and every trade leg's entry (triangle up for a long,
    down for a short) and exit (x, green for a gain, red for a loss), hover with price, P&L and reason."""
    if candles is None or candles.empty:
        return None
    shown = coarser_candles(candles)
    x = _utc_naive(shown.index)
    fig = _figure(go.Candlestick(x=x, open=shown["open"], high=shown["high"], low=shown["low"],
                                   close=shown["close"], name="price", increasing_line_color="#26a69a",
                                   decreasing_line_color="#ef5350", showlegend=False))
    for i, (name, series) in enumerate((indicators or {}).items()):
        series = _usable(series)
        if series is None:
            continue
        series = series.reindex(shown.index, method="ffill") if len(shown) < len(candles) else series
        fig.add_trace(go.Scatter(x=_utc_naive(series.index), y=series.to_numpy(), mode="lines", name=name,
                                 line=dict(width=1.1, color=PALETTE[(i + 2) % len(PALETTE)]),
                                 hovertemplate="%{y:,.4g}<extra>" + html.escape(name) + "</extra>"))
    if trades is not None and len(trades):
        long = trades["side"] == "long"
        for mask, symbol, label in ((long, "triangle-up", "long entry"), (~long, "triangle-down", "short entry")):
            legs = trades[mask]
            if len(legs):
                fig.add_trace(go.Scatter(
                    x=_utc_naive(pd.DatetimeIndex(legs["entry_time"])), y=legs["entry_price"], mode="markers",
                    name=label, marker=dict(symbol=symbol, size=10, color="#1f77b4", line=dict(width=1, color="#fff")),
                    hovertemplate="entry %{y:,.4g}<extra>" + label + "</extra>"))
        gains = trades["pnl"] > 0
        for mask, color, label in ((gains, "#2ca02c", "exit with a gain"), (~gains, "#d62728", "exit with a loss")):
            legs = trades[mask]
            if len(legs):
                fig.add_trace(go.Scatter(
                    x=_utc_naive(pd.DatetimeIndex(legs["exit_time"])), y=legs["exit_price"], mode="markers",
                    name=label, marker=dict(symbol="x", size=9, color=color),
                    customdata=np.stack([legs["pnl"].to_numpy(dtype=float), legs["exit_reason"].astype(str)], axis=1),
                    hovertemplate="exit %{y:,.4g}, P&L %{customdata[0]:,.2f} (%{customdata[1]})<extra></extra>"))
    _layout(fig, title=title + (f" ({len(candles)} bars shown as {len(shown)} candles)"
                                if len(shown) < len(candles) else ""), height=440, hovermode="closest",
            legend=dict(orientation="h", y=-0.32, yanchor="top", x=0, xanchor="left"),
            margin=dict(l=70, r=30, t=50, b=110))
    _date_axis(fig, rangeslider=dict(visible=False))
    fig.update_yaxes(title_text="price (quote currency)")
    return fig


def equity_benchmark_figure(equity: pd.Series | None, benchmark: pd.Series | None, *,
                            title: str = "Equity against buy-and-hold of the universe") -> go.Figure | None:
    """The run's equity and an equal-weight buy-and-hold of its symbols started with the same capital."""
    equity = _usable(equity)
    if equity is None:
        return None
    fig = _figure(go.Scatter(x=_utc_naive(equity.index), y=equity.to_numpy(), mode="lines", name="strategy",
                               line=dict(color=EQUITY_COLOR, width=1.6), hovertemplate="%{y:,.0f}"))
    benchmark = _usable(benchmark)
    if benchmark is not None:
        fig.add_trace(go.Scatter(x=_utc_naive(benchmark.index), y=benchmark.to_numpy(), mode="lines",
                                 name="buy and hold (equal weight)", line=dict(color="#7f7f7f", width=1.2, dash="dot"),
                                 hovertemplate="%{y:,.0f}"))
    _layout(fig, title=title, height=340)
    _date_axis(fig)
    fig.update_yaxes(title_text="equity (account currency)", tickformat=",.0f")
    return fig


def montecarlo_fan_figure(fan: Mapping | None, *,
                          title: str = "Monte Carlo fan: equity paths of resampled holdout positions") -> go.Figure | None:
    """Percentile bands (5-95 %, 25-75 %) and the median of the bootstrap's compounded paths, position by
    position, with the holdout as observed (``fan``: ``{"step": [...], "p5": [...], ..., "observed": [...]}``)."""
    if not fan or not fan.get("step"):
        return None
    step = list(fan["step"])
    fig = _figure()
    for low, high, alpha in (("p5", "p95", 0.15), ("p25", "p75", 0.3)):
        fig.add_trace(go.Scatter(x=step, y=fan[high], mode="lines", line=dict(width=0), showlegend=False,
                                 hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=step, y=fan[low], mode="lines", line=dict(width=0), fill="tonexty",
                                 fillcolor=f"rgba(31, 119, 180, {alpha})", name=f"{low[1:]}-{high[1:]} %",
                                 hovertemplate="%{y:.1%}"))
    fig.add_trace(go.Scatter(x=step, y=fan["p50"], mode="lines", name="median", line=dict(color=EQUITY_COLOR),
                             hovertemplate="%{y:.1%}"))
    if fan.get("observed"):
        fig.add_trace(go.Scatter(x=step, y=fan["observed"], mode="lines", name="as observed",
                                 line=dict(color=OBSERVED_COLOR, dash="dash"), hovertemplate="%{y:.1%}"))
    _layout(fig, title=title, height=340)
    fig.update_xaxes(title_text="positions closed")
    fig.update_yaxes(title_text="return on the starting equity", tickformat=".1%")
    return fig


#: Small multiples of the stress windows: columns per row, and the height of one row.
STRESS_COLUMNS, STRESS_ROW_HEIGHT = 3, 210
USD_COLOR, OUTAGE_COLOR = "#9467bd", "rgba(255, 127, 14, 0.22)"


def _wrapped(text: str, width: int = 34) -> str:
    """``text`` broken into lines of at most ``width`` characters at spaces (Plotly titles do not wrap)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def _since_start(points: Mapping | None) -> pd.Series | None:
    """A stored equity curve as the return since its first point (the window's baseline)."""
    if not points or len(points.get("equity") or []) < 2 or not points["equity"][0]:
        return None
    values = np.asarray(points["equity"], dtype=float)
    return pd.Series(values / values[0] - 1.0, index=_utc_naive(pd.to_datetime(points["timestamps"], utc=True)))


def capacity_figure(curve: Mapping | None, *,
                    title: str = "Capacity: the holdout at each starting capital (volume-share costs)") -> go.Figure | None:
    """Sharpe ratio and total return against starting capital (log axis), the capacity marked."""
    points = [p for p in (curve or {}).get("points") or [] if p.get("capital")]
    if len(points) < 2:
        return None
    capitals = [float(p["capital"]) for p in points]
    fig = make_subplots(figure=_figure(), rows=1, cols=2, subplot_titles=("Sharpe ratio", "Total return"), horizontal_spacing=0.12)
    for col, key, fmt in ((1, "sharpe_ratio", ".2f"), (2, "total_return", ".1%")):
        values = [p.get(key) if p.get("n_trades") else None for p in points]  # no position: no point
        fig.add_trace(go.Scatter(
            x=capitals, y=[np.nan if v is None else float(v) for v in values], mode="lines+markers",
            line=dict(color=EQUITY_COLOR), marker=dict(size=8), showlegend=False,
            customdata=[[p.get("n_trades"), p.get("slippage_per_traded")] for p in points],
            hovertemplate=(f"capital %{{x:,.0f}}: %{{y:{fmt}}}<br>%{{customdata[0]}} positions, slippage "
                           "%{customdata[1]:.2%} of the value traded<extra></extra>")), row=1, col=col)
        fig.add_hline(y=0, line=dict(color="#888", width=1), row=1, col=col)
    capacity = (curve or {}).get("capacity")
    if capacity:
        for col in (1, 2):
            fig.add_vline(x=float(capacity), line=dict(color=TEST_COLOR, dash="dash"), row=1, col=col)
        fig.add_annotation(x=math.log10(float(capacity)), y=1.0, yref="paper", xref="x", showarrow=False,
                           text="capacity", font=dict(color=TEST_COLOR), yanchor="bottom")
    _layout(fig, title=title, height=320, hovermode="closest")
    fig.update_xaxes(type="log", title_text="starting capital (USDT)", tickformat="~s")
    fig.update_yaxes(tickformat=".2f", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", row=1, col=2)
    return fig


def _quiet(window: Mapping) -> str:
    """", no trade" for a window in which the strategy neither opened nor closed a position."""
    activity = window.get("activity")
    return ", no trade" if activity and not activity.get("opened") and not activity.get("closed") else ""


def stress_windows_figure(windows: Sequence[Mapping] | None, *,
                          title: str = "Each stress window: return since the window opened") -> go.Figure | None:
    """One small chart per stress window (``analytics.stress_services`` results): the return since the window
    opened (from the equity on the last bar before it), the USD-marked return for a quote-coin depeg, the outage
    hours shaded. The subplot title says the window and its basis (real or proxy candles)."""
    shown = [w for w in windows or [] if w.get("status") == "ok" and _since_start(w.get("equity")) is not None]
    if not shown:
        return None
    cols = min(STRESS_COLUMNS, len(shown))
    rows = -(-len(shown) // cols)
    titles = [_wrapped(f"{w['name']} ({w.get('basis', 'real')}{_quiet(w)})") for w in shown]
    fig = make_subplots(figure=_figure(), rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.07,
                        vertical_spacing=min(0.5 / rows, 0.34 / max(rows - 1, 1)) if rows > 1 else 0.1)
    legend_done: set[str] = set()
    for i, window in enumerate(shown):
        row, col = i // cols + 1, i % cols + 1
        curves = [("equity in the quote coin (USDT)", _since_start(window["equity"]), EQUITY_COLOR, "solid")]
        if window.get("usd"):
            curves.append(("equity in USD (quote-coin depeg)", _since_start(window.get("equity_usd")), USD_COLOR,
                           "dot"))
        for label, series, color, dash in curves:
            if series is None:
                continue
            fig.add_trace(go.Scatter(x=series.index, y=series.to_numpy(), mode="lines", name=label,
                                     legendgroup=label, showlegend=label not in legend_done,
                                     line=dict(color=color, width=1.5, dash=dash), hovertemplate="%{y:.2%}"),
                          row=row, col=col)
            legend_done.add(label)
        outage = window.get("outage")
        if outage:
            fig.add_vrect(x0=_utc_naive(pd.DatetimeIndex([outage["start"]]))[0],
                          x1=_utc_naive(pd.DatetimeIndex([outage["end"]]))[0], fillcolor=OUTAGE_COLOR, line_width=0,
                          row=row, col=col)
        values = np.concatenate([c[1].to_numpy() for c in curves if c[1] is not None])
        low, high = float(np.nanmin(values)), float(np.nanmax(values))
        flat = high - low < 1e-4  # a flat line: a fixed +-0.1% axis instead of Plotly's +-100%
        fig.update_yaxes(tickformat=_percent_format(max(high - low, 2e-3)), row=row, col=col, zeroline=True,
                         zerolinecolor="#bbb", **({"range": [low - 1e-3, high + 1e-3]} if flat else {}))
    if any(w.get("outage") for w in shown):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="exchange outage (no fills)",
                                 marker=dict(size=12, symbol="square", color=OUTAGE_COLOR)))
    fig.update_annotations(font_size=11)
    _layout(fig, title=title, height=110 + STRESS_ROW_HEIGHT * rows, margin=dict(l=60, r=20, t=60, b=70),
            hovermode="x", legend=dict(orientation="h", y=-70 / (STRESS_ROW_HEIGHT * rows), yanchor="top", x=0,
                                       xanchor="left"))
    fig.update_xaxes(type="date", tickformat="%b %d", hoverformat="%Y-%m-%d %H:%M", nticks=5)
    return fig


def correlation_figure(correlation: Mapping | pd.DataFrame | None, *,
                       title: str = "Correlation of holdout daily returns") -> go.Figure | None:
    """The strategies' correlation matrix with full names, a -1..1 colour bar and every value printed."""
    if correlation is None:
        return None
    matrix = correlation if isinstance(correlation, pd.DataFrame) else pd.DataFrame(correlation)
    matrix = matrix.astype("float64")
    if matrix.empty:
        return None
    matrix = matrix.reindex(index=matrix.columns)
    names = [str(name) for name in matrix.columns]
    z = matrix.to_numpy(dtype="float64")
    text = [["" if not np.isfinite(v) else f"{0.0 if abs(v) < 0.005 else v:.2f}" for v in row] for row in z]
    fig = _figure(_missing_cells(names, names, z, "n/a",
                                   "%{customdata[1]} vs %{customdata[0]}: n/a (not computed)"))
    fig.add_trace(go.Heatmap(
        z=_cells(z), **_grid(names, names), text=text, texttemplate="%{text}",
        colorscale=CORRELATION_SCALE, zmin=-1, zmax=1, zmid=0, xgap=2, ygap=2, hoverongaps=False,
        colorbar=dict(title=dict(text="correlation"), tickvals=[-1, -0.5, 0, 0.5, 1], thickness=14),
        hovertemplate="%{customdata[1]} vs %{customdata[0]}: %{z:.2f}<extra></extra>"))
    _layout(fig, title=title, height=220 + 55 * len(names), hovermode="closest")
    _grid_axes(fig, names, names, x=dict(tickangle=-30))
    return fig


# --------------------------------------------------------------------------- SVG (the admin's run detail)
# The admin's backtest detail page draws its equity and drawdown with this dependency-free line chart.


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
