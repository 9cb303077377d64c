"""Access tokens (RS256 JWT, ≤ 15 min) and refresh tokens (opaque, stored hashed, rotated on
use; reuse of a rotated token revokes its whole family)."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
from dataclasses import dataclass
from enum import Enum

from jose import jwt
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import region_level
from shared.db import new_id, utcnow
from shared.keys import public_jwk

from .models import RefreshToken
from .settings import MAX_ACCESS_TTL


@dataclass(frozen=True)
class Identity:
    """What an access token says about its holder."""

    sub: str
    roles: tuple[str, ...]
    region: str
    name: str | None = None
    uscc: str | None = None
    person_id: str | None = None

    @property
    def level(self) -> str:
        return region_level(self.region)


class Signer:
    def __init__(self, private_pem: bytes, issuer: str, audience: str, access_ttl: int):
        if not 0 < access_ttl <= MAX_ACCESS_TTL:
            raise ValueError(f"access token lifetime must be 1..{MAX_ACCESS_TTL} s")
        self._pem = private_pem.decode()
        self.jwk = public_jwk(private_pem)
        self.kid = self.jwk["kid"]
        self.issuer, self.audience, self.access_ttl = issuer, audience, access_ttl

    def jwks(self) -> dict:
        return {"keys": [self.jwk]}

    def mint(self, who: Identity) -> str:
        now = int(time.time())
        claims = {
            "sub": who.sub,
            "roles": list(who.roles),
            "region": who.region,
            "level": who.level,
            "name": who.name,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + self.access_ttl,
            "jti": secrets.token_hex(16),
            "typ": "access",
        }
        if who.uscc:
            claims["uscc"] = who.uscc
        if who.person_id:
            claims["person_id"] = who.person_id
        return jwt.encode(claims, self._pem, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_refresh(session: AsyncSession, user_id: str, ttl_seconds: int, family_id: str | None = None) -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(RefreshToken(
        token_hash=_hash(token), family_id=family_id or new_id(), user_id=user_id,
        issued_at=now, expires_at=now + dt.timedelta(seconds=ttl_seconds),
    ))
    await session.flush()
    return token


class RefreshOutcome(Enum):
    OK = "ok"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    REUSED = "reused"


@dataclass
class Rotation:
    outcome: RefreshOutcome
    row: RefreshToken | None = None


async def rotate_refresh(session: AsyncSession, token: str) -> Rotation:
    """Mark ``token`` used (atomically: only one of two concurrent uses wins). A token already
    rotated is a reuse: every token of its family is revoked. The caller commits in either case."""
    row = (await session.execute(select(RefreshToken).where(RefreshToken.token_hash == _hash(token)))).scalar_one_or_none()
    if row is None:
        return Rotation(RefreshOutcome.UNKNOWN)
    now = utcnow()
    if row.revoked_at is not None:
        return Rotation(RefreshOutcome.REVOKED, row)
    if row.rotated_at is None and row.expires_at <= now:
        return Rotation(RefreshOutcome.EXPIRED, row)
    won = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.rotated_at.is_(None), RefreshToken.revoked_at.is_(None))
        .values(rotated_at=now)
    )
    if won.rowcount != 1:
        await revoke_family(session, row.family_id, "refresh token reused")
        return Rotation(RefreshOutcome.REUSED, row)
    return Rotation(RefreshOutcome.OK, row)


async def revoke_family(session: AsyncSession, family_id: str, reason: str) -> int:
    res = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    return res.rowcount


async def revoke_user_tokens(session: AsyncSession, user_id: str, reason: str) -> int:
    res = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    return res.rowcount
