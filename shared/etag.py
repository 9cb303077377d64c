"""ETag / If-Match for mutable resources (optimistic concurrency on a ``version`` column)."""
from __future__ import annotations

from fastapi import Request, Response

from .errors import Problem


def etag(version: int) -> str:
    return f'"v{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def require_if_match(request: Request, current_version: int) -> None:
    header = request.headers.get("if-match")
    if not header:
        raise Problem(428, errors=[{"field": "If-Match", "message": "更新时必须携带 If-Match（资源的 ETag）"}])
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    if "*" in tags or etag(current_version) in tags:
        return
    raise Problem(412, detail=f"资源当前版本为 {etag(current_version)}，请重新获取后再修改", errors=[{"field": "If-Match", "message": "ETag 不匹配"}])
