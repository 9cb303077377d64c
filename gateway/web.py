"""The web application's side of the gateway: a browser login session and the built SPA.

Tokens in the browser. The access token (≤ 15 min) lives only in the page's memory (a Pinia
store), never in localStorage or a readable cookie, so an injected script cannot lift a token
that outlives the page. The refresh token lives in an ``HttpOnly; SameSite=Strict`` cookie whose
``Path`` is ``/auth/web``: JavaScript cannot read it, the browser sends it to nothing but the three
endpoints below, and never on a request started by another site. Refresh and logout also require
the header ``X-Spotcheck-Web: 1`` (a cross-origin page cannot send a custom header without a CORS
pre-flight, which the gateway never grants) and refuse an ``Origin`` other than the gateway's own.
Rotation and reuse detection are those of ``/auth/token`` (the same refresh-token table).

The SPA (``web/dist`` built by ``make run``) is served at ``/``: hashed assets cached for a year,
``index.html`` revalidated every time, any other non-API path answered with ``index.html``
(history-mode routing), a Content-Security-Policy without inline scripts."""
from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import urlsplit
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from shared.contract import op
from shared.errors import PROBLEM_CT, Problem
from shared.service import request_id

from .identity import TokenContext, client_ip, end_session, oauth_error, password_grant, refresh_grant
from .schemas import WebSessionOut

COOKIE = "spotcheck_refresh"
COOKIE_PATH = "/auth/web"
WEB_HEADER = "x-spotcheck-web"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

web_router = APIRouter(prefix="/auth/web", tags=["认证"])


def _tc(request: Request) -> TokenContext:
    return request.app.state.tokens


def _secure(request: Request) -> bool:
    settings = request.app.state.ctx.settings
    return bool(getattr(settings, "production", False)) or request.url.scheme == "https"


def _check_browser(request: Request) -> None:
    """Refuse what a foreign page could make a browser send (belt and braces with SameSite=Strict)."""
    if request.headers.get(WEB_HEADER) != "1":
        raise Problem(403, "web-header-missing", "请求被拒绝", detail=f"浏览器会话请求须带 {WEB_HEADER.title()}: 1 请求头")
    origin = request.headers.get("origin")
    # host only: behind a TLS-terminating proxy the scheme seen here is http while the page's is https
    if origin and urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower():
        raise Problem(403, "foreign-origin", "请求被拒绝", detail="不接受其他网站发起的会话请求")


def _session_response(request: Request, body: dict, ttl: int) -> JSONResponse:
    refresh = body.pop("refresh_token", None)
    resp = JSONResponse(body, headers=NO_STORE)
    if refresh:
        resp.set_cookie(COOKIE, refresh, max_age=ttl, path=COOKIE_PATH, httponly=True, samesite="strict",
                        secure=_secure(request))
    return resp


def _clear(request: Request, resp: Response) -> Response:
    resp.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=_secure(request))
    return resp


async def _form(request: Request):
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise oauth_error(400, "invalid_request", "登录请求格式错误", "请求体应为 application/x-www-form-urlencoded")
    return await request.form()


TcDep = Annotated[TokenContext, Depends(_tc)]


@web_router.post("/login", summary="网页登录（用户名口令；刷新令牌写入 HttpOnly Cookie）", **op(WebSessionOut, problems=(401, 403, 429)))
async def web_login(request: Request, tc: TcDep):
    _check_browser(request)
    form = await _form(request)
    body = await password_grant(tc, form, client_ip(request), request_id(request))
    return _session_response(request, body, tc.refresh_ttl)


@web_router.post("/refresh", summary="网页会话续期（读取 Cookie 中的刷新令牌并轮换）", **op(WebSessionOut, problems=(401, 403, 429)))
async def web_refresh(request: Request, tc: TcDep):
    _check_browser(request)
    token = request.cookies.get(COOKIE)
    if not token:
        raise Problem(401, "no-session", "未登录", detail="没有有效的登录会话，请登录")
    try:
        body = await refresh_grant(tc, {"refresh_token": token}, client_ip(request), request_id(request))
    except Problem as exc:
        body = {**exc.body(request.url.path), "status": 401}
        resp = JSONResponse(body, status_code=401, media_type=PROBLEM_CT, headers=NO_STORE)
        return _clear(request, resp)
    return _session_response(request, body, tc.refresh_ttl)


@web_router.post("/logout", status_code=204, summary="网页退出（吊销本次登录的全部刷新令牌，清除 Cookie）")
async def web_logout(request: Request, tc: TcDep):
    _check_browser(request)
    await end_session(tc, request.cookies.get(COOKIE), "logout", request_id(request))
    return _clear(request, Response(status_code=204, headers=NO_STORE))


# ---------------------------------------------------------------- static SPA
# Paths the SPA never owns: an unknown one under these answers the API's 404, not index.html.
API_PREFIXES = ("/api/", "/auth/", "/admin/", "/.well-known/", "/docs", "/redoc", "/openapi.json",
                "/health", "/ready", "/audit")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "font-src 'self' data:; connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(self), geolocation=(self), microphone=()",
}


def default_dist() -> Path:
    return Path(__file__).resolve().parents[1] / "web" / "dist"


def mount_spa(app: FastAPI, dist: Path | None = None) -> None:
    """Serve the built SPA at ``/`` (after every other route, so the API always wins)."""
    dist = (dist or default_dist()).resolve()

    def _headers(cache: str) -> dict:
        return {**SECURITY_HEADERS, "Cache-Control": cache}

    def _index() -> Response:
        index = dist / "index.html"
        if not index.is_file():
            return Response("网页界面尚未构建（运行 make run 或 cd web && npm ci && npm run build）。API 位于 /api/v1/，文档位于 /docs。\n",
                            status_code=503, media_type="text/plain; charset=utf-8", headers=_headers("no-store"))
        return FileResponse(index, media_type="text/html; charset=utf-8", headers=_headers("no-cache"))

    @app.api_route("/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    async def spa(path: str, request: Request):
        url_path = "/" + path
        if url_path.startswith(API_PREFIXES):
            raise Problem(404, "not-found", "资源不存在", detail=f"没有路径 {url_path}")
        if path and len(path) <= 300 and "\x00" not in path:
            candidate = (dist / path).resolve()
            if candidate.is_relative_to(dist) and candidate.is_file():
                immutable = path.startswith("assets/")
                media = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
                return FileResponse(candidate, media_type=media,
                                    headers=_headers("public, max-age=31536000, immutable" if immutable else "no-cache"))
            if path.startswith("assets/"):  # a missing hashed asset is a 404, not the index page
                raise Problem(404, "not-found", "资源不存在", detail=f"没有文件 {url_path}")
        return _index()
