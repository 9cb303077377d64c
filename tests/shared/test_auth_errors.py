"""Token verification (forged tokens refused) and problem+json for every kind of error."""
from __future__ import annotations

import base64
import json
import time

import pytest
from fastapi import APIRouter
from jose import jwt
from pydantic import Field

from services.registry.models import kernel
from shared.auth import PrincipalDep, TokenVerifier, require_roles
from shared.keys import generate_private_pem, public_pem
from shared.schemas import StrictModel
from shared.service import create_service_app
from shared.settings import settings_for
from tests.helpers import AUDIENCE, ISSUER, running


class Body(StrictModel):
    name: str = Field(min_length=1)
    count: int = Field(ge=0)


def _app(keys, tmp_path):
    router = APIRouter()

    @router.get("/me")
    async def me(p: PrincipalDep):
        return {"sub": p.sub, "region": p.region}

    @router.get("/admin-only", dependencies=[require_roles("province_admin")])
    async def admin_only():
        return {"ok": True}

    @router.post("/things")
    async def things(body: Body):
        return body.model_dump()

    @router.get("/boom")
    async def boom():
        raise RuntimeError("secret internal detail")

    settings = settings_for("probe", database_url=f"sqlite+aiosqlite:///{tmp_path}/probe.db", max_body_bytes=1000)
    verifier = TokenVerifier(ISSUER, AUDIENCE, jwks=keys.jwks)
    return create_service_app("probe", "probe", settings, kernel, [router], verifier=verifier, start_background=False)


def _b64(d: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


def _hs256(claims: dict, secret: bytes, kid: str) -> str:
    """The classic key-confusion forgery: HMAC with the RSA public key as the secret."""
    import hashlib
    import hmac

    signing_input = _b64({"alg": "HS256", "typ": "JWT", "kid": kid}) + "." + _b64(claims)
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


def _forgeries(keys) -> dict[str, str]:
    now = int(time.time())
    good = {"sub": "x", "roles": ["province_admin"], "region": "140000", "iss": ISSUER, "aud": AUDIENCE,
            "iat": now, "exp": now + 300, "typ": "access"}
    kid = keys.jwk["kid"]
    valid = keys.mint()
    h, p, s = valid.split(".")
    tampered_payload = _b64({**json.loads(base64.urlsafe_b64decode(p + "==")), "region": "140100"})
    other_key = generate_private_pem().decode()
    return {
        "alg none": _b64({"alg": "none", "typ": "JWT", "kid": kid}) + "." + _b64(good) + ".",
        "HS256 with public key": _hs256(good, public_pem(keys.private_pem), kid),
        "expired": keys.mint(ttl=-120),
        "wrong aud": jwt.encode({**good, "aud": "other"}, keys.private_pem.decode(), algorithm="RS256", headers={"kid": kid}),
        "wrong iss": jwt.encode({**good, "iss": "evil"}, keys.private_pem.decode(), algorithm="RS256", headers={"kid": kid}),
        "no exp": jwt.encode({k: v for k, v in good.items() if k != "exp"}, keys.private_pem.decode(), algorithm="RS256", headers={"kid": kid}),
        "tampered payload": f"{h}.{tampered_payload}.{s}",
        "unknown key": jwt.encode(good, other_key, algorithm="RS256", headers={"kid": "unknown"}),
        "other key, known kid": jwt.encode(good, other_key, algorithm="RS256", headers={"kid": kid}),
        "garbage": "not-a-token",
    }


async def test_forged_tokens_are_refused(keys, tmp_path):
    async with running(_app(keys, tmp_path)) as client:
        ok = await client.get("/me", headers={"Authorization": f"Bearer {keys.mint()}"})
        assert ok.status_code == 200 and ok.json()["region"] == "140000"
        for name, token in _forgeries(keys).items():
            r = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, name
            assert r.headers["content-type"].startswith("application/problem+json"), name
        r = await client.get("/me")
        assert r.status_code == 401 and r.json()["type"] == "urn:spotcheck:problem:unauthenticated"
        r = await client.get("/admin-only", headers=keys.headers(roles=["city_admin"], region="140100"))
        assert r.status_code == 403 and "省局管理员" in r.json()["detail"]


@pytest.mark.parametrize(
    "method,path,kwargs,status,slug",
    [
        ("get", "/nowhere", {}, 404, "not-found"),
        ("delete", "/me", {}, 405, "method-not-allowed"),
        ("post", "/things", {"json": {"name": "a", "count": -1}}, 422, "validation"),
        ("post", "/things", {"json": {"name": "a", "count": 1, "extra": 1}}, 422, "validation"),
        ("post", "/things", {"content": b"{bad", "headers": {"content-type": "application/json"}}, 400, "malformed-json"),
        ("post", "/things", {"content": b"name=a", "headers": {"content-type": "text/plain"}}, 415, "unsupported-media-type"),
        ("post", "/things", {"json": {"name": "a" * 2000, "count": 1}}, 413, "payload-too-large"),
    ],
)
async def test_errors_are_problem_json(keys, tmp_path, method, path, kwargs, status, slug):
    async with running(_app(keys, tmp_path)) as client:
        r = await getattr(client, method)(path, **kwargs)
        assert r.status_code == status
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["type"] == f"urn:spotcheck:problem:{slug}" and body["title"] and body["status"] == status
        if status == 422:
            assert body["errors"][0]["field"] in ("count", "extra")


async def test_unhandled_error_is_a_500_problem_without_internals(keys, tmp_path):
    app = _app(keys, tmp_path)
    async with app.router.lifespan_context(app):
        import httpx

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.get("/boom", headers={"X-Request-ID": "req-123"})
    assert r.status_code == 500 and r.json()["type"] == "urn:spotcheck:problem:internal"
    assert "secret" not in r.text and r.json()["request_id"] == "req-123"


async def test_integrity_race_is_a_409_problem_not_a_500(keys, tmp_path):
    from sqlalchemy.exc import IntegrityError

    router = APIRouter()

    @router.post("/race")
    async def race():
        raise IntegrityError("INSERT ...", {}, Exception("UNIQUE constraint failed"))

    settings = settings_for("probe2", database_url=f"sqlite+aiosqlite:///{tmp_path}/p2.db")
    app = create_service_app("probe2", "probe2", settings, kernel, [router], verifier=TokenVerifier(ISSUER, AUDIENCE, jwks=keys.jwks),
                             start_background=False)
    async with running(app) as client:
        r = await client.post("/race")
    assert r.status_code == 409 and r.json()["type"] == "urn:spotcheck:problem:concurrent-conflict"
    assert "UNIQUE" not in r.text
