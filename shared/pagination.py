"""Keyset (cursor) pagination done in SQL: ``ORDER BY key, id`` and ``WHERE (key, id) > cursor``."""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
from typing import Annotated, Any

from fastapi import Query
from sqlalchemy import and_, or_
from sqlalchemy.sql import sqltypes
from sqlalchemy.sql import ColumnElement, Select

from .errors import Problem

MAX_LIMIT = 500
MAX_CURSOR_CHARS = 2048  # a cursor is a handful of key values; anything longer is not ours
MAX_CURSOR_VALUE_CHARS = 512
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MAX = 2**31 - 1


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def _bad_cursor(message: str = "游标格式错误") -> Problem:
    return Problem(400, "bad-cursor", "分页游标无效", detail=message, errors=[{"field": "cursor", "message": message}])


def _scalar_ok(value: Any) -> bool:
    """Cursor values are what ``encode_cursor`` writes for key columns: strings and 64-bit integers."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int):
        return INT64_MIN <= value <= INT64_MAX
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return len(value) <= MAX_CURSOR_VALUE_CHARS
    return False  # lists, objects


def decode_cursor(cursor: str) -> list[Any]:
    """The cursor's key values; a forged cursor (not base64 JSON, not a flat list of strings and
    64-bit integers, too long) is a 400 problem, never reaches SQL."""
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_CHARS:
        raise _bad_cursor("游标过长")
    try:
        pad = "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(cursor + pad))
    except (ValueError, binascii.Error, RecursionError):
        raise _bad_cursor() from None
    if not isinstance(values, list) or not values or not all(_scalar_ok(v) for v in values):
        raise _bad_cursor()
    return values


def _coerce(value: Any, column: ColumnElement) -> Any:
    """The cursor value as the column's Python type (a wrong type is a forged cursor)."""
    ctype = getattr(column, "type", None)
    if isinstance(ctype, sqltypes.TypeDecorator):  # e.g. SQLModel's AutoString, our UTCDateTime
        ctype = ctype.impl_instance
    wrong = _bad_cursor("游标与排序不符")
    if isinstance(ctype, sqltypes.String):
        if not isinstance(value, str):
            raise wrong
        return value
    if isinstance(ctype, sqltypes.Integer):
        limit = INT64_MAX if isinstance(ctype, sqltypes.BigInteger) else INT32_MAX
        if not isinstance(value, int) or not -limit - 1 <= value <= limit:
            raise wrong
        return value
    if isinstance(ctype, sqltypes.DateTime | sqltypes.Date):
        if not isinstance(value, str):
            raise wrong
        try:
            return dt.datetime.fromisoformat(value) if isinstance(ctype, sqltypes.DateTime) else dt.date.fromisoformat(value)
        except ValueError:
            raise wrong from None
    if isinstance(ctype, sqltypes.Float | sqltypes.Numeric):
        if not isinstance(value, int | float):
            raise wrong
        return value
    if isinstance(ctype, sqltypes.Boolean):
        raise wrong
    return value


class PageParams:
    def __init__(
        self,
        cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS, description="上一页返回的 next_cursor")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="每页条数")] = 50,
    ):
        self.cursor = cursor
        self.limit = limit


def keyset(query: Select, keys: list[ColumnElement], params: PageParams) -> Select:
    """Order by ``keys`` (the last one unique) and apply the cursor; fetches limit + 1 rows."""
    if params.cursor:
        values = decode_cursor(params.cursor)
        if len(values) != len(keys):
            raise _bad_cursor("游标与排序不符")
        values = [_coerce(v, k) for v, k in zip(values, keys, strict=True)]
        clauses = []
        for i in range(len(keys)):
            eq = [keys[j] == values[j] for j in range(i)]
            clauses.append(and_(*eq, keys[i] > values[i]))
        query = query.where(or_(*clauses))
    return query.order_by(*keys).limit(params.limit + 1)


def page_of(rows: list, params: PageParams, key_values) -> dict:
    """Cut the extra row and compute next_cursor with ``key_values(row) -> list``."""
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    nxt = encode_cursor(key_values(rows[-1])) if more and rows else None
    return {"rows": rows, "next_cursor": nxt}
