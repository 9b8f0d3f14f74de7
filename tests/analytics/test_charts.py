"""The report's figure builders: their numbers equal a direct computation, missing data gives no chart, and the
admin's SVG line chart stays valid."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from analytics import charts
from analytics.charts import line_chart, monthly_returns, rolling_sharpe


def _equity(values, start="2024-01-01", freq="D") -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq=freq, tz="UTC"), dtype="float64")


# --------------------------------------------------------------------------- monthly returns
def test_monthly_returns_equal_a_hand_computation():
    # 2024-01-30 .. 2024-03-02: the first month is measured from the first point, later months from the
    # previous month-end
    index = pd.to_datetime(["2024-01-30", "2024-01-31", "2024-02-15", "2024-02-29", "2024-03-01", "2024-03-02"],
                           utc=True)
    equity = pd.Series([100.0, 110.0, 90.0, 99.0, 100.0, 108.9], index=index)
    table = monthly_returns(equity)
    assert list(table.columns) == list(range(1, 13)) and list(table.index) == [2024]
    assert table.loc[2024, 1] == pytest.approx(110 / 100 - 1)
    assert table.loc[2024, 2] == pytest.approx(99 / 110 - 1)
    assert table.loc[2024, 3] == pytest.approx(108.9 / 99 - 1)
    assert table.loc[2024, 4:].isna().all()


def test_monthly_returns_span_years_and_compound_to_the_total():
    equity = _equity(np.linspace(100, 150, 120), start="2023-11-15")
    table = monthly_returns(equity)
    assert list(table.index) == [2023, 2024]
    compounded = np.nanprod(1 + table.to_numpy(dtype="float64")) - 1
    assert compounded == pytest.approx(150 / 100 - 1)


def test_monthly_figure_is_centred_at_zero_and_prints_percentages():
    fig = charts.monthly_returns_figure(_equity([100, 101, 99, 98, 103] * 20))
    heatmap = fig.data[0]
    assert heatmap.zmid == 0 and heatmap.zmin == -heatmap.zmax
    assert all(text.endswith("%") for row in heatmap.text for text in row if text)
    assert list(fig.layout.xaxis.ticktext) == ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                               "Nov", "Dec"]


# --------------------------------------------------------------------------- rolling Sharpe
def test_rolling_sharpe_equals_a_direct_computation():
    rng = np.random.default_rng(3)
    equity = _equity(100 * np.cumprod(1 + rng.normal(0.001, 0.02, 120)))
    sharpe = rolling_sharpe(equity, window=30)
    returns = equity.pct_change().dropna()  # one point a day: daily returns are plain pct_change
    assert len(sharpe) == len(returns) - 29
    for end in (29, 60, len(returns) - 1):
        window = returns.iloc[end - 29:end + 1].to_numpy()
        expected = window.mean() / window.std(ddof=1) * math.sqrt(365)
        assert sharpe.loc[returns.index[end]] == pytest.approx(expected)


def test_rolling_sharpe_of_a_flat_window_is_undefined_not_rounding_noise():
    equity = _equity([100.0, 103.0, 99.0, 104.0] + [104.0] * 60)
    sharpe = rolling_sharpe(equity, window=10)
    assert sharpe.loc["2024-01-20":].isna().all()  # no return left in the window: a gap, not "Sharpe -3.5"


def test_rolling_sharpe_needs_a_full_window():
    assert rolling_sharpe(_equity([100, 101, 102]), window=30).empty
    assert charts.rolling_sharpe_figure(_equity([100, 101, 102])) is None


# --------------------------------------------------------------------------- neighbourhood
NEIGHBOURHOOD = {"x_param": "rsi_high", "y_param": "volume_ratio_min", "x_values": [65.0, 70.0, 75.0],
                 "y_values": [1.0, 1.2, 1.4], "z": [[-0.77, -0.75, -0.48], [-0.75, None, -0.53], [-0.71, -1.05, -0.76]],
                 "fixed": {"ema_fast": 20}, "best_value": -0.48}


def test_neighbourhood_marks_the_chosen_point_and_keeps_labels_and_colour_bar():
    fig = charts.neighbourhood_figure(NEIGHBOURHOOD, {"rsi_high": 75.0, "volume_ratio_min": 1.0})
    values = fig.data[1]
    assert values.zmid == 0 and values.showscale is not False and values.colorbar.title.text
    assert list(fig.layout.xaxis.ticktext) == ["65.0", "70.0", "75.0"]
    assert list(fig.layout.yaxis.ticktext) == ["1.0", "1.2", "1.4"]
    assert fig.layout.xaxis.title.text == "rsi_high" and fig.layout.yaxis.title.text == "volume_ratio_min"
    (mark,) = fig.layout.shapes
    # column 2 (rsi_high 75), row 0 (volume_ratio_min 1.0)
    assert (mark.x0 + mark.x1) / 2 == pytest.approx(2) and (mark.y0 + mark.y1) / 2 == pytest.approx(0)
    assert any(a.text == "<b>chosen</b>" for a in fig.layout.annotations)
    # the untried cell is a gap of the value layer and labelled on the grey layer under it
    assert values.z[1][1] is None and fig.data[0].text[1][1] == "not tried"


def test_neighbourhood_without_chosen_parameters_marks_the_best_value():
    (mark,) = charts.neighbourhood_figure(NEIGHBOURHOOD).layout.shapes
    assert (mark.x0 + mark.x1) / 2 == pytest.approx(2) and (mark.y0 + mark.y1) / 2 == pytest.approx(0)


# --------------------------------------------------------------------------- Monte Carlo, walk-forward, report level
def test_montecarlo_histograms_have_axes_and_the_observed_value_marked():
    rng = np.random.default_rng(0)
    paths = {"final_return": rng.normal(0.02, 0.05, 300).tolist(), "max_drawdown": rng.uniform(0.01, 0.2, 300).tolist()}
    observed = {"final_return": {"observed": 0.031}, "max_drawdown": {"observed": 0.08}}
    fig = charts.montecarlo_figure(paths, observed)
    assert [trace.type for trace in fig.data] == ["histogram", "histogram"]
    assert sum(len(trace.x) for trace in fig.data) == 600
    assert fig.layout.xaxis.tickformat.endswith("%") and fig.layout.yaxis.title.text == "resamples"
    assert [shape.x0 for shape in fig.layout.shapes] == [0.031, 0.08]
    assert {a.text for a in fig.layout.annotations} >= {"observed 3.10%", "observed 8.00%"}


def test_montecarlo_of_identical_resamples_gets_a_readable_axis():
    fig = charts.montecarlo_figure({"final_return": [-0.005433] * 50}, {"final_return": {"observed": -0.0054334}})
    low, high = fig.layout.xaxis.range
    assert high - low > 0.003  # not a 1e-6 window of rounding, nor plotly's default +-50 % bin
    assert any(a.text == "all resamples equal" for a in fig.layout.annotations)


PERIODS = [{"index": i, "train_start": f"2022-0{1 + i}-01T00:00:00+00:00", "train_end": f"2022-0{4 + i}-01T00:00:00+00:00",
            "test_start": f"2022-0{4 + i}-01T00:00:00+00:00", "test_end": f"2022-0{5 + i}-01T00:00:00+00:00",
            "train_metrics": {"sharpe": 1.0 + i}, "test_metrics": {"sharpe": sharpe} if sharpe is not None else {}}
           for i, sharpe in enumerate([0.5, None, -1.2])]


def test_walkforward_timeline_has_train_and_test_spans_with_the_test_sharpe():
    fig = charts.walkforward_timeline_figure(PERIODS)
    train, test, missing = fig.data
    assert list(train.y) == ["period 0", "period 1", "period 2"]
    day = 24 * 3600 * 1000
    assert train.x[0] == 90 * day and test.x[0] == 30 * day  # 2022-01-01 .. 04-01, then .. 05-01
    assert list(test.text) == ["Sharpe 0.50", "Sharpe -1.20"] and test.marker.cmid == 0
    assert list(missing.y) == ["period 1"] and list(missing.text) == ["Sharpe n/a"]


def test_walkforward_sharpe_bars_pair_train_and_test():
    train, test = charts.walkforward_sharpe_figure(PERIODS).data
    assert list(train.y) == [1.0, 2.0, 3.0] and list(test.y) == [0.5, None, -1.2]
    assert list(test.text) == ["0.50", "n/a", "-1.20"]


def test_correlation_has_full_names_a_fixed_scale_and_grey_missing_cells():
    names = ["defi_derivatives_momentum", "stable_lp_yield"]
    fig = charts.correlation_figure({names[0]: {names[0]: 1.0, names[1]: None}, names[1]: {names[0]: None,
                                                                                            names[1]: 1.0}})
    values = fig.data[1]
    assert list(fig.layout.xaxis.ticktext) == names == list(fig.layout.yaxis.ticktext)
    assert (values.zmin, values.zmax) == (-1, 1)
    assert values.z[0][1] is None and fig.data[0].text[0][1] == "n/a"


def test_portfolio_shares_one_date_axis_for_equity_and_drawdown():
    equity = _equity([100, 105, 95, 110])
    fig = charts.portfolio_figure(equity, _equity([0, 0, 0.0952, 0]))
    assert len(fig.data) == 2 and fig.layout.xaxis.matches == "x2"
    assert max(fig.data[1].y) <= 0  # underwater: below zero


def test_missing_data_gives_no_chart():
    empty = pd.Series(dtype="float64")
    assert charts.equity_figure(None) is None and charts.equity_figure(empty) is None
    assert charts.drawdown_figure(None) is None
    assert charts.monthly_returns_figure(None) is None and charts.monthly_returns_figure(_equity([100])) is None
    assert charts.walkforward_timeline_figure([]) is None and charts.walkforward_sharpe_figure(None) is None
    assert charts.walkforward_sharpe_figure([{"train_metrics": {}, "test_metrics": {}}]) is None
    assert charts.montecarlo_figure({}) is None and charts.montecarlo_figure({"final_return": []}) is None
    assert charts.neighbourhood_figure(None) is None
    assert charts.neighbourhood_figure({**NEIGHBOURHOOD, "z": [[None] * 3] * 3}) is None
    assert charts.portfolio_figure(None, None) is None
    assert charts.correlation_figure(None) is None and charts.correlation_figure({}) is None
    assert charts.figure_html(None, "chart-x") == ""


def test_figure_html_is_a_div_without_plotly_js():
    fragment = charts.figure_html(charts.equity_figure(_equity([100, 101, 102])), "chart-a-equity")
    assert 'id="chart-a-equity"' in fragment and "Plotly.newPlot" in fragment
    assert "width:100%" in fragment.replace(" ", "") and len(fragment) < 20_000  # the library is not in it
    assert len(charts.plotly_js()) > 1_000_000


# --------------------------------------------------------------------------- the admin's SVG line chart
def test_line_chart_draws_one_polyline_per_series_within_the_viewbox():
    idx = pd.date_range("2023-01-01", periods=1000, freq="h", tz="UTC")
    svg = line_chart({"a": pd.Series(np.linspace(1, 2, 1000), index=idx),
                      "b": pd.Series(np.linspace(2, 1, 1000), index=idx)}, title="Equity")
    root = ET.fromstring(svg)
    polylines = [el for el in root.iter() if el.tag.endswith("polyline")]
    assert len(polylines) == 2
    coords = [tuple(map(float, p.split(","))) for p in polylines[0].get("points").split()]
    assert len(coords) <= 600  # downsampled
    assert all(0 <= x <= 720 and 0 <= y <= 220 for x, y in coords)
    # a rising series goes up the screen (smaller y)
    assert coords[0][1] > coords[-1][1]


def test_line_chart_without_data_says_so():
    assert "no data" in line_chart({}, title="Equity")


def test_price_chart_marks_every_leg_and_coarsens_long_runs():
    import numpy as np
    import pandas as pd

    index = pd.date_range("2024-01-01", periods=4000, freq="1h", tz="UTC")
    close = pd.Series(100 + np.sin(np.arange(4000) / 50), index=index)
    candles = pd.DataFrame({"open": close, "high": close + 1, "low": close - 1, "close": close})
    trades = pd.DataFrame({"side": ["long", "short", "long"], "entry_time": index[[10, 100, 200]],
                           "entry_price": [100.0, 101.0, 99.0], "exit_time": index[[50, 150, 300]],
                           "exit_price": [101.0, 100.0, 98.0], "pnl": [1.0, 1.0, -1.0],
                           "exit_reason": ["signal", "signal", "stop_loss"]})
    fig = charts.price_trades_figure(candles, trades, {"sma_20": close.rolling(20).mean()}, title="BTC 1h")
    shown = fig.data[0]
    assert len(shown.x) <= charts.MAX_CANDLES and float(max(shown.high)) == float(candles["high"].max())
    markers = {trace.name: len(trace.x) for trace in fig.data[2:]}
    assert markers == {"long entry": 2, "short entry": 1, "exit with a gain": 2, "exit with a loss": 1}
    assert "4000 bars shown as" in fig.layout.title.text
    assert charts.price_trades_figure(candles.iloc[:0], trades, title="none") is None


def _stress_window(name: str, equity: list[float], **extra) -> dict:
    days = pd.date_range("2022-11-04", periods=len(equity), freq="1D", tz="UTC")
    return {"name": name, "status": "ok", "basis": "proxy",
            "equity": {"timestamps": [d.isoformat() for d in days], "equity": equity}, **extra}


def test_stress_chart_draws_one_small_chart_per_window_from_its_baseline():
    windows = [_stress_window("FTX collapse", [100_000.0, 95_000.0, 97_000.0]),
               {"name": "COVID", "status": "no data", "equity": {}},
               _stress_window("Flat window", [100_000.0, 100_000.0, 100_000.0]),
               _stress_window("SVB with a depeg", [100_000.0, 100_000.0],
                              usd={"return": -0.1}, equity_usd={"timestamps": ["2022-11-04T00:00:00+00:00",
                                                                               "2022-11-05T00:00:00+00:00"],
                                                                "equity": [100_000.0, 90_000.0]}),
               _stress_window("Outage", [100_000.0, 99_000.0],
                              outage={"start": "2022-11-04T06:00:00+00:00", "end": "2022-11-04T14:00:00+00:00"})]
    fig = charts.stress_windows_figure(windows)
    titles = [a.text for a in fig.layout.annotations]
    assert titles[:4] == ["FTX collapse (proxy)", "Flat window (proxy)", "SVB with a depeg (proxy)", "Outage (proxy)"]
    first = fig.data[0]
    assert list(first.y) == [0.0, pytest.approx(-0.05), pytest.approx(-0.03)]  # return since the window opened
    assert list(fig.layout.yaxis2.range) == [pytest.approx(-0.001), pytest.approx(0.001)]  # flat: not +-100%
    usd = [trace for trace in fig.data if (trace.name or "").startswith("equity in USD")]
    assert len(usd) == 1 and list(usd[0].y) == [0.0, pytest.approx(-0.1)]
    assert len(fig.layout.shapes) == 1 and fig.layout.shapes[0].fillcolor == charts.OUTAGE_COLOR
    assert sum(1 for trace in fig.data if trace.showlegend is not False) == 3  # one legend entry per meaning
    assert fig.layout.height == 110 + 2 * charts.STRESS_ROW_HEIGHT
    assert charts.stress_windows_figure([{"name": "COVID", "status": "no data"}]) is None
    assert charts.stress_windows_figure(None) is None


def test_a_written_figure_carries_the_house_template_its_object_does_not():
    """The white template is written into the figure's JSON (applying it to the object costs more than the chart):
    the page gets plotly_white's backgrounds and grid, the figure object holds none."""
    import json
    import re

    import plotly.io as pio

    equity = pd.Series(np.linspace(100, 110, 30), index=pd.date_range("2024-01-01", periods=30, freq="D", tz="UTC"))
    fig = charts.equity_figure(equity)
    assert fig.layout.template.layout.plot_bgcolor is None  # nothing applied to the object
    written = charts.figure_html(fig, "chart-x")
    spec = json.loads(re.search(r'"chart-x",\s*(\[.*?\]),\s*(\{.*?"template".*?\})\s*,\s*\{"responsive"',
                                written, re.S).group(2))
    white = pio.templates["plotly_white"].layout
    assert spec["template"]["layout"]["plot_bgcolor"] == white.plot_bgcolor == "white"
    assert spec["template"]["layout"]["xaxis"]["gridcolor"] == white.xaxis.gridcolor
    assert spec["height"] == 320 and spec["title"]["text"] == "Holdout equity"
