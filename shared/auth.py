"""Token verification and the caller's identity (Principal), checked in every service.

Rules (python-jose >= 3.5): algorithms pinned to RS256, ``exp``/``aud``/``iss`` required,
key chosen by ``kid`` from the gateway's JWKS; anything else is refused.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from jose import jwt
from jose.exceptions import JOSEError

from .errors import Problem
from .revocation import LEEWAY, MAX_TOKEN_LIFETIME, RevocationList

PROVINCE_CODE = "140000"
ALGORITHMS = ["RS256"]
MAX_CLAIM_CHARS = 200

ROLES = {
    "province_admin": "省局管理员",
    "city_admin": "市局管理员",
    "county_admin": "县局管理员",
    "inspector": "执法人员",
    "expert": "技术专家",
    "enterprise": "获证企业",
    "discipline": "驻局纪检监察组",
    "gov_client": "政府系统客户端",
    "credit_system": "信用公示系统",
}
LEVELS = ("province", "city", "county")


def region_level(code: str) -> str:
    """province for xx0000, city for xxyy00, county otherwise (GB/T 2260 structure)."""
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "city"
    return "county"


def reads_province(p: "Principal") -> bool:
    """Reads every region of the province: the province administration, and a discipline (纪检)
    account at province level. A city or county discipline group reads its own region only, like
    the bureau it watches (threat model, issue 7)."""
    return p.has("province_admin") or (p.has("discipline") and region_level(p.region) == "province")


def region_prefix(code: str) -> str:
    """The prefix every region code under ``code`` starts with."""
    level = region_level(code)
    return code[:2] if level == "province" else code[:4] if level == "city" else code


def region_covers(outer: str, inner: str) -> bool:
    return bool(inner) and inner.startswith(region_prefix(outer))


def level_rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else len(LEVELS)


@dataclass(frozen=True)
class Principal:
    sub: str
    roles: tuple[str, ...]
    region: str
    level: str
    name: str | None = None
    uscc: str | None = None  # for enterprise accounts
    person_id: str | None = None  # directory id of an inspector/expert account
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def has(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    def covers(self, region_code: str | None) -> bool:
        return bool(region_code) and region_covers(self.region, region_code)

    @property
    def prefix(self) -> str:
        return region_prefix(self.region)


class TokenVerifier:
    """Verifies gateway-issued RS256 tokens against the JWKS (file or URL)."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        jwks: dict | None = None,
        jwks_file: str | None = None,
        jwks_url: str | None = None,
        refresh_seconds: float = 30.0,
    ):
        self.issuer = issuer
        self.audience = audience
        self.jwks_file = jwks_file
        self.jwks_url = jwks_url
        self.refresh_seconds = refresh_seconds
        self._keys: dict[str, dict] = {}
        self._loaded_at = 0.0
        self.revocations = RevocationList()
        if jwks:
            self._set(jwks)

    def _set(self, jwks: dict) -> None:
        self._keys = {k["kid"]: k for k in jwks.get("keys", []) if "kid" in k}
        self._loaded_at = time.monotonic()

    def _reload(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._loaded_at < self.refresh_seconds:
            return
        if self.jwks_file and Path(self.jwks_file).exists():
            self._set(json.loads(Path(self.jwks_file).read_text()))
        elif self.jwks_url:
            try:
                resp = httpx.get(self.jwks_url, timeout=5)
                resp.raise_for_status()
                self._set(resp.json())
            except httpx.HTTPError:
                self._loaded_at = time.monotonic()

    def key_for(self, kid: str | None) -> dict:
        if not kid:
            raise Problem(401, "invalid-token", "令牌无效", detail="令牌缺少 kid")
        if kid not in self._keys:
            self._reload(force=not self._keys)
            if kid not in self._keys:
                self._reload()
        if kid not in self._keys:
            raise Problem(401, "invalid-token", "令牌无效", detail="令牌签名密钥未知")
        return self._keys[kid]

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except JOSEError:
            raise Problem(401, "invalid-token", "令牌无效", detail="令牌格式错误") from None
        if header.get("alg") not in ALGORITHMS:
            raise Problem(401, "invalid-token", "令牌无效", detail="不接受的签名算法")
        key = self.key_for(header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "require_exp": True,
                    "require_aud": True,
                    "require_iss": True,
                    "require_sub": True,
                    "require_iat": True,
                    "leeway": 10,
                },
            )
        except jwt.ExpiredSignatureError:
            raise Problem(401, "token-expired", "令牌已过期") from None
        except JOSEError as exc:
            raise Problem(401, "invalid-token", "令牌无效", detail=str(exc)) from None
        check_claims(claims)
        roles = tuple(claims["roles"])
        region = claims["region"]
        if self.revocations.is_revoked(claims["sub"], claims["iat"]):
            raise Problem(401, "token-revoked", "令牌已失效", detail="账号已停用或权限已变更，请重新登录")
        return Principal(
            sub=claims["sub"],
            roles=roles,
            region=region,
            level=region_level(region),
            name=claims.get("name"),
            uscc=claims.get("uscc"),
            person_id=claims.get("person_id"),
            claims=claims,
        )


def _invalid(detail: str) -> Problem:
    return Problem(401, "invalid-token", "令牌无效", detail=detail)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_claims(claims: dict, now: float | None = None) -> None:
    """Types and plausibility of the claims python-jose does not check strictly enough: numeric
    dates are integers (not strings), ``iat`` is not in the future, the lifetime is at most
    ``MAX_TOKEN_LIFETIME``, roles are known, the region is a 6-digit code of this province."""
    now = time.time() if now is None else now
    for name in ("exp", "iat", "nbf"):
        if name in claims and not _is_int(claims[name]):
            raise _invalid(f"{name} 应为整数时间戳")
    if claims["iat"] > now + LEEWAY:
        raise _invalid("签发时间晚于当前时间")
    if claims["exp"] - claims["iat"] > MAX_TOKEN_LIFETIME:
        raise _invalid(f"令牌有效期超过 {MAX_TOKEN_LIFETIME} 秒")
    if claims["exp"] <= claims["iat"]:
        raise _invalid("令牌有效期无效")
    if claims.get("typ") not in (None, "access"):
        raise _invalid("不是访问令牌")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > MAX_CLAIM_CHARS:
        raise _invalid("sub 无效")
    roles = claims.get("roles")
    if not isinstance(roles, list) or not roles or len(roles) > len(ROLES) or not all(isinstance(r, str) and r in ROLES for r in roles):
        raise _invalid("令牌缺少角色或角色无效")
    region = claims.get("region")
    if not isinstance(region, str) or len(region) != 6 or not region.isdigit() or not region_covers(PROVINCE_CODE, region):
        raise _invalid("令牌缺少地区或地区无效")
    level = claims.get("level")
    if level is not None and level != region_level(region):
        raise _invalid("层级与地区不符")
    for name in ("name", "uscc", "person_id", "jti"):
        value = claims.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_CLAIM_CHARS):
            raise _invalid(f"{name} 无效")


def bearer_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return token.strip()


def get_principal(request: Request) -> Principal:
    token = bearer_token(request)
    if not token:
        raise Problem(401, "unauthenticated", "未认证", detail="缺少 Bearer 令牌", headers={"WWW-Authenticate": "Bearer"})
    verifier: TokenVerifier = request.app.state.verifier
    principal = verifier.verify(token)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: str):
    """Dependency: the caller must hold one of ``roles``."""

    def _check(principal: PrincipalDep) -> Principal:
        if not principal.has(*roles):
            names = "、".join(ROLES.get(r, r) for r in roles)
            raise Problem(403, "forbidden", "无权执行此操作", detail=f"需要角色：{names}")
        return principal

    return Depends(_check)


def ensure_covers(principal: Principal, region_code: str | None, what: str = "该资源") -> None:
    if not principal.covers(region_code):
        raise Problem(403, "out-of-jurisdiction", "超出管辖范围", detail=f"{what}不在您的管辖范围内")
