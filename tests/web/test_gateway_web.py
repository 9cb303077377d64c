"""The gateway's side of the web app: the browser session (refresh token in an httpOnly,
SameSite=Strict cookie on /auth/web, never in the JSON; rotation, reuse, logout, CSRF guards) and
the built SPA served at / (history fallback, caching, CSP, no path escape, API paths never shadowed)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.gateway.conftest import DEMO_PASSWORD

WEB = {"X-Spotcheck-Web": "1"}
LOGIN = {"grant_type": "password", "username": "demo_taiyuan", "password": DEMO_PASSWORD}


def _problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["title"] and body["status"] == status
    return body


def _with_cookie(value: str) -> dict:
    return {**WEB, "Cookie": f"spotcheck_refresh={value}"}


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    d = tmp_path / "dist"
    (d / "assets").mkdir(parents=True)
    (d / "index.html").write_text('<!doctype html><html><head><script type="module" src="/assets/app-abc123.js"></script></head></html>', encoding="utf-8")
    (d / "assets" / "app-abc123.js").write_text("console.log('spa')", encoding="utf-8")
    (d / "favicon.svg").write_text("<svg/>", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("outside dist", encoding="utf-8")
    return d


@pytest.fixture
async def web_gw(make_gateway, dist):
    return await make_gateway(web_dist=str(dist))


async def test_login_sets_httponly_cookie_and_keeps_refresh_token_out_of_json(web_gw):
    c = web_gw.client
    resp = await c.post("/auth/web/login", data=LOGIN, headers=WEB)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["access_token"] and "refresh_token" not in body
    assert resp.headers["cache-control"] == "no-store"
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith("spotcheck_refresh=")
    for attr in ("HttpOnly", "Path=/auth/web", "SameSite=strict"):
        assert attr in cookie, cookie
    assert "Secure" not in cookie  # plain-http demo; production or https sets Secure (next test)
    me = await c.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["sub"] == "demo_taiyuan"


async def test_cookie_is_secure_in_production_style_https(web_gw):
    c = web_gw.client
    resp = await c.post("https://test/auth/web/login", data=LOGIN, headers={**WEB, "Origin": "https://test"})
    assert resp.status_code == 200, resp.text
    assert "Secure" in resp.headers["set-cookie"]


async def test_refresh_rotates_and_reuse_of_an_old_cookie_revokes_the_login(web_gw):
    c = web_gw.client
    await c.post("/auth/web/login", data=LOGIN, headers=WEB)
    first = c.cookies.get("spotcheck_refresh", path="/auth/web")
    r1 = await c.post("/auth/web/refresh", headers=WEB)
    assert r1.status_code == 200, r1.text
    assert r1.json()["access_token"] and "refresh_token" not in r1.json()
    second = c.cookies.get("spotcheck_refresh", path="/auth/web")
    assert second and second != first
    # an attacker replays the first cookie: refused, and the whole family (incl. the current one) is revoked
    c.cookies.clear()
    _problem(await c.post("/auth/web/refresh", headers=_with_cookie(first)), 401)
    body = _problem(await c.post("/auth/web/refresh", headers=_with_cookie(second)), 401)
    assert "吊销" in body.get("detail", "")


async def test_refresh_and_logout_refuse_what_a_foreign_page_could_send(web_gw):
    c = web_gw.client
    await c.post("/auth/web/login", data=LOGIN, headers=WEB)
    _problem(await c.post("/auth/web/refresh"), 403)  # no custom header: a plain cross-site form post
    _problem(await c.post("/auth/web/refresh", headers={**WEB, "Origin": "https://evil.example"}), 403)
    _problem(await c.post("/auth/web/logout", headers={"Origin": "https://evil.example"}), 403)
    _problem(await c.post("/auth/web/login", data=LOGIN), 403)
    assert (await c.post("/auth/web/refresh", headers={**WEB, "Origin": "http://test"})).status_code == 200


async def test_logout_revokes_and_clears_the_cookie(web_gw):
    c = web_gw.client
    await c.post("/auth/web/login", data=LOGIN, headers=WEB)
    token = c.cookies.get("spotcheck_refresh", path="/auth/web")
    out = await c.post("/auth/web/logout", headers=WEB)
    assert out.status_code == 204
    assert 'spotcheck_refresh=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    c.cookies.clear()
    _problem(await c.post("/auth/web/refresh", headers=_with_cookie(token)), 401)
    audit = await c.get("/audit", headers={"Authorization": f"Bearer {(await c.post('/auth/token', data={**LOGIN, 'username': 'demo_discipline'})).json()['access_token']}"},
                        params={"limit": 500})
    assert any(e["action"] == "auth.logout" for e in audit.json()["items"])


async def test_no_session_and_bad_input_are_problems_not_500(web_gw):
    c = web_gw.client
    _problem(await c.post("/auth/web/refresh", headers=WEB), 401)
    assert (await c.post("/auth/web/logout", headers=WEB)).status_code == 204  # nothing to end: still fine
    _problem(await c.post("/auth/web/login", json={"username": "x"}, headers=WEB), 400)
    _problem(await c.post("/auth/web/login", data={**LOGIN, "password": "wrong"}, headers=WEB), 400)
    _problem(await c.post("/auth/web/refresh", headers=_with_cookie("x" * 3000)), 401)


async def test_spa_index_assets_and_history_fallback(web_gw):
    c = web_gw.client
    index = await c.get("/")
    assert index.status_code == 200 and "app-abc123.js" in index.text
    assert index.headers["cache-control"] == "no-cache"
    csp = index.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline'; img" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp and index.headers["x-content-type-options"] == "nosniff"
    deep = await c.get("/draws/01abc/projector")  # a client-side route: the index page
    assert deep.status_code == 200 and deep.text == index.text
    asset = await c.get("/assets/app-abc123.js")
    assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
    assert asset.headers["content-type"].startswith(("application/javascript", "text/javascript"))
    assert (await c.get("/favicon.svg")).headers["cache-control"] == "no-cache"
    _problem(await c.get("/assets/missing-000.js"), 404)  # a stale hashed asset is not the index page
    assert (await c.head("/")).status_code == 200


async def test_spa_never_shadows_the_api_nor_escapes_dist(web_gw):
    c = web_gw.client
    for path in ("/auth/nothing", "/admin/nothing", "/api/nothing", "/.well-known/nothing"):
        _problem(await c.get(path), 404)
    assert (await c.get("/health")).json()["status"] == "ok"
    assert (await c.get("/openapi.json")).headers["content-type"].startswith("application/json")
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt", "/..%5csecret.txt"):
        resp = await c.get(path)
        assert "outside dist" not in resp.text, path
    assert (await c.get("/" + "a" * 400)).status_code == 200  # over-long: the index page, no file lookup
    assert (await c.post("/")).status_code == 405


async def test_without_a_build_the_gateway_says_so(make_gateway, tmp_path):
    gw = await make_gateway(web_dist=str(tmp_path / "nothing"))
    resp = await gw.client.get("/")
    assert resp.status_code == 503 and "make run" in resp.text
    assert (await gw.client.get("/health")).status_code == 200
