"""Cells for CSV/XLSX files the system writes, neutralised against formula injection (OWASP
"CSV Injection"): a text cell that a spreadsheet would run as a formula — first character
``=``, ``+``, ``-``, ``@``, or a tab / carriage return / line feed that some spreadsheets skip
before one of those — is written with a leading apostrophe, which spreadsheets show as text, so
an enterprise name or a remark typed by anyone cannot become a formula in an official's Excel.
Numbers, booleans and dates are left as they are (``-5`` as a number is no formula).

A control character other than tab, line feed and carriage return (which XML, and so XLSX, cannot
hold: openpyxl refuses the cell and the whole export failed) is written as U+FFFD.

Use ``safe_cell(value)`` for every cell, or ``safe_row(values)`` / ``csv_writer(buf)`` whose
``writerow`` does it for you, or ``xlsx_bytes`` for a one-sheet workbook. JSON exports are never
touched: they stay byte-exact."""
from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from typing import Any

from .schemas import CONTROL_CHARACTERS

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(value: Any) -> Any:
    """``value`` unchanged unless it is text a spreadsheet would treat as a formula, or text holding a
    control character XML cannot carry (shown as U+FFFD instead of failing the whole export)."""
    if isinstance(value, str):
        if CONTROL_CHARACTERS.search(value):
            value = CONTROL_CHARACTERS.sub("\ufffd", value)
        if value.startswith(FORMULA_TRIGGERS):
            return "'" + value
    return value


neutralise = safe_cell  # the name some modules use


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


def xlsx_bytes(sheet_title: str, headers: Sequence[str], rows: Iterable[Sequence]) -> bytes:
    """One-sheet XLSX (openpyxl write-only mode, rows streamed into it). Call it in a worker thread."""
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet(title=sheet_title[:31])
    ws.append([safe_cell(h) for h in headers])
    for row in rows:
        ws.append([_cell(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _cell(v):
    if isinstance(v, (list, tuple)):
        v = "；".join(str(x) for x in v)
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(v, bool):
        return "是" if v else "否"
    return safe_cell(v)
