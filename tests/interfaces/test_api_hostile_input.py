"""Hostile API input: NUL bytes, deep nesting, oversize bodies and unknown URLs get JSON 4xx, never a 500."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

BASE = "/api/v1/backtesting"
LISTS = ["configs", "walkforward-runs", "jobs", "montecarlo", "stress-tests"]


@pytest.fixture
def staff_client() -> APIClient:
    user = get_user_model().objects.create_user("hostile", password="x", is_staff=True)
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize("name", LISTS)
def test_a_nul_byte_in_a_filter_is_a_json_400(staff_client, name):
    response = staff_client.get(f"{BASE}/{name}/?status=%00")
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert "NUL" in response.json()["detail"]


def test_a_nul_byte_in_a_slug_is_a_json_400(staff_client):
    response = staff_client.get(f"{BASE}/stress-events/covid%00-2020/")
    assert response.status_code == 400 and "NUL" in response.json()["detail"]


def test_deeply_nested_json_is_a_400(staff_client):
    body = "[" * 100_000 + "]" * 100_000
    response = staff_client.post(f"{BASE}/run/", data=body, content_type="application/json")
    assert response.status_code == 400 and "nested deeper than 64" in response.json()["detail"]
    shallow_but_too_deep = json.dumps({"strategy": "sma_crossover", "parameters": json.loads("[" * 70 + "]" * 70)})
    response = staff_client.post(f"{BASE}/run/", data=shallow_but_too_deep, content_type="application/json")
    assert response.status_code == 400


def test_an_oversize_body_is_a_json_413(staff_client):
    response = staff_client.post(f"{BASE}/run/", data=json.dumps({"name": "x" * (2 * 1024 * 1024)}),
                                 content_type="application/json")
    assert response.status_code == 413 and response["Content-Type"] == "application/json"
    assert "larger than 1048576 bytes" in response.json()["detail"]


@pytest.mark.parametrize("path", [f"{BASE}/nothing-here/", f"{BASE}/configs/999/", "/api/v1/elsewhere"])
def test_unknown_api_urls_are_json_404s(staff_client, path):
    response = staff_client.get(path)
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json()["detail"]


@pytest.mark.parametrize("path", ["configs", "configs/", "strategies/sma_crossover", "strategies/sma_crossover/",
                                  "holdout-locks/"])
def test_api_urls_work_with_or_without_the_trailing_slash(staff_client, path):
    assert staff_client.get(f"{BASE}/{path}").status_code == 200
