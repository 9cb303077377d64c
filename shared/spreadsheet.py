"""Spreadsheets the system writes (CSV/XLSX): every text cell a spreadsheet would run as a formula
(starting with ``= + - @``, also after a tab or carriage return) is neutralised with a leading
apostrophe, so an enterprise name or a remark typed by anyone cannot become a formula in an
official's Excel."""
from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Sequence

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """A cell value safe to write: strings starting with a formula character get a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def xlsx_bytes(sheet_title: str, headers: Sequence[str], rows: Iterable[Sequence]) -> bytes:
    """One-sheet XLSX (openpyxl write-only mode, rows streamed into it). Call it in a worker thread."""
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet(title=sheet_title[:31])
    ws.append([neutralise(h) for h in headers])
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
    return neutralise(v)
