"""Keyset (cursor) pagination done in SQL: ``ORDER BY key, id`` and ``WHERE (key, id) > cursor``."""
from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from fastapi import Query
from sqlalchemy import and_, or_
from sqlalchemy.sql import ColumnElement, Select

from .errors import Problem

MAX_LIMIT = 500


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        pad = "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(cursor + pad))
        if not isinstance(values, list):
            raise ValueError
        return values
    except Exception:
        raise Problem(400, "bad-cursor", "分页游标无效", errors=[{"field": "cursor", "message": "游标格式错误"}]) from None


class PageParams:
    def __init__(
        self,
        cursor: Annotated[str | None, Query(description="上一页返回的 next_cursor")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="每页条数")] = 50,
    ):
        self.cursor = cursor
        self.limit = limit


def keyset(query: Select, keys: list[ColumnElement], params: PageParams) -> Select:
    """Order by ``keys`` (the last one unique) and apply the cursor; fetches limit + 1 rows."""
    if params.cursor:
        values = decode_cursor(params.cursor)
        if len(values) != len(keys):
            raise Problem(400, "bad-cursor", "分页游标无效", errors=[{"field": "cursor", "message": "游标与排序不符"}])
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
