"""Cells for CSV/XLSX files the system writes, neutralised against formula injection (OWASP
"CSV Injection"): a text cell that a spreadsheet would run as a formula — first character
``=``, ``+``, ``-``, ``@``, or a tab / carriage return / line feed that some spreadsheets skip
before one of those — is written with a leading apostrophe, which spreadsheets show as text.
Numbers, booleans and dates are left as they are (``-5`` as a number is no formula).

Use ``safe_cell(value)`` for every cell, or ``safe_row(values)`` / ``csv_writer(buf)`` whose
``writerow`` does it for you. JSON exports are never touched: they stay byte-exact."""
from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(value: Any) -> Any:
    """``value`` unchanged unless it is text a spreadsheet would treat as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]


class _SafeWriter:
    def __init__(self, writer):
        self._w = writer

    def writerow(self, row: Iterable[Any]):
        return self._w.writerow(safe_row(row))

    def writerows(self, rows: Iterable[Iterable[Any]]):
        for row in rows:
            self.writerow(row)


def csv_writer(buf, **kwargs) -> _SafeWriter:
    """A ``csv.writer`` whose rows are neutralised cell by cell."""
    return _SafeWriter(csv.writer(buf, **kwargs))
