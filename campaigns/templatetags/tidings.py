"""Formatting for the marketer pages: counts and rates, with "—" for what is
undefined (a zero denominator) or untracked (a channel without it)."""

from __future__ import annotations

from django import template

register = template.Library()

DASH = "—"


@register.filter
def count(value: int | None) -> str:
    if value is None:
        return DASH
    return f"{value:,}"


@register.filter
def pct(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value * 100:.1f}%"


@register.filter
def get(mapping, key):
    """Look up a key that is a variable (templates only take literal keys)."""
    if mapping is None:
        return None
    return mapping.get(key)
