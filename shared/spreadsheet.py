"""Cells the system writes into CSV/XLSX files: a text cell a spreadsheet would run as a formula
(starting with ``= + - @``, or a tab/carriage return that hides one) is written with a leading
apostrophe, so it is shown as text (OWASP "CSV injection")."""
from __future__ import annotations

from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def safe_row(values) -> list:
    return [safe_cell(v) for v in values]
