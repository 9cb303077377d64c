"""The gateway's own endpoints: OAuth2 token, JWKS, the caller's identity, user and machine
client administration. Thin: parse, call the domain module, shape the response."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select

from shared.auth import ROLES, Principal, PrincipalDep, require_roles
from shared.contract import op
from shared.errors import Problem
from shared.etag import require_if_match, set_etag
from shared.idempotency import idempotent_write
from shared.pagination import PageParams
from shared.service import CtxDep, request_id

from . import clients, users
from .bindings import check_bindings
from .identity import TokenContext, end_session, oauth_error, token_endpoint
from .models import User
from .schemas import ClientCreate, ClientOut, JwksOut, MeOut, PasswordReset, RevokeOut, TokenOut, UserCreate, UserOut, UserPatch
from .users import ADMIN_ROLES

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def token_context(request: Request) -> TokenContext:
    return request.app.state.tokens


auth_router = APIRouter(tags=["认证"])


@auth_router.post(
    "/auth/token",
    summary="获取访问令牌（OAuth2：password / client_credentials / refresh_token）",
    openapi_extra={"requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object",
        "required": ["grant_type"],
        "properties": {
            "grant_type": {"type": "string", "enum": ["password", "client_credentials", "refresh_token"]},
            "username": {"type": "string"}, "password": {"type": "string", "format": "password"},
            "client_id": {"type": "string"}, "client_secret": {"type": "string", "format": "password"},
            "refresh_token": {"type": "string"},
        },
    }}}, "required": True}, "x-problems": [401, 429]},
    responses={200: {"model": TokenOut, "headers": {"Cache-Control": {"schema": {"type": "string"}}}}},
)
async def token(request: Request, tc: Annotated[TokenContext, Depends(token_context)]):
    body = await token_endpoint(tc, request, request_id(request))
    return JSONResponse(body, headers=NO_STORE)


@auth_router.post(
    "/auth/revoke",
    summary="退出登录 / 吊销刷新令牌（OAuth2 令牌吊销，RFC 7009）",
    **op(RevokeOut, problems=(400,), description="已处理（无论令牌是否有效）", openapi_extra={
        "description": "吊销该刷新令牌所属的整次登录（同一家族的全部刷新令牌）。令牌无效、已吊销或不认识时同样答 200，"
                       "不透露令牌是否存在（RFC 7009 §2.2）。已签发的访问令牌在其有效期（默认 10 分钟）内到期。",
        "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object",
            "required": ["token"],
            "properties": {"token": {"type": "string", "format": "password"},
                           "token_type_hint": {"type": "string", "enum": ["refresh_token"]}},
        }}}, "required": True}}),
)
async def revoke(request: Request, tc: Annotated[TokenContext, Depends(token_context)]):
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise oauth_error(400, "invalid_request", "吊销请求格式错误", "请求体应为 application/x-www-form-urlencoded")
    form = await request.form()
    token = form.get("token")
    if not isinstance(token, str) or not token:
        raise oauth_error(400, "invalid_request", "缺少令牌", "请在 token 字段中提供要吊销的刷新令牌")
    if form.get("token_type_hint") not in (None, "", "refresh_token"):
        # RFC 7009 §2.2.1: an access token cannot be revoked here (they expire by themselves)
        raise oauth_error(400, "unsupported_token_type", "不支持的令牌类型", "只能吊销刷新令牌；访问令牌到期自动失效")
    await end_session(tc, token, "logout", request_id(request))
    return JSONResponse(RevokeOut().model_dump(), headers=NO_STORE)


@auth_router.get("/.well-known/jwks.json", summary="令牌验签公钥（JWKS）", **op(JwksOut))
async def jwks(tc: Annotated[TokenContext, Depends(token_context)]):
    return JSONResponse(tc.signer.jwks(), headers={"Cache-Control": "public, max-age=300"})


@auth_router.get("/auth/me", summary="当前登录身份", **op(MeOut))
async def me(principal: PrincipalDep, ctx: CtxDep):
    out = {
        "sub": principal.sub, "roles": list(principal.roles), "role_names": [ROLES.get(r, r) for r in principal.roles],
        "region": principal.region, "level": principal.level, "name": principal.name,
        "uscc": principal.uscc, "person_id": principal.person_id, "expires_at": principal.claims.get("exp"),
    }
    if not principal.has("gov_client", "credit_system"):
        async with ctx.db.session() as s:
            user = (await s.execute(select(User).where(User.username == principal.sub))).scalar_one_or_none()
            if user is None or not user.active:
                raise Problem(401, "account-inactive", "账号不存在或已停用")
            out["organisation"] = user.organisation
            out["user_id"] = user.id
    return out


# ---------------------------------------------------------------- users
users_router = APIRouter(prefix="/admin/users", tags=["用户管理"])
AdminDep = Annotated[Principal, require_roles(*ADMIN_ROLES)]


@users_router.get("", summary="用户列表（本辖区内）", **op(UserOut, page=True))
async def list_users(
    actor: AdminDep, ctx: CtxDep, page: Annotated[PageParams, Depends()],
    role: Annotated[str | None, Query(description="按角色筛选")] = None,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$", description="按区划筛选（含下级）")] = None,
    active: Annotated[bool | None, Query(description="是否启用")] = None,
    q: Annotated[str | None, Query(max_length=100, description="用户名或姓名包含")] = None,
):
    if role is not None and role not in ROLES:
        raise Problem(422, "validation", detail=f"role: 未知角色 {role}", errors=[{"field": "role", "message": "未知角色"}])
    async with ctx.db.session() as s:
        return await users.list_users(s, actor, page, role=role, region=region, active=active, q=q)


@users_router.post("", summary="创建用户（支持 Idempotency-Key）", **op(UserOut, status=201, etag=True, location=True, idempotent=True))
async def create_user(body: UserCreate, actor: AdminDep, ctx: CtxDep, request: Request):
    # who may grant what, then the person/USCC binding checked against the registry with the
    # creator's token — before the transaction, which repeats the rules that need no network
    users.validate_identity_fields(body.roles, body.region_code, body.uscc, body.person_id)
    users.check_may_grant(actor, body.roles, body.region_code)
    await check_bindings(request, body.roles, body.region_code, body.uscc, body.person_id)

    # a generated initial password is shown once, never stored with the remembered answer
    async def run(s):
        view, generated = await users.create_user(ctx, s, actor, body, request_id(request))
        return 201, view, view["version"], ({"initial_password": generated} if generated else None)

    return await idempotent_write(ctx, request, actor.sub, "POST /admin/users", body.model_dump(), run,
                                  location=lambda v: f"/admin/users/{v['id']}", headers=NO_STORE)


@users_router.get("/{user_id}", summary="用户详情", **op(UserOut, etag=True))
async def get_user(user_id: str, actor: AdminDep, ctx: CtxDep, response: Response):
    async with ctx.db.session() as s:
        user, roles = await users.get_visible(s, actor, user_id)
    set_etag(response, user.version)
    return users.user_view(user, roles)


@users_router.patch("/{user_id}", summary="修改用户（需 If-Match）", **op(UserOut, etag=True, if_match=True))
async def patch_user(user_id: str, body: UserPatch, actor: AdminDep, ctx: CtxDep, request: Request, response: Response):
    changes = body.model_dump(exclude_unset=True)
    if {"roles", "region_code", "uscc", "person_id"} & set(changes):
        async with ctx.db.session() as s:
            user, roles = await users.get_visible(s, actor, user_id)
        new_roles = changes.get("roles") or roles
        new_region = changes.get("region_code") or user.region_code
        new_uscc = changes.get("uscc", user.uscc)
        new_person = changes.get("person_id", user.person_id)
        users.validate_identity_fields(new_roles, new_region, new_uscc, new_person)
        users.check_may_grant(actor, new_roles, new_region)
        await check_bindings(request, new_roles, new_region, new_uscc, new_person)
    async with ctx.db.transaction() as s:
        user, roles = await users.get_visible(s, actor, user_id, for_update=True)
        require_if_match(request, user.version)
        view = await users.patch_user(ctx, s, actor, user, roles, body, request_id(request))
    set_etag(response, view["version"])
    return view


async def _set_active(user_id: str, active: bool, actor: Principal, ctx, request: Request, response: Response):
    async with ctx.db.transaction() as s:
        user, roles = await users.get_visible(s, actor, user_id, for_update=True)
        require_if_match(request, user.version)
        view = await users.set_active(ctx, s, actor, user, roles, active, request_id(request))
    set_etag(response, view["version"])
    return view


@users_router.post("/{user_id}/deactivate", summary="停用用户（需 If-Match；吊销其刷新令牌）", **op(UserOut, etag=True, if_match=True))
async def deactivate_user(user_id: str, actor: AdminDep, ctx: CtxDep, request: Request, response: Response):
    return await _set_active(user_id, False, actor, ctx, request, response)


@users_router.post("/{user_id}/activate", summary="重新启用用户（需 If-Match）", **op(UserOut, etag=True, if_match=True))
async def activate_user(user_id: str, actor: AdminDep, ctx: CtxDep, request: Request, response: Response):
    return await _set_active(user_id, True, actor, ctx, request, response)


@users_router.post("/{user_id}/reset-password", summary="重置密码（需 If-Match；吊销其刷新令牌）", **op(UserOut, etag=True, if_match=True))
async def reset_password(user_id: str, body: PasswordReset, actor: AdminDep, ctx: CtxDep, request: Request, response: Response):
    async with ctx.db.transaction() as s:
        user, roles = await users.get_visible(s, actor, user_id, for_update=True)
        require_if_match(request, user.version)
        view, generated = await users.reset_password(ctx, s, actor, user, roles, body.password, request_id(request))
    set_etag(response, view["version"])
    response.headers.update(NO_STORE)
    return {**view, "new_password": generated} if generated else view


# ---------------------------------------------------------------- machine clients
clients_router = APIRouter(prefix="/admin/clients", tags=["客户端管理"])
ProvinceDep = Annotated[Principal, require_roles("province_admin")]


@clients_router.get("", summary="机器客户端列表", **op(ClientOut, page=True))
async def list_clients(actor: ProvinceDep, ctx: CtxDep, page: Annotated[PageParams, Depends()]):
    async with ctx.db.session() as s:
        return await clients.list_clients(s, page)


@clients_router.post("", summary="登记机器客户端（密钥仅返回一次；支持 Idempotency-Key）", **op(ClientOut, status=201, etag=True, location=True, idempotent=True))
async def create_client(body: ClientCreate, actor: ProvinceDep, ctx: CtxDep, request: Request):
    async def run(s):  # the secret is shown once and not stored with the remembered answer
        view, secret = await clients.create_client(ctx, s, actor, body, request_id(request))
        return 201, view, view["version"], {"client_secret": secret}

    return await idempotent_write(ctx, request, actor.sub, "POST /admin/clients", body.model_dump(), run,
                                  location=lambda v: f"/admin/clients/{v['client_id']}", headers=NO_STORE)


@clients_router.get("/{client_id}", summary="机器客户端详情", **op(ClientOut, etag=True))
async def get_client(client_id: str, actor: ProvinceDep, ctx: CtxDep, response: Response):
    async with ctx.db.session() as s:
        c = await clients.get_client(s, client_id)
    set_etag(response, c.version)
    return clients.client_view(c)


@clients_router.post("/{client_id}/deactivate", summary="停用机器客户端（需 If-Match）", **op(ClientOut, etag=True, if_match=True))
async def deactivate_client(client_id: str, actor: ProvinceDep, ctx: CtxDep, request: Request, response: Response):
    async with ctx.db.transaction() as s:
        c = await clients.get_client(s, client_id, for_update=True)
        require_if_match(request, c.version)
        view = await clients.set_active(ctx, s, actor, c, False, request_id(request))
    set_etag(response, view["version"])
    return view


@clients_router.post("/{client_id}/rotate-secret", summary="更换客户端密钥（需 If-Match；新密钥仅返回一次）", **op(ClientOut, etag=True, if_match=True))
async def rotate_client_secret(client_id: str, actor: ProvinceDep, ctx: CtxDep, request: Request, response: Response):
    async with ctx.db.transaction() as s:
        c = await clients.get_client(s, client_id, for_update=True)
        require_if_match(request, c.version)
        view, secret = await clients.rotate_secret(ctx, s, actor, c, request_id(request))
    set_etag(response, view["version"])
    response.headers.update(NO_STORE)
    return {**view, "client_secret": secret}
