"""Token endpoint: password and client-credentials grants, refresh rotation and reuse
detection, throttling, JWKS, /auth/me."""
from __future__ import annotations

import base64

from jose import jwt
from sqlalchemy import select

from gateway.models import RefreshToken, kernel
from shared.auth import TokenVerifier
from shared.db import Database
from tests.gateway.conftest import DEMO_PASSWORD, auth_headers, token_for

ISSUER, AUDIENCE = "spotcheck-gateway", "spotcheck"


def _problem(resp, status: int, error: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == status and body["type"].startswith("urn:spotcheck:problem:") and body["title"]
    if error:
        assert body["error"] == error
    return body


async def _jwks_verifier(client) -> TokenVerifier:
    resp = await client.get("/.well-known/jwks.json")
    assert resp.status_code == 200
    return TokenVerifier(ISSUER, AUDIENCE, jwks=resp.json())


async def test_password_grant_claims_verify_against_published_jwks(gw):
    tok = await token_for(gw.client, "demo_inspector")
    assert tok["token_type"] == "Bearer" and 0 < tok["expires_in"] <= 900 and tok["refresh_token"]
    header = jwt.get_unverified_header(tok["access_token"])
    jwks = (await gw.client.get("/.well-known/jwks.json")).json()
    assert header["alg"] == "RS256" and header["kid"] == jwks["keys"][0]["kid"]
    assert "d" not in jwks["keys"][0]  # public part only

    principal = (await _jwks_verifier(gw.client)).verify(tok["access_token"])
    assert principal.sub == "demo_inspector" and principal.roles == ("inspector",)
    assert principal.region == "140000" and principal.level == "province"
    assert principal.person_id == "insp-0001" and principal.uscc is None
    claims = principal.claims
    assert claims["typ"] == "access" and claims["iss"] == ISSUER and claims["aud"] == AUDIENCE
    assert claims["exp"] - claims["iat"] <= 900 and claims["jti"] and claims["name"]

    me = await gw.client.get("/auth/me", headers={"Authorization": f"Bearer {tok['access_token']}"})
    assert me.status_code == 200
    assert me.json()["person_id"] == "insp-0001" and me.json()["organisation"]


async def test_wrong_password_and_unknown_user_look_the_same(gw):
    bad = await gw.client.post("/auth/token", data={"grant_type": "password", "username": "demo_province", "password": "wrong-password-1"})
    unknown = await gw.client.post("/auth/token", data={"grant_type": "password", "username": "nobody_here", "password": "wrong-password-1"})
    b1, b2 = _problem(bad, 400, "invalid_grant"), _problem(unknown, 400, "invalid_grant")
    assert b1["detail"] == b2["detail"]
    _problem(await gw.client.post("/auth/token", data={"grant_type": "password", "username": "demo_province"}), 400, "invalid_request")
    _problem(await gw.client.post("/auth/token", data={"grant_type": "implicit"}), 400, "unsupported_grant_type")
    _problem(await gw.client.post("/auth/token", json={"grant_type": "password"}), 400, "invalid_request")


async def test_client_credentials_form_and_basic(gw):
    form = await gw.client.post("/auth/token", data={"grant_type": "client_credentials", "client_id": "demo_credit_system", "client_secret": "demo-credit-secret"})
    assert form.status_code == 200, form.text
    assert "refresh_token" not in form.json()
    assert form.headers["cache-control"] == "no-store"
    basic = base64.b64encode(b"demo_credit_system:demo-credit-secret").decode()
    resp = await gw.client.post("/auth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"})
    assert resp.status_code == 200, resp.text
    principal = (await _jwks_verifier(gw.client)).verify(resp.json()["access_token"])
    assert principal.sub == "demo_credit_system" and principal.roles == ("credit_system",) and principal.region == "140000"

    wrong = base64.b64encode(b"demo_credit_system:not-the-secret").decode()
    bad = await gw.client.post("/auth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {wrong}"})
    _problem(bad, 401, "invalid_client")
    assert bad.headers["www-authenticate"].startswith("Basic")


async def test_refresh_rotates_and_reuse_revokes_the_family(gw):
    first = await token_for(gw.client, "demo_taiyuan")
    r1 = first["refresh_token"]
    second = await gw.client.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": r1})
    assert second.status_code == 200, second.text
    r2 = second.json()["refresh_token"]
    assert r2 != r1
    assert (await _jwks_verifier(gw.client)).verify(second.json()["access_token"]).sub == "demo_taiyuan"

    # an attacker replays the rotated token: refused, and the whole family is revoked
    replay = await gw.client.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": r1})
    _problem(replay, 400, "invalid_grant")
    legit = await gw.client.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": r2})
    _problem(legit, 400, "invalid_grant")

    db = Database(gw.url)
    try:
        async with db.session() as s:
            rows = (await s.execute(select(RefreshToken))).scalars().all()
            audit = (await s.execute(select(kernel.audit.c.action))).scalars().all()
        assert len(rows) == 2 and all(r.revoked_at is not None for r in rows)
        assert len({r.family_id for r in rows}) == 1
        assert all(len(r.token_hash) == 64 and r.token_hash not in (r1, r2) for r in rows)
        assert "auth.refresh_reuse" in audit
    finally:
        await db.dispose()

    # a new login starts a new family that works
    fresh = await token_for(gw.client, "demo_taiyuan")
    ok = await gw.client.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": fresh["refresh_token"]})
    assert ok.status_code == 200
    _problem(await gw.client.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": "garbage"}), 400, "invalid_grant")


async def test_revoke_ends_the_whole_login_and_says_nothing_about_unknown_tokens(gw):
    """POST /auth/revoke (RFC 7009): the refresh token's whole family is revoked (a rotated successor too),
    audited; an unknown token gets the same 200; other logins of the user go on; bad requests are 400s."""
    first = await token_for(gw.client, "demo_taiyuan")
    rotated = (await gw.client.post("/auth/token", data={"grant_type": "refresh_token",
                                                         "refresh_token": first["refresh_token"]})).json()
    other = await token_for(gw.client, "demo_taiyuan")  # a second login (another device)

    r = await gw.client.post("/auth/revoke", data={"token": first["refresh_token"], "token_type_hint": "refresh_token"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    _problem(await gw.client.post("/auth/token", data={"grant_type": "refresh_token",
                                                       "refresh_token": rotated["refresh_token"]}), 400, "invalid_grant")
    ok = await gw.client.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": other["refresh_token"]})
    assert ok.status_code == 200, ok.text

    unknown = await gw.client.post("/auth/revoke", data={"token": "not-a-token"})
    assert unknown.status_code == 200 and unknown.content == r.content
    again = await gw.client.post("/auth/revoke", data={"token": first["refresh_token"]})
    assert again.status_code == 200

    _problem(await gw.client.post("/auth/revoke", data={}), 400, "invalid_request")
    _problem(await gw.client.post("/auth/revoke", json={"token": other["refresh_token"]}), 400, "invalid_request")
    _problem(await gw.client.post("/auth/revoke", data={"token": other["access_token"], "token_type_hint": "access_token"}),
             400, "unsupported_token_type")

    db = Database(gw.url)
    try:
        async with db.session() as s:
            logouts = (await s.execute(select(kernel.audit.c.detail).where(kernel.audit.c.action == "auth.logout"))).scalars().all()
        assert len(logouts) == 2  # the first revoke revoked 2 rows; the repeat revoked none but is on record
    finally:
        await db.dispose()


async def test_login_throttled_per_username_then_per_ip(make_gateway):
    gw = await make_gateway(login_attempts_per_user=3, login_attempts_per_ip=6)
    data = {"grant_type": "password", "username": "demo_datong", "password": "wrong-password-1"}
    for _ in range(3):
        _problem(await gw.client.post("/auth/token", data=data), 400, "invalid_grant")
    limited = await gw.client.post("/auth/token", data=data)
    body = _problem(limited, 429)
    assert int(limited.headers["retry-after"]) >= 1 and body["error"] == "slow_down"
    # even the right password is refused while the account is throttled
    _problem(await gw.client.post("/auth/token", data={**data, "password": DEMO_PASSWORD}), 429)
    # other accounts from the same address still work until the per-IP budget is spent
    await token_for(gw.client, "demo_xiaodian")
    for _ in range(3):
        _problem(await gw.client.post("/auth/token", data={**data, "username": "demo_expert"}), 400, "invalid_grant")
    _problem(await gw.client.post("/auth/token", data={**data, "username": "demo_discipline", "password": DEMO_PASSWORD}), 429)


async def test_me_requires_a_token(gw):
    resp = await gw.client.get("/auth/me")
    _problem(resp, 401)
    assert (await gw.client.get("/auth/me", headers=await auth_headers(gw.client, "demo_discipline"))).json()["roles"] == ["discipline"]
