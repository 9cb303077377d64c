"""The OAuth2 token endpoint's grants: password (people), client_credentials (machine clients),
refresh_token (rotation with reuse detection). Failures are problem+json with an RFC 6749
``error`` member."""
from __future__ import annotations

import base64
import hashlib
import binascii
from dataclasses import dataclass
from urllib.parse import unquote

from fastapi import Request
from sqlalchemy import select

from shared.errors import Problem
from shared.service import ServiceContext

from .models import MachineClient, RefreshToken, User
from .passwords import verify_secret
from .forwarded import client_address
from .throttle import LoginThrottle
from .tokens import Identity, RefreshOutcome, Signer, issue_refresh, revoke_family, rotate_refresh
from .users import roles_of

GRANTS = ("password", "client_credentials", "refresh_token")


def oauth_error(status: int, error: str, title: str, detail: str | None = None, headers: dict | None = None) -> Problem:
    return Problem(status, error.replace("_", "-"), title, detail=detail, headers=headers,
                   error=error, error_description=detail or title)


@dataclass
class TokenContext:
    ctx: ServiceContext
    signer: Signer
    throttle: LoginThrottle
    refresh_ttl: int


def client_ip(request: Request) -> str | None:
    """The caller's address; X-Forwarded-For only from configured proxies (gateway.forwarded)."""
    return client_address(request, getattr(request.app.state, "trusted_proxies", ""))


async def audit_failure(tc: "TokenContext", action: str, account: str, ip: str | None, reason: str, request_id: str | None) -> None:
    """A refused login in the audit trail (after the throttle, so a flood writes at most the
    throttle's allowance per window). The attempted name is recorded, never the password."""
    async with tc.ctx.db.transaction() as s:
        await tc.ctx.audit(s, "anonymous", action, "login", account[:100], detail={"ip": ip, "reason": reason},
                           request_id=request_id)


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """client_id/secret from an HTTP Basic header (RFC 6749 §2.3.1: form-urlencoded before base64)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise oauth_error(401, "invalid_client", "客户端认证失败", "Basic 认证头格式错误",
                          headers={"WWW-Authenticate": 'Basic realm="spotcheck"'}) from None
    cid, sep, secret = decoded.partition(":")
    if not sep:
        raise oauth_error(401, "invalid_client", "客户端认证失败", "Basic 认证头格式错误",
                          headers={"WWW-Authenticate": 'Basic realm="spotcheck"'})
    return unquote(cid), unquote(secret)


def _required(form, name: str) -> str:
    value = form.get(name)
    if not isinstance(value, str) or not value:
        raise oauth_error(400, "invalid_request", "令牌请求缺少参数", f"缺少参数 {name}")
    return value


def _token_response(access: str, expires_in: int, refresh: str | None) -> dict:
    body = {"access_token": access, "token_type": "Bearer", "expires_in": expires_in}
    if refresh:
        body["refresh_token"] = refresh
    return body


async def _user_identity(session, user: User) -> Identity:
    roles = (await roles_of(session, [user.id]))[user.id]
    return Identity(sub=user.username, roles=tuple(sorted(roles)), region=user.region_code, name=user.display_name,
                    uscc=user.uscc, person_id=user.person_id)


async def password_grant(tc: TokenContext, form, ip: str | None, request_id: str | None) -> dict:
    username = _required(form, "username")
    password = _required(form, "password")
    account = f"user:{username.lower()}"
    await tc.throttle.admit(account, ip)
    async with tc.ctx.db.session() as s:
        user = (await s.execute(select(User).where(User.username == username))).scalar_one_or_none()
    ok = await verify_secret(user.password_hash if user else None, password)
    if not ok or user is None or not user.active:  # the attempt stays counted
        reason = "inactive" if ok and user is not None else "bad_credentials"
        await audit_failure(tc, "auth.login_failed", f"user:{username}", ip, reason, request_id)
        raise oauth_error(400, "invalid_grant", "用户名或密码错误", "用户名或密码错误，或账号已停用")
    await tc.throttle.succeeded(account, ip)
    async with tc.ctx.db.transaction() as s:
        who = await _user_identity(s, user)
        refresh = await issue_refresh(s, user.id, tc.refresh_ttl)
        await tc.ctx.audit(s, user.username, "auth.login", "user", user.id, detail={"grant": "password", "ip": ip},
                           request_id=request_id)
    return _token_response(tc.signer.mint(who), tc.signer.access_ttl, refresh)


async def client_credentials_grant(tc: TokenContext, form, basic: tuple[str, str] | None, ip: str | None, request_id: str | None = None) -> dict:
    if basic:
        client_id, secret = basic
    else:
        client_id, secret = _required(form, "client_id"), _required(form, "client_secret")
    account = f"client:{client_id}"
    await tc.throttle.admit(account, ip)
    async with tc.ctx.db.session() as s:
        client = await s.get(MachineClient, client_id)
    ok = await verify_secret(client.secret_hash if client else None, secret)
    if not ok or client is None or not client.active:  # the attempt stays counted
        await audit_failure(tc, "auth.client_failed", account, ip, "inactive" if ok and client is not None else "bad_credentials", request_id)
        headers = {"WWW-Authenticate": 'Basic realm="spotcheck"'} if basic else None
        raise oauth_error(401, "invalid_client", "客户端认证失败", "客户端编号或密钥错误，或客户端已停用", headers=headers)
    await tc.throttle.succeeded(account, ip)
    who = Identity(sub=client.client_id, roles=(client.role,), region=client.region_code, name=client.name)
    # RFC 6749 §4.4.3: no refresh token for client credentials
    return _token_response(tc.signer.mint(who), tc.signer.access_ttl, None)


async def refresh_grant(tc: TokenContext, form, ip: str | None, request_id: str | None) -> dict:
    token = _required(form, "refresh_token")
    await tc.throttle.admit(None, ip)
    async with tc.ctx.db.transaction() as s:
        rotation = await rotate_refresh(s, token)
        if rotation.outcome is RefreshOutcome.REUSED:
            await tc.ctx.audit(s, "gateway", "auth.refresh_reuse", "user", rotation.row.user_id,
                               detail={"family_id": rotation.row.family_id, "ip": ip}, request_id=request_id)
    # the revocation above is committed before the refusal
    if rotation.outcome is not RefreshOutcome.OK:  # the attempt stays counted
        messages = {
            RefreshOutcome.UNKNOWN: "刷新令牌无效",
            RefreshOutcome.EXPIRED: "刷新令牌已过期，请重新登录",
            RefreshOutcome.REVOKED: "刷新令牌已被吊销，请重新登录",
            RefreshOutcome.REUSED: "刷新令牌已被使用过，为安全起见已吊销该登录的全部令牌，请重新登录",
        }
        raise oauth_error(400, "invalid_grant", "刷新令牌无效", messages[rotation.outcome])
    async with tc.ctx.db.transaction() as s:
        user = await s.get(User, rotation.row.user_id)
        if user is None or not user.active:
            raise oauth_error(400, "invalid_grant", "刷新令牌无效", "账号已停用")
        who = await _user_identity(s, user)
        refresh = await issue_refresh(s, user.id, tc.refresh_ttl, family_id=rotation.row.family_id)
    await tc.throttle.succeeded(None, ip)
    return _token_response(tc.signer.mint(who), tc.signer.access_ttl, refresh)


async def token_endpoint(tc: TokenContext, request: Request, request_id: str | None) -> dict:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise oauth_error(400, "invalid_request", "令牌请求格式错误", "请求体应为 application/x-www-form-urlencoded")
    form = await request.form()
    grant = form.get("grant_type")
    ip = client_ip(request)
    basic = basic_credentials(request)
    if grant == "password":
        return await password_grant(tc, form, ip, request_id)
    if grant == "client_credentials":
        return await client_credentials_grant(tc, form, basic, ip, request_id)
    if grant == "refresh_token":
        return await refresh_grant(tc, form, ip, request_id)
    if not grant:
        raise oauth_error(400, "invalid_request", "令牌请求缺少参数", "缺少参数 grant_type")
    raise oauth_error(400, "unsupported_grant_type", "不支持的授权类型", f"grant_type 应为 {'、'.join(GRANTS)}")


async def end_session(tc: TokenContext, refresh_token: str | None, reason: str, request_id: str | None) -> int:
    """Revoke the whole login (the refresh token's family) the token belongs to; audited. An unknown or
    already revoked token revokes nothing and says nothing (RFC 7009 §2.2: the answer is the same)."""
    if not refresh_token:
        return 0
    digest = hashlib.sha256(refresh_token.encode()).hexdigest()
    async with tc.ctx.db.transaction() as s:
        row = (await s.execute(select(RefreshToken).where(RefreshToken.token_hash == digest))).scalar_one_or_none()
        if row is None:
            return 0
        n = await revoke_family(s, row.family_id, reason)
        await tc.ctx.audit(s, "gateway", f"auth.{reason}", "user", row.user_id,
                           detail={"family_id": row.family_id, "revoked": n}, request_id=request_id)
    return n
