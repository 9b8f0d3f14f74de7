"""Formatting filters for the research report."""

from django import template

from analytics.report import num, pct

register = template.Library()


@register.filter
def percent(value, digits: int = 1) -> str:
    return pct(value, int(digits))


@register.filter
def number(value, digits: int = 2) -> str:
    return num(value, int(digits))


@register.filter
def get(mapping, key):
    return (mapping or {}).get(key)
