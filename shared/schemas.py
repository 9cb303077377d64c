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
