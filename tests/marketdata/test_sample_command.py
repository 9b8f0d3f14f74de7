"""load_sample_data and data_quality commands on part of the bundled data."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

pytestmark = pytest.mark.django_db


def test_load_then_report_the_usdc_listing_gap():
    loaded = StringIO()
    call_command("load_sample_data", "--symbols", "USDC", "--timeframes", "1h", stdout=loaded)
    text = StringIO()
    call_command("data_quality", "--symbols", "USDC,DAI", "--timeframe", "1h", stdout=text)
    as_json = StringIO()
    call_command("data_quality", "--symbols", "USDC", "--json", stdout=as_json)

    assert "2 files, 24033 rows: inserted 24033" in loaded.getvalue()
    assert "gap 2022-09-26" in text.getvalue() and "-> 2023-03-11T14:00:00+00:00" in text.getvalue()
    assert "no candles stored for: DAI" in text.getvalue()
    report = json.loads(as_json.getvalue())
    assert [s["symbol"] for s in report["series"]] == ["USDC"]


def test_unknown_selection_is_a_command_error():
    with pytest.raises(CommandError, match="no bundled file"):
        call_command("load_sample_data", "--symbols", "DOGE", stdout=StringIO())
    with pytest.raises(CommandError, match="unknown timeframe"):
        call_command("data_quality", "--timeframe", "2h", stdout=StringIO())
