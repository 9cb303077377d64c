"""Forged or broken tokens are refused by shared.auth.TokenVerifier and by a service reached
through the gateway: alg none, HS256 keyed with the public key, expired, wrong audience, wrong
issuer, tampered payload, unknown kid, signed by another key."""
from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
from jose import jwt

from shared.errors import Problem
from shared.keys import generate_private_pem, public_jwk, public_pem
from shared.auth import TokenVerifier
from tests.gateway.conftest import token_for
from tests.gateway.fake_service import fake_service

ISSUER, AUDIENCE = "spotcheck-gateway", "spotcheck"


def _b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(**over) -> dict:
    now = int(time.time())
    claims = {"sub": "mallory", "roles": ["province_admin"], "region": "140000", "level": "province",
              "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300, "jti": "x", "typ": "access"}
    claims.update(over)
    return claims


def forgeries(genuine: str, private_pem: bytes) -> dict[str, str]:
    kid = public_jwk(private_pem)["kid"]
    pem = private_pem.decode()
    other = generate_private_pem()
    header, payload, sig = genuine.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["roles"] = ["province_admin"]
    return {
        "alg_none": f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_b64(_claims())}.",
        "hs256_with_public_key": f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{_b64(_claims())}."
        + _hs256(f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{_b64(_claims())}", public_pem(private_pem)),
        "expired": jwt.encode(_claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), pem, algorithm="RS256", headers={"kid": kid}),
        "wrong_audience": jwt.encode(_claims(aud="another-system"), pem, algorithm="RS256", headers={"kid": kid}),
        "wrong_issuer": jwt.encode(_claims(iss="evil-gateway"), pem, algorithm="RS256", headers={"kid": kid}),
        "tampered_payload": f"{header}.{_b64(claims)}.{sig}",
        "unknown_kid": jwt.encode(_claims(), other.decode(), algorithm="RS256", headers={"kid": "no-such-key"}),
        "other_key_same_kid": jwt.encode(_claims(), other.decode(), algorithm="RS256", headers={"kid": kid}),
        "refresh_typ": jwt.encode(_claims(typ="refresh"), pem, algorithm="RS256", headers={"kid": kid}),
        "no_exp": jwt.encode({k: v for k, v in _claims().items() if k != "exp"}, pem, algorithm="RS256", headers={"kid": kid}),
    }


def _hs256(signing_input: str, secret: bytes) -> str:
    import hashlib
    import hmac

    return _b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


@pytest.fixture
async def gw_with_service(make_gateway, databases, keys):
    service = fake_service("registry", keys.jwks, await databases.create("fake"))
    gw = await make_gateway(transports={"registry": httpx.ASGITransport(app=service)})
    return gw


async def test_forgeries_refused_by_verifier_and_by_service_through_gateway(gw_with_service, keys):
    gw = gw_with_service
    genuine = (await token_for(gw.client, "demo_datong"))["access_token"]
    jwks = (await gw.client.get("/.well-known/jwks.json")).json()
    verifier = TokenVerifier(ISSUER, AUDIENCE, jwks=jwks)

    # the genuine token passes both ways
    assert verifier.verify(genuine).sub == "demo_datong"
    ok = await gw.client.get("/api/v1/registry/whoami", headers={"Authorization": f"Bearer {genuine}"})
    assert ok.status_code == 200 and ok.json()["region"] == "140200"

    for name, token in forgeries(genuine, keys.private_pem).items():
        with pytest.raises(Problem) as err:
            verifier.verify(token)
        assert err.value.status == 401, name
        for path in ("/api/v1/registry/whoami", "/auth/me"):
            resp = await gw.client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert resp.status_code == 401, (name, path, resp.text)
            assert resp.headers["content-type"].startswith("application/problem+json"), name
