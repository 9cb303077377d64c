"""Cells the system writes to CSV/XLSX: a text cell a spreadsheet would run as a formula
(starting with ``= + - @``, or a tab/CR that hides one) is neutralised with a leading apostrophe."""
from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
