"""Hostile-input guards for the API: every answer under ``/api/`` is JSON, and no input reaches a 500.

- NUL bytes in the path or query string (PostgreSQL refuses them in text, which used to surface as a 500 from
  a filter or a slug lookup) are a 400 before any view runs.
- A body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is a JSON 413, not Django's HTML 400.
- JSON nested deeper than :data:`MAX_JSON_DEPTH` is a 400 from the parser (Python's decoder would recurse
  until ``RecursionError``).
- Unknown URLs under ``/api/`` are a JSON 404.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

API_PREFIX = "/api/"
MAX_JSON_DEPTH = 64


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


class ApiInputGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _is_api(request):
            refused = self._refuse(request)
            if refused is not None:
                return refused
        return self.get_response(request)

    @staticmethod
    def _refuse(request: HttpRequest) -> JsonResponse | None:
        raw_query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "\x00" in unquote(raw_query):
            return JsonResponse({"detail": "NUL bytes are not allowed in the URL."}, status=400)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "Content-Length is not a number."}, status=400)
        if limit is not None and length > limit:
            return JsonResponse({"detail": f"Request body is larger than {limit} bytes."}, status=413)
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> JsonResponse | None:
        if _is_api(request) and isinstance(exception, RequestDataTooBig):
            return JsonResponse({"detail": "Request body is too large."}, status=413)
        return None


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of parsed JSON, iteratively (stops counting past ``limit``)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, refusing nesting deeper than :data:`MAX_JSON_DEPTH` with a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels") from None
        if _depth(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels")
        return data


def api_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler404``: JSON under ``/api/``, Django's page elsewhere. (API URLs work with or without a trailing
    slash, so a 404 here is an unknown resource or id.)"""
    if not _is_api(request):
        from django.views.defaults import page_not_found

        return page_not_found(request, exception)
    return JsonResponse({"detail": f"Not found: {request.path}"}, status=404)


def api_server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: a JSON body under ``/api/`` (the traceback stays in the server log)."""
    if not _is_api(request):
        from django.views.defaults import server_error

        return server_error(request)
    return HttpResponse(json.dumps({"detail": "Internal server error."}), status=500,
                        content_type="application/json")
