"""Argon2id hashing of passwords and client secrets, and the password policy."""
from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shared.errors import field_error
from shared.settings import DEMO_SECRETS

_hasher = PasswordHasher()
# verified against when the account does not exist, so that unknown and known names take as long
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

MIN_LENGTH = 10


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def verify_secret_sync(stored_hash: str | None, secret: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, secret) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_secret(stored_hash: str | None, secret: str) -> bool:
    """Argon2 is deliberately slow: run it off the event loop."""
    return await asyncio.to_thread(verify_secret_sync, stored_hash, secret)


async def hash_secret_async(secret: str) -> str:
    return await asyncio.to_thread(hash_secret, secret)


def check_password_policy(password: str, username: str, production: bool, field: str = "password") -> None:
    """At least 10 characters of at least two kinds (letters, digits, symbols); not the user name;
    never a published demo secret in production."""
    if len(password) < MIN_LENGTH:
        raise field_error(field, f"密码长度至少 {MIN_LENGTH} 位")
    if len(password) > 128:
        raise field_error(field, "密码长度不得超过 128 位")
    kinds = sum([
        any(c.isalpha() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    ])
    if kinds < 2:
        raise field_error(field, "密码应至少包含字母、数字、符号中的两类")
    if username and username.lower() in password.lower():
        raise field_error(field, "密码不得包含用户名")
    if production and password in DEMO_SECRETS:
        raise field_error(field, "生产模式下不得使用演示口令")


def generate_secret() -> str:
    return secrets.token_urlsafe(24)
