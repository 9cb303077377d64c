"""Base request/response models."""
from __future__ import annotations

import re
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

T = TypeVar("T")

# Characters XML 1.0 cannot hold (C0 controls other than tab, line feed and carriage return, and the
# non-characters U+FFFE/U+FFFF; lone surrogates never get past the JSON parser): no one types them,
# every XLSX export is XML, and a stored one broke or corrupted region-wide exports
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


CONTROL_CHARACTER_MESSAGE = "含有控制字符或非法字符（制表符、换行以外），请删除后重试"


def control_character_path(value: Any) -> tuple | None:
    """Where in a request body (dicts, lists, strings) the first string with a control character is,
    walked without recursion (a body nested as deep as the JSON parser allows costs no Python stack)."""
    stack: list[tuple[tuple, Any]] = [((), value)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, str):
            if CONTROL_CHARACTERS.search(v):
                return path
            continue
        if isinstance(v, dict):
            items = list(v.items())
        elif isinstance(v, (list, tuple)):
            items = list(enumerate(v))
        else:
            continue
        for k, _ in items:
            if isinstance(k, str) and CONTROL_CHARACTERS.search(k):
                return (*path, k)
        stack.extend(((*path, k), x) for k, x in reversed(items))  # first item on top: the first bad one is found first
    return None


class StrictModel(BaseModel):
    """Request bodies: unknown fields are refused, strings are stripped, and no string may hold a
    control character other than tab, line feed or carriage return (422, naming where)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _no_control_characters(cls, data: Any) -> Any:
        path = control_character_path(data)
        if path is not None:
            where = ".".join(str(x) for x in path) or "请求体"
            raise PydanticCustomError("control_character", "{where} " + CONTROL_CHARACTER_MESSAGE, {"where": where})
        return data


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
    limit: int


def json_response(data, status_code: int = 200, headers: dict | None = None):
    """A JSON response serialised in one pass (dates, datetimes, decimals handled), bypassing
    FastAPI's per-value ``jsonable_encoder`` walk — for large list and population answers."""
    import json

    from fastapi.responses import Response

    from .canonical import _default

    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=_default).encode("utf-8")
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)


def _iso_date_only(value):
    """Dates from clients are ``YYYY-MM-DD`` text: pydantic's lax mode would also take a number
    (``0`` → 1970-01-01, a Unix timestamp) or a datetime string."""
    import datetime as dt
    import re

    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("日期格式应为 YYYY-MM-DD")
    return value


def _iso_date_type():
    import datetime as dt
    from typing import Annotated

    from pydantic import BeforeValidator

    return Annotated[dt.date, BeforeValidator(_iso_date_only)]


IsoDate = _iso_date_type()  # use as a query/body type: ``date_to: IsoDate | None = None``
