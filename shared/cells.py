"""Spreadsheet cells a human will open: text starting with ``= + - @`` (or a tab/CR that
spreadsheet programs strip before reading such a formula) is prefixed with ``'`` so it is shown,
never run (CSV/formula injection)."""
from __future__ import annotations

from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
