"""Property-based fuzzing of the whole API from its OpenAPI schema (schemathesis): no input gives a 5xx.

Requests go through the WSGI app in-process, inside the test's transaction, so queued work never runs
(its on-commit hook never fires) and nothing leaks between tests. Bounded: a fixed number of examples
per operation, derandomised so the run is reproducible.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from rest_framework.throttling import ScopedRateThrottle, UserRateThrottle

from config.wsgi import application
from tests import factories as f

pytestmark = pytest.mark.django_db
EXAMPLES_PER_OPERATION = 15


@pytest.fixture
def keep_test_connection():
    """As Django's test client does: requests must not close the test transaction's connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(monkeypatch, keep_test_connection):
    """The API's own schema for schemathesis, a staff token's headers, and one stored run to read (no throttle)."""
    for throttle in (ScopedRateThrottle, UserRateThrottle):
        monkeypatch.setattr(throttle, "allow_request", lambda self, request, view: True)
    user = User.objects.create_user("fuzzer", is_staff=True)
    headers = {"Authorization": f"Token {Token.objects.create(user=user).key}"}
    config = f.backtest_config(status="succeeded")
    f.backtest_trade(config)
    f.backtest_metric(config)
    return schemathesis.openapi.from_wsgi("/api/v1/schema/", application, headers=headers), headers


def test_no_operation_answers_with_a_server_error(api_schema):
    schema, headers = api_schema
    server_errors: list[str] = []
    statuses: list[int] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case):
            response = case.call(headers=headers)
            statuses.append(response.status_code)
            if response.status_code >= 500:
                server_errors.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                     f"{case.body!r} {case.query!r}")

        check()
    assert operations >= 15, "the schema lists every endpoint"
    assert len(statuses) >= operations * 5, "each operation was exercised with several inputs"
    assert any(200 <= s < 300 for s in statuses) and any(s == 400 for s in statuses)
    assert server_errors == []


def test_write_endpoints_are_throttled(settings):
    from django.core.cache import cache
    from rest_framework.test import APIClient

    cache.clear()
    client = APIClient()
    client.force_authenticate(User.objects.create_user("burst", is_staff=True))
    statuses = [client.post("/api/v1/backtesting/run", {}, format="json").status_code for _ in range(65)]
    assert statuses[0] == 400 and 429 in statuses
    cache.clear()


def test_responses_match_the_documented_schema(api_schema):
    """Every answer of every operation (valid and invalid inputs) has the status, content type and body the
    schema documents: 0 schema violations."""
    from schemathesis import checks

    schema, headers = api_schema
    violations: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=5, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case):
            response = case.call(headers=headers)
            try:
                case.validate_response(response, checks=(checks.response_schema_conformance,
                                                         checks.content_type_conformance))
            except Exception as exc:  # schemathesis raises one error listing the failed checks
                violations.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                  f"{str(exc).splitlines()[0]}")

        check()
    assert violations == []
