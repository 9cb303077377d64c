"""The API as a contract for the systems that generate clients from ``/openapi.json``.

* ``ProblemDetail``: the problem+json body every error really has (RFC 9457 + ``errors[]``).
* ``op(...)``: what a route declares about its answer — success body model (``page=True`` wraps it
  in ``Page[...]``), status, and headers (``ETag``, ``Location``, ``Idempotent-Replayed``) plus the
  request headers it reads (``Idempotency-Key``, ``If-Match``). Use as ``@router.get(path, **op(Model, page=True))``.
* ``install_openapi(app, public_prefix)``: post-processes the service's document — FastAPI's
  ``HTTPValidationError`` replaced by the problem schema, every operation given the statuses it can
  really answer (400/401/403/404/409/412/413/415/422/428/429 as they apply), operations without a
  declared success body marked ``x-untyped: true`` (so a test can list them).
* ``public_prefix(name)``: ``/api/v1/<name>`` for a service behind the gateway (``instance`` in a
  problem is the public path); ``""`` for the gateway itself.
* ``docs_router()``: ``/docs`` and ``/redoc`` with Swagger UI and ReDoc assets served from the
  installed ``fastapi_offline`` package (no CDN: the bureau's intranet has no internet).
"""
from __future__ import annotations

import re
from importlib import resources
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from .errors import PROBLEM_CT, STATUS_PROBLEMS
from .schemas import Page

# ------------------------------------------------------------------ models


class FieldError(BaseModel):
    field: str = Field(description="出错的字段（请求头、查询参数或请求体中的路径，如 items.0.name）")
    message: str = Field(description="中文说明")
    code: str | None = Field(default=None, description="机器可读的错误类型（如 missing、string_too_long）")
    model_config = ConfigDict(extra="allow")


class ProblemDetail(BaseModel):
    """application/problem+json（RFC 9457）：所有错误的统一格式。"""

    type: str = Field(description="问题类型 URN，如 urn:spotcheck:problem:validation", examples=["urn:spotcheck:problem:not-found"])
    title: str = Field(description="中文标题")
    status: int = Field(description="HTTP 状态码")
    detail: str | None = Field(default=None, description="本次出错的中文说明")
    instance: str | None = Field(default=None, description="出错的公开路径，如 /api/v1/registry/enterprises")
    errors: list[FieldError] | None = Field(default=None, description="逐字段的错误")
    request_id: str | None = Field(default=None, description="请求编号（X-Request-ID），报障时请提供")
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})


class StatusOut(BaseModel):
    status: str
    model_config = ConfigDict(extra="allow")


class ReadyOut(BaseModel):
    status: str
    nats_connected: bool
    outbox_pending: int
    evidence_store: dict[str, Any] | None = None  # services keeping evidence: {backend, location, ok, error?}


class AuditEntryOut(BaseModel):
    seq: int
    at: Any = None
    actor: str
    action: str
    entity_type: str
    entity_id: str
    model_config = ConfigDict(extra="allow")


class AuditListOut(BaseModel):
    items: list[AuditEntryOut]
    next_after: int | None = Field(description="下一页的 after 参数；无更多时为 null")


class AuditVerifyOut(BaseModel):
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str | None = None
    head_seq: int | None = Field(default=None, description="最后一条已校验条目的序号（纪检记录下来，下次校验条目变少或链头改变即说明末尾条目被删）")
    head_hash: str | None = Field(default=None, description="最后一条已校验条目的哈希")


class ParkedOut(BaseModel):
    id: int
    event_id: str
    consumer: str
    subject: str
    payload: str
    error: str
    deliveries: int
    parked_at: str
    replayed_at: str | None = None


class ParkedListOut(BaseModel):
    open: int = Field(description="尚未重放的滞留事件数")
    items: list[ParkedOut]


class ReplayOut(BaseModel):
    id: int
    event_id: str
    applied: bool


# ------------------------------------------------------------------ headers

HEADERS: dict[str, dict] = {
    "ETag": {"description": "资源版本（更新时作为 If-Match 发送）", "schema": {"type": "string", "example": '"v1"'}},
    "Location": {"description": "新建资源的公开路径", "schema": {"type": "string"}},
    "Idempotent-Replayed": {
        "description": "为 true 时，本应答是同一 Idempotency-Key 与相同请求体的首次应答的重放",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Retry-After": {"description": "建议的重试等待秒数", "schema": {"type": "string"}},
}

IDEMPOTENCY_PARAM = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "幂等键（1-200 字符）：相同键与相同请求体重放首次应答；相同键不同请求体为 422",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}
IF_MATCH_PARAM = {
    "name": "If-Match", "in": "header", "required": True,
    "description": "资源的 ETag（GET 应答头）；缺少为 428，不匹配为 412",
    "schema": {"type": "string"},
}


def op(
    model: Any = None,
    *,
    status: int = 200,
    page: bool = False,
    etag: bool = False,
    location: bool = False,
    idempotent: bool = False,
    if_match: bool | str = False,
    also: tuple[int, ...] = (),
    problems: tuple[int, ...] = (),
    description: str | None = None,
    media_type: str | tuple[str, ...] = "application/json",
    openapi_extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Decorator kwargs that declare a route's answer (documentation only: the route's own return
    value is not filtered). ``model=None`` with ``media_type`` other than JSON declares a file
    (``text/csv``, xlsx) as a binary string; a tuple of media types declares a route that answers
    one of several (``format=csv|xlsx``). ``also=(201,)`` documents further success statuses with the
    same body and headers (a PUT that creates with 201 and updates with 200); ``if_match="optional"``
    documents an If-Match that only updates need (412/428 still apply)."""
    headers = {}
    if etag:
        headers["ETag"] = HEADERS["ETag"]
    if location:
        headers["Location"] = HEADERS["Location"]
    if idempotent:
        headers["Idempotent-Replayed"] = HEADERS["Idempotent-Replayed"]
    success: dict[str, Any] = {"description": description or "成功"}
    if model is not None and media_type == "application/json":
        success["model"] = Page[model] if page else model
    elif model is None and media_type != "application/json":
        types = (media_type,) if isinstance(media_type, str) else tuple(media_type)
        success["content"] = {t: {"schema": {"type": "object"} if t == "application/json" else {"type": "string", "format": "binary"}}
                              for t in types}
    if headers:
        success["headers"] = headers
    params = []
    if idempotent:
        params.append(IDEMPOTENCY_PARAM)
    if if_match:
        params.append(IF_MATCH_PARAM if if_match is True else {**IF_MATCH_PARAM, "required": False,
                                                               "description": "更新时必填：资源的 ETag（GET 应答头）；缺少为 428，不匹配为 412"})
        problems = tuple(problems) + (412, 428)
    kwargs: dict[str, Any] = {"status_code": status, "responses": {status: success, **{s: dict(success) for s in also}}}
    if model is None and media_type != "application/json":
        # a file: the route returns its own Response; without this FastAPI also documents an empty JSON body
        from fastapi.responses import Response

        kwargs["response_class"] = Response
    extra: dict[str, Any] = dict(openapi_extra or {})
    if params:
        extra["parameters"] = params
    if problems:
        extra["x-problems"] = sorted(set(problems))
    if extra:
        kwargs["openapi_extra"] = extra
    return kwargs


# ------------------------------------------------------------------ document post-processing

PROBLEM_REF = "#/components/schemas/ProblemDetail"
WRITE_METHODS = {"post", "put", "patch", "delete"}


def public_prefix(name: str) -> str:
    return "" if name == "gateway" else f"/api/v1/{name}"


def _problem_response(status: int) -> dict:
    return {
        "description": STATUS_PROBLEMS.get(status, ("", "错误"))[1],
        "content": {PROBLEM_CT: {"schema": {"$ref": PROBLEM_REF}}},
        **({"headers": {"Retry-After": HEADERS["Retry-After"]}} if status in (429, 503, 507) else {}),
    }


def _calls(dependant) -> set:
    out = set()
    stack = [dependant]
    while stack:
        d = stack.pop()
        if d.call is not None:
            out.add(d.call)
        stack.extend(d.dependencies)
    return out


def _secured(route: APIRoute) -> bool:
    from .auth import get_principal

    return get_principal in _calls(route.dependant)


def document_problems(spec: dict, secured: dict[tuple[str, str], bool], extra_statuses: tuple[int, ...] = ()) -> dict:
    """Give every operation the problem answers it can really return; drop HTTPValidationError."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas.update(_problem_schemas())
    for path, item in (spec.get("paths") or {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or method not in {"get", "post", "put", "patch", "delete", "head"}:
                continue
            responses = operation.setdefault("responses", {})
            statuses: set[int] = set(operation.pop("x-problems", ()))
            params = operation.get("parameters") or []
            has_input = bool(params) or "requestBody" in operation
            if has_input or "422" in responses:
                statuses |= {400, 422}
            if secured.get((path, method), False):
                statuses |= {401, 403}
            if re.search(r"\{[^}]+\}", path):
                statuses.add(404)
            if method in WRITE_METHODS:
                statuses |= {409, 413}
                if "requestBody" in operation:
                    statuses |= {404, 415}  # a body may name another resource (a plan, a person) that is not found
            statuses |= set(extra_statuses)
            for status in sorted(statuses):
                responses[str(status)] = _problem_response(status)
            ok = [c for c in responses if c.startswith("2")]
            typed = any(
                (responses[c].get("content") or {}).get(ct, {}).get("schema") not in (None, {})
                for c in ok for ct in (responses[c].get("content") or {})
            ) or any(c == "204" for c in ok)
            if not typed:
                operation["x-untyped"] = True
    return spec


def _problem_schemas() -> dict:
    schema = ProblemDetail.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {**defs, "ProblemDetail": schema}


def _api_routes(app: FastAPI) -> list[APIRoute]:
    """Every APIRoute, also inside routers that FastAPI (>= 0.16x) includes lazily."""
    from fastapi import routing

    iterate = getattr(routing, "iter_route_contexts", None)
    if iterate is None:
        return [r for r in app.routes if isinstance(r, APIRoute)]
    from fastapi.openapi.utils import _get_api_route_for_openapi

    out = []
    for ctx in iterate(app.routes):
        route = _get_api_route_for_openapi(ctx)
        if route is not None:
            out.append(route)
    return out


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` with the post-processed document (cached like FastAPI's own)."""

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title, version=app.version, openapi_version=app.openapi_version,
            description=app.description, routes=app.routes, servers=app.servers,
        )
        secured = {}
        for route in _api_routes(app):
            if route.include_in_schema:
                for m in route.methods:
                    secured[(route.path_format, m.lower())] = _secured(route)
        app.openapi_schema = document_problems(spec, secured)
        return app.openapi_schema

    app.openapi = openapi


# ------------------------------------------------------------------ offline docs

ASSETS = {
    "swagger-ui-bundle.js": "application/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "application/javascript",
    "favicon.png": "image/png",
}


def _asset_path(name: str):
    return resources.files("fastapi_offline") / "static" / name


def docs_router(title: str) -> APIRouter:
    """Swagger UI at ``/docs`` and ReDoc at ``/redoc`` with local assets. URLs are relative so the
    pages also work under the gateway's ``/api/v1/<service>/docs``."""
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    async def swagger():
        return get_swagger_ui_html(
            openapi_url="openapi.json", title=f"{title} — API 文档",
            swagger_js_url="docs-assets/swagger-ui-bundle.js", swagger_css_url="docs-assets/swagger-ui.css",
            swagger_favicon_url="docs-assets/favicon.png", oauth2_redirect_url="/docs/oauth2-redirect",
        )

    @router.get("/docs/oauth2-redirect")
    async def oauth2_redirect():
        return get_swagger_ui_oauth2_redirect_html()

    @router.get("/redoc")
    async def redoc():
        return get_redoc_html(
            openapi_url="openapi.json", title=f"{title} — API 文档",
            redoc_js_url="docs-assets/redoc.standalone.js", redoc_favicon_url="docs-assets/favicon.png",
            with_google_fonts=False,
        )

    @router.get("/docs-assets/{name}")
    async def asset(name: str):
        from .errors import Problem

        if name not in ASSETS:
            raise Problem(404)
        return FileResponse(str(_asset_path(name)), media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"})

    return router


__all__ = [
    "ProblemDetail", "FieldError", "op", "install_openapi", "document_problems", "public_prefix", "docs_router",
    "StatusOut", "ReadyOut", "AuditListOut", "AuditVerifyOut", "ParkedListOut", "ReplayOut", "HEADERS",
]
