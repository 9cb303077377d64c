"""RFC 9457 problem+json for every error, with stable ``type`` URNs and Chinese titles."""
from __future__ import annotations

import logging
import sys
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .schemas import CONTROL_CHARACTER_MESSAGE, CONTROL_CHARACTERS

log = logging.getLogger("spotcheck.errors")

PROBLEM_CT = "application/problem+json"
TYPE_ROOT = "urn:spotcheck:problem:"

# status -> (slug, Chinese title) for errors raised without a specific problem type
STATUS_PROBLEMS = {
    400: ("bad-request", "请求有误"),
    401: ("unauthenticated", "未认证或令牌无效"),
    403: ("forbidden", "无权执行此操作"),
    404: ("not-found", "资源不存在"),
    405: ("method-not-allowed", "不支持的请求方法"),
    406: ("not-acceptable", "不支持的响应格式"),
    409: ("conflict", "与当前状态冲突"),
    412: ("precondition-failed", "资源已被修改（ETag 不匹配）"),
    413: ("payload-too-large", "请求体过大"),
    415: ("unsupported-media-type", "不支持的内容类型"),
    422: ("validation", "输入数据校验失败"),
    428: ("precondition-required", "缺少 If-Match 请求头"),
    429: ("too-many-requests", "请求过于频繁，请稍后再试"),
    500: ("internal", "服务器内部错误"),
    502: ("bad-gateway", "上游服务响应错误"),
    503: ("service-unavailable", "服务暂不可用"),
    504: ("gateway-timeout", "上游服务超时"),
    507: ("evidence-store-full", "证据存储空间已满"),
}


class Problem(Exception):
    """Raise to answer with problem+json. ``errors`` is a list of {field, message}."""

    def __init__(
        self,
        status: int,
        slug: str | None = None,
        title: str | None = None,
        detail: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        default_slug, default_title = STATUS_PROBLEMS.get(status, ("error", "错误"))
        self.status = status
        self.slug = slug or default_slug
        self.title = title or default_title
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra
        super().__init__(f"{status} {self.slug}: {detail or self.title}")

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": TYPE_ROOT + self.slug, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


def field_error(field: str, message: str, status: int = 422, slug: str = "validation", title: str | None = None) -> Problem:
    return Problem(status, slug, title, detail=f"{field}: {message}", errors=[{"field": field, "message": message}])


def not_found(what: str, ident: str) -> Problem:
    return Problem(404, "not-found", f"{what}不存在", detail=f"{what} {ident} 不存在或不在您的管辖范围内")


def public_path(request: Request) -> str:
    """The path as callers see it: ``/api/v1/<service>/...`` behind the gateway."""
    prefix = getattr(getattr(request, "app", None), "state", None)
    prefix = getattr(prefix, "public_prefix", "") if prefix is not None else ""
    return f"{prefix}{request.url.path}"


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    instance = public_path(request) if request is not None else None
    headers = dict(problem.headers)
    rid = getattr(getattr(request, "state", None), "request_id", None) if request is not None else None
    body = problem.body(instance)
    if rid:
        body["request_id"] = rid
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM_CT, headers=headers)


# Chinese messages for pydantic's error types
_PYDANTIC_MESSAGES = {
    "missing": "必填字段缺失",
    "extra_forbidden": "不允许的字段",
    "string_too_short": "长度过短",
    "string_too_long": "长度过长",
    "string_type": "应为字符串",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "float_parsing": "应为数字",
    "bool_parsing": "应为布尔值",
    "date_from_datetime_parsing": "日期格式应为 YYYY-MM-DD",
    "date_parsing": "日期格式应为 YYYY-MM-DD",
    "date_type": "日期格式应为 YYYY-MM-DD",
    "datetime_parsing": "时间格式应为 ISO 8601",
    "literal_error": "取值不在允许范围内",
    "enum": "取值不在允许范围内",
    "greater_than_equal": "数值过小",
    "less_than_equal": "数值过大",
    "greater_than": "数值过小",
    "less_than": "数值过大",
    "string_pattern_mismatch": "格式不正确",
    "json_invalid": "JSON 格式错误",
    "model_attributes_type": "应为对象",
    "dict_type": "应为对象",
    "list_type": "应为数组",
    "too_short": "元素过少",
    "too_long": "元素过多",
}


def _loc_to_field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_errors(exc_errors: list[dict]) -> list[dict[str, Any]]:
    out = []
    for err in exc_errors:
        etype = err.get("type", "")
        msg = _PYDANTIC_MESSAGES.get(etype)
        if etype == "value_error":
            msg = str(err.get("ctx", {}).get("error", err.get("msg", ""))) or err.get("msg")
        elif msg is None:
            msg = err.get("msg", "取值无效")
        field = _loc_to_field(tuple(err.get("loc", ())))
        if etype == "control_character":  # raised for the whole model: the string's own place in it
            where = str(err.get("ctx", {}).get("where", ""))
            field = where if field == "body" else f"{field}.{where}"
            msg = CONTROL_CHARACTER_MESSAGE
        out.append({"field": field, "message": msg, "code": etype})
    return out


def check_text(field: str, value: str | None) -> None:
    """For text that does not come through a request model (query parameters kept with a file, cells of an
    import): the same refusal of characters XML cannot hold as ``StrictModel`` bodies get."""
    if value and CONTROL_CHARACTERS.search(value):
        raise Problem(422, "validation", detail=f"{field}: {CONTROL_CHARACTER_MESSAGE}",
                      errors=[{"field": field, "message": CONTROL_CHARACTER_MESSAGE}])


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = validation_errors(exc.errors())
        if any(e["code"] == "json_invalid" for e in errors):
            return problem_response(Problem(400, "malformed-json", "请求体不是有效的 JSON", errors=errors), request)
        detail = "；".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem_response(Problem(422, "validation", detail=detail, errors=errors), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail not in ("Not Found", "Method Not Allowed") else None
        return problem_response(Problem(exc.status_code, detail=detail, headers=getattr(exc, "headers", None)), request)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError):
        # a uniqueness/foreign-key race the domain code did not pre-check (e.g. two concurrent
        # requests on one resource): the transaction rolled back, nothing was written
        log.warning("integrity conflict on %s %s: %s", request.method, request.url.path, exc.orig)
        return problem_response(
            Problem(409, "concurrent-conflict", "数据冲突", detail="与并发的另一请求或已有数据冲突，未写入任何内容，请刷新后重试"),
            request,
        )

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError):
        # a value the database refuses for its column (out of range, wrong type) that validation
        # did not catch: the caller's input, not a server fault; nothing was written
        log.warning("data error on %s %s: %s", request.method, request.url.path, exc.orig)
        return problem_response(Problem(422, "invalid-value", "输入值超出范围或类型不符", detail="请求中的某个值超出允许范围或类型不符"), request)

    async def _infrastructure(request: Request, exc: Exception):
        # registered for these classes so Starlette answers without re-raising (a re-raised error
        # makes the server drop the keep-alive connection the gateway pooled)
        if isinstance(exc, DBAPIError) and "invalid input for query argument" in str(exc.orig):
            # asyncpg refuses a parameter it cannot encode (e.g. an integer beyond the column's range)
            # with a generic driver error before the query runs: the caller's value, not our fault
            return await _data(request, exc)
        if database_unavailable(exc):
            log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
            return problem_response(
                Problem(503, "database-unavailable", "服务暂不可用", detail="数据库暂时无法连接，未写入任何内容，请稍后重试",
                        headers={"Retry-After": "5"}),
                request,
            )
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(Problem(500), request)

    for cls in (DBAPIError, ConnectionError, TimeoutError):
        app.add_exception_handler(cls, _infrastructure)
    app.add_exception_handler(Exception, _infrastructure)  # (Starlette re-raises after answering this one)


def database_unavailable(exc: BaseException) -> bool:
    """A lost or refused database connection (PostgreSQL restarting, failing over), not a bug."""
    if isinstance(exc, (OperationalError, InterfaceError)) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return True
    seen = 0
    while exc is not None and seen < 5:  # the driver's own error, wrapped by SQLAlchemy or not
        if isinstance(exc, (ConnectionError, TimeoutError)) or type(exc).__name__ in _DRIVER_UNAVAILABLE:
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__
        seen += 1
    return False


# asyncpg's errors for a server that is starting, shutting down, failing over or gone
_DRIVER_UNAVAILABLE = {"CannotConnectNowError", "ConnectionDoesNotExistError", "ConnectionFailureError", "AdminShutdownError",
                       "TooManyConnectionsError", "ConnectionRejectionError"}


class UnhandledErrorMiddleware:
    """Answers an unhandled exception with the 500 problem *and does not re-raise it*.

    Starlette's ``ServerErrorMiddleware`` (where an ``Exception`` handler runs) sends the handler's
    answer and then re-raises, so that the server logs it; uvicorn then closes the keep-alive
    connection, and the gateway's pooled connection to that service dies with it: the next
    request on it was reset or answered 502. Here the error is logged once and the connection
    stays usable. If the answer had already started, nothing sane can be sent: re-raise."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def _send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        from .observability import _TooLarge  # the request-context middleware answers it (413)

        try:
            await self.app(scope, receive, _send)
        except _TooLarge:
            raise
        except Exception:
            if started:
                raise
            request = Request(scope)
            exc = sys.exc_info()[1]
            if database_unavailable(exc):
                log.warning("database unavailable on %s %s: %s", scope.get("method"), scope.get("path"), exc)
                problem = Problem(503, "database-unavailable", "服务暂不可用", detail="数据库暂时无法连接，未写入任何内容，请稍后重试",
                                  headers={"Retry-After": "5"})
            else:
                log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
                problem = Problem(500)
            await problem_response(problem, request)(scope, receive, send)
