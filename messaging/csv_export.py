"""The one CSV writer of every export (the delivery log, the suppression
list): streamed lines, and no cell a spreadsheet would run as a formula.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return (after any leading spaces, which spreadsheets skip) gets a leading
``'``, so Excel, LibreOffice and Google Sheets show it as text (CSV
injection, OWASP). Left alone: plain numbers (``-12``, ``+3.5``) and E.164
phone numbers (``+15558675310``), which a spreadsheet cannot run and which
people expect to read unchanged."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    stripped = text.lstrip(" ")
    if stripped.startswith(FORMULA_START) and not (
        _PLAIN_NUMBER.fullmatch(text) or _E164.fullmatch(text)
    ):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """The header line, then one line per row, every cell through csv_cell."""
    writer = csv.writer(_Echo())
    yield writer.writerow([csv_cell(name) for name in header])
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row])
