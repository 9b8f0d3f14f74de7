"""The data-quality admin view, reachable from the candle changelist."""

from __future__ import annotations

import pytest
from django.urls import reverse

from marketdata.sample import sample_load

pytestmark = pytest.mark.django_db


def test_changelist_links_to_the_report_which_lists_the_usdc_gap(admin_client):
    sample_load(symbols=["USDC"], timeframes=["1h"])
    url = reverse("admin:marketdata_candle_data_quality")

    changelist = admin_client.get(reverse("admin:marketdata_candle_changelist"))
    report = admin_client.get(url, {"symbols": "USDC", "timeframe": "1h"})

    assert url in changelist.content.decode()
    assert report.status_code == 200
    html = report.content.decode()
    assert "2023-03-11T14:00:00+00:00" in html and "USDC" in html


def test_report_needs_staff(client):
    response = client.get(reverse("admin:marketdata_candle_data_quality"))

    assert response.status_code == 302 and "/login/" in response["Location"]
