"""The API docs render in headless Chromium from the project's own files (no CDN, nothing from the internet)."""

from __future__ import annotations

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.test_operator_console import _login
from tests.markers import committed_db

pytestmark = [pytest.mark.browser, committed_db]


def test_swagger_ui_renders_every_endpoint_offline(browser, live_server, screenshot):
    _login(browser, live_server)
    browser.get(f"{live_server.url}/api/v1/docs/")
    try:
        WebDriverWait(browser, 30).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    except TimeoutException:  # say what the page showed instead
        pytest.fail(f"no endpoint rendered in 30 s; page: {browser.find_element(By.TAG_NAME, 'body').text[:1500]!r}; "
                    f"browser log: {browser.get_log('browser')}")
    paths = {element.text for element in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert "/api/v1/backtesting/walkforward/" in paths and "/api/v1/backtesting/holdout-locks/" in paths
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(url.startswith(live_server.url) for url in loaded), loaded
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    screenshot("api-docs")
