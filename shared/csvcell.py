"""Cells written to CSV/XLSX that a spreadsheet would run as a formula are neutralised."""
from __future__ import annotations

from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A string starting with = + - @ (or tab/CR) gets a leading apostrophe; other values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
