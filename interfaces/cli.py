"""Parsing of command-line options shared by the management commands: every bad value becomes a one-line
``CommandError`` naming the option, before any work is done."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from django.core.management.base import CommandError

from core.timeutil import market_timestamp
from marketdata.symbols import SYMBOLS, get_token


def parse_when(value: str | None, option: str) -> pd.Timestamp | None:
    """A date or ISO time (UTC without a zone) between 2009-01-03 and 2100-01-01, or ``None`` when not given."""
    if value in (None, ""):
        return None
    try:
        return market_timestamp(value, option)
    except ValueError as error:
        if str(error).startswith(option):  # parsed, but out of range
            raise CommandError(str(error)) from None
        raise CommandError(f"{option}: {value!r} is not a date (expected YYYY-MM-DD or an ISO time)") from None


def split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_symbols(value: str | None, option: str = "--symbols") -> list[str]:
    """Comma-separated platform symbols, upper-cased (empty when not given); a one-line ``CommandError``
    naming the first unknown one."""
    symbols = [symbol.upper() for symbol in split_list(value or "")]
    for symbol in symbols:
        try:
            get_token(symbol)
        except ValueError:
            raise CommandError(f"{option}: unknown symbol {symbol!r}; supported: {', '.join(SYMBOLS)}") from None
    return symbols


def listed_and_repeated(listed: str | None, repeated: list[str] | None) -> list[str] | None:
    """``--things a,b`` and ``--thing a --thing b`` together (``None`` when neither was given)."""
    values = [*split_list(listed or ""), *(repeated or [])]
    return list(dict.fromkeys(values)) or None


def parse_json_object(value: str, option: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise CommandError(f"{option} is not valid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise CommandError(f"{option} must be a JSON object such as '{{\"window\": 20}}', not {type(parsed).__name__}")
    return parsed


def require_positive(options: dict, *names: str) -> None:
    for name in names:
        if options[name] is not None and options[name] < 1:
            raise CommandError(f"--{name.replace('_', '-')} must be at least 1, got {options[name]}")
