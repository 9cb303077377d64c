"""Base request/response models."""
from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class StrictModel(BaseModel):
    """Request bodies: unknown fields are refused, strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


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
