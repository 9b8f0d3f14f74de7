"""An operator drives the admin in headless Chromium: logs in, starts a backtest and an ingestion, watches their
status and errors, opens a run's equity chart, compares two runs."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from backtests.models import BacktestConfig, ResearchJob, RunStatus
from tests.markers import committed_db

pytestmark = [pytest.mark.browser, committed_db]


def _login(browser, live_server):
    User.objects.create_superuser("operator", "op@example.com", "a-long-test-password")
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("operator")
    browser.find_element(By.NAME, "password").send_keys("a-long-test-password")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # the login page has #site-name too: waiting for it returned before the login was done, and the next page,
    # opened while the POST was still in flight, aborted it (the tests then met the login page: about 1 run in 3)
    WebDriverWait(browser, 20).until(EC.presence_of_element_located((By.ID, "user-tools")))


def _fill(browser, name: str, value: str) -> None:
    field = browser.find_element(By.NAME, name)
    field.clear()
    field.send_keys(value)


def _start_backtest(browser, live_server, name: str, stop_pct: float) -> BacktestConfig:
    browser.get(f"{live_server.url}/admin/backtests/backtestconfig/add/")
    _fill(browser, "name", name)
    Select(browser.find_element(By.NAME, "strategy")).select_by_value("sma_crossover")
    Select(browser.find_element(By.NAME, "symbols")).select_by_value("BTC")
    _fill(browser, "start_0", "2022-01-15")
    _fill(browser, "start_1", "00:00:00")
    _fill(browser, "end_0", "2022-05-01")
    _fill(browser, "end_1", "00:00:00")
    _fill(browser, "parameters", f'{{"stop_pct": {stop_pct}}}')
    browser.find_element(By.NAME, "_save").click()
    WebDriverWait(browser, 120).until(EC.presence_of_element_located((By.ID, "result_list")))
    return BacktestConfig.objects.get(name=name)


def test_operator_runs_inspects_and_compares_backtests(browser, live_server, screenshot, btc_candles_in_db):
    _login(browser, live_server)
    first = _start_backtest(browser, live_server, "browser run A", 0.05)
    second = _start_backtest(browser, live_server, "browser run B", 0.10)
    for config in (first, second):
        config.refresh_from_db()
        assert config.status == RunStatus.SUCCEEDED, config.error
    screenshot("01-backtest-list")
    assert "succeeded" in browser.find_element(By.ID, "result_list").text

    browser.get(f"{live_server.url}/admin/backtests/backtestconfig/{first.pk}/change/")
    WebDriverWait(browser, 30).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#run-candles-0 svg.main-svg")))
    rendered = {element.get_attribute("id") for element in browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")}
    assert rendered == {"run-equity", "run-drawdown", "run-monthly", "run-rolling-sharpe", "run-candles-0"}
    markers = browser.find_elements(By.CSS_SELECTOR, "#run-candles-0 .scatterlayer .point")
    assert len(markers) >= 2 * first.trades.count()  # every leg's entry and exit is marked
    assert [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == []
    assert "sma_crossover" in browser.page_source
    browser.execute_script("arguments[0].scrollIntoView();", browser.find_element(By.ID, "run-equity"))
    screenshot("02-run-detail-with-equity-and-drawdown")
    browser.execute_script("arguments[0].scrollIntoView();", browser.find_element(By.ID, "run-candles-0"))
    screenshot("02b-run-detail-candles-indicators-trades")

    browser.get(f"{live_server.url}/admin/backtests/backtestconfig/")
    for pk in (first.pk, second.pk):
        browser.find_element(By.CSS_SELECTOR, f"input[name=_selected_action][value='{pk}']").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("compare_runs")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    table = WebDriverWait(browser, 20).until(EC.presence_of_element_located((By.ID, "compare-table")))
    assert f"#{first.pk}" in table.text and f"#{second.pk}" in table.text
    screenshot("03-compare-runs")


def test_operator_sees_a_failed_ingestion_with_its_error(browser, live_server, screenshot, settings):
    settings.BINANCE_BASE_URL = "http://127.0.0.1:9"  # nothing listens: the job fails and says why
    _login(browser, live_server)
    browser.get(f"{live_server.url}/admin/backtests/researchjob/start-ingestion/")
    Select(browser.find_element(By.NAME, "symbols")).select_by_value("BTC")
    Select(browser.find_element(By.NAME, "timeframe")).select_by_value("1d")
    _fill(browser, "start", "2023-01-01 00:00")
    _fill(browser, "end", "2023-01-10 00:00")
    browser.find_element(By.NAME, "_queue").click()
    WebDriverWait(browser, 120).until(EC.url_contains("/change/"))
    job = ResearchJob.objects.get()
    assert job.status in {RunStatus.SUCCEEDED, RunStatus.FAILED}
    page = browser.page_source
    assert job.kind in page or "Candle ingestion" in page
    screenshot("04-ingestion-job-status")
    result = job.result or {}
    assert job.status == RunStatus.FAILED or result.get("ok") is False or "error" in str(result)


def test_operator_opens_the_research_run_form(browser, live_server, screenshot):
    _login(browser, live_server)
    browser.get(f"{live_server.url}/admin/backtests/researchjob/")
    browser.find_element(By.LINK_TEXT, "START A RESEARCH RUN").click()
    WebDriverWait(browser, 20).until(EC.presence_of_element_located((By.NAME, "permutations")))
    checked = [box.get_attribute("value") for box in browser.find_elements(By.NAME, "strategies") if box.is_selected()]
    assert len(checked) == 5  # the five research strategies are ticked by default
    screenshot("05-start-research-run")


def test_operator_reads_a_walkforward_with_its_charts(browser, live_server, screenshot, executed_walkforward):
    run = executed_walkforward
    _login(browser, live_server)
    browser.get(f"{live_server.url}/admin/analytics/walkforwardrun/{run.pk}/change/")
    WebDriverWait(browser, 30).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#wf-sharpe svg.main-svg")))
    rendered = {element.get_attribute("id") for element in browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")}
    assert {"wf-timeline", "wf-sharpe", "wf-neighbourhood"} <= rendered
    assert [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == []
    browser.execute_script("arguments[0].scrollIntoView();", browser.find_element(By.ID, "wf-timeline"))
    screenshot("06-walkforward-charts")
