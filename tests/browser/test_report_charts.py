"""The research report's Plotly charts render offline: the report opened from disk (file://) in headless Chromium,
every chart drawn, nothing fetched from anywhere, no console errors. Screenshots in test-artifacts/screenshots/.

The report dict is tests/browser/data/research_report.json: a real run's report.json trimmed to three strategies
(its "_fixture" key says how), plus one synthetic failed strategy that must show no chart at all.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from analytics.report import render_html

pytestmark = pytest.mark.browser

FIXTURE = Path(__file__).parent / "data" / "research_report.json"
STRATEGY_CHARTS = ("equity", "drawdown", "monthly", "rolling-sharpe", "walkforward-timeline", "walkforward",
                   "montecarlo", "neighbourhood")


def _expected_ids(report: dict) -> set[str]:
    ids = {"chart-portfolio", "chart-correlation"}
    for name, result in report["strategies"].items():
        if result["status"] == "succeeded":
            ids |= {f"chart-{name.replace('_', '-')}-{kind}" for kind in STRATEGY_CHARTS}
    return ids


@pytest.fixture
def report_file(tmp_path) -> tuple[Path, dict]:
    report = json.loads(FIXTURE.read_text())
    path = tmp_path / "report.html"
    path.write_text(render_html(report), encoding="utf-8")
    return path, report


def test_every_chart_of_the_report_renders_offline(browser, screenshot, report_file):
    path, report = report_file
    html = path.read_text()
    head, body = html.split("</head>", 1)
    assert head.count("<script>") == 2 and "<script src" not in html  # plotly.js once, inline, in the head
    assert "Plotly.newPlot" not in head and body.count("Plotly.newPlot") == len(_expected_ids(report))
    browser.get(path.as_uri())
    expected = _expected_ids(report)
    assert len(expected) == 3 * len(STRATEGY_CHARTS) + 2
    WebDriverWait(browser, 60).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, ".js-plotly-plot svg.main-svg")) >= len(expected))
    divs = browser.find_elements(By.CSS_SELECTOR, ".plotly-graph-div")
    assert {div.get_attribute("id") for div in divs} == expected
    body_width = browser.execute_script("return document.body.clientWidth")
    for div in divs:
        assert "js-plotly-plot" in div.get_attribute("class"), div.get_attribute("id")
        assert div.find_elements(By.CSS_SELECTOR, "svg.main-svg"), div.get_attribute("id")
        assert 0 < div.size["width"] <= body_width and div.size["height"] >= 200, div.get_attribute("id")
    # drawn, not empty frames: every chart has its marks (lines, bars, heat-map cells)
    for div in divs:
        marks = div.find_elements(By.CSS_SELECTOR, "g.trace, g.hm, image")
        assert marks, f"{div.get_attribute('id')} has no trace drawn"
    # the failed strategy's section has no chart and no empty placeholder
    failed = browser.find_element(By.ID, "failed_example")
    assert "Not evaluated" in failed.text and not failed.find_elements(By.CSS_SELECTOR, ".plotly-graph-div")
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(url.startswith(("file://", "data:")) for url in loaded), loaded
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []

    for shot, element_id in (("report-charts-01-portfolio", "chart-portfolio"),
                             ("report-charts-02-correlation", "chart-correlation"),
                             ("report-charts-03-equity-drawdown", "chart-defi-derivatives-momentum-equity"),
                             ("report-charts-04-monthly-rolling-sharpe", "chart-defi-derivatives-momentum-monthly"),
                             ("report-charts-05-walkforward", "chart-curve-wars-walkforward-timeline"),
                             ("report-charts-06-neighbourhood", "chart-curve-wars-neighbourhood"),
                             ("report-charts-07-montecarlo", "chart-defi-derivatives-momentum-montecarlo"),
                             ("report-charts-08-montecarlo-one-position", "chart-curve-wars-montecarlo")):
        browser.execute_script("arguments[0].scrollIntoView();", browser.find_element(By.ID, element_id))
        screenshot(shot)


def test_hover_shows_the_date_and_value(browser, report_file):
    path, _ = report_file
    browser.get(path.as_uri())
    chart_id = "chart-defi-derivatives-momentum-equity"
    WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.CSS_SELECTOR, f"#{chart_id} svg.main-svg"))
    label = browser.execute_script("""
        const div = document.getElementById(arguments[0]);
        Plotly.Fx.hover(div, {xpx: 300, ypx: 100});
        return div.querySelector('.hoverlayer').textContent;""", chart_id)
    assert re.search(r"20\d\d-\d\d-\d\d", label) and re.search(r"\d{2,3},\d{3}", label), label
