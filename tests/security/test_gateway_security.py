"""Issue 7 points 1–3 and 8–10 through the gateway's HTTP API, as an attacker with an ordinary
city or county account would try them: jurisdiction of account administration (纪检 accounts,
person and USCC bindings checked against the registry with the creator's token), forwarded
headers trusted only from configured proxies, failed logins audited, a deactivated user's token
refused at the services within moments, and implausible token claims refused."""
from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import select

from gateway.models import kernel as gw_kernel
from services.registry.app import create_app as registry_app
from shared.auth import TokenVerifier
from shared.migrations import upgrade_async
from shared.settings import settings_for
from tests.gateway.conftest import auth_headers, token_for
from tests.helpers import eventually, running
from tests.registry.conftest import enterprise_body

PASSWORD = "Str0ng-passw0rd"


def new_user(username, region="140100", roles=("inspector",), **extra) -> dict:
    return {"username": username, "display_name": f"测试{username}", "roles": list(roles), "region_code": region,
            "password": PASSWORD, **extra}


def rc_url(rc) -> str:
    return rc._transport.app.state.ctx.settings.database_url


def nats_url_of(rc) -> str:
    return rc._transport.app.state.ctx.settings.nats_url


def problem(resp, status, field=None):
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    if field:
        assert field in [e["field"] for e in resp.json().get("errors", [])], resp.json()
    return resp.json()


@pytest.fixture
async def stack(databases, nats_url, events_prefix, keys, make_gateway):
    """A registry with people and enterprises in three places, and a gateway routed to it; both
    on the test's own event prefix."""
    url = await databases.create("registry")
    await upgrade_async("services.registry", url)
    reg = registry_app(settings_for("registry", database_url=url, nats_url=nats_url, events_prefix=events_prefix),
                       verifier=TokenVerifier("spotcheck-gateway", "spotcheck", jwks=keys.jwks))
    async with running(reg) as rc:
        prov = keys.headers(sub="seed", roles=("province_admin",), region="140000")
        people = {}
        for key, pid, level, region in [("prov_insp", "insp-0901", "province", "140000"), ("datong_insp", "insp-0902", "city", "140200"),
                                        ("taiyuan_insp", "insp-0903", "city", "140100"), ("prov_exp", "exp-0901", "province", "140000"),
                                        ("xiaodian_insp", "insp-0904", "county", "140105")]:
            path = "/experts" if pid.startswith("exp") else "/inspectors"
            r = await rc.post(path, json={"id": pid, "name": f"人员{pid}", "level": level, "region_code": region,
                                          "organisation": "山西省市场监督管理局"}, headers=prov)
            assert r.status_code == 201, r.text
            people[key] = pid
        ents = {}
        for key, county in [("datong", "140212"), ("taiyuan", "140105")]:
            r = await rc.post("/enterprises", json=enterprise_body(county), headers=prov)
            assert r.status_code == 201, r.text
            ents[key] = r.json()["uscc"]
        gw = await make_gateway(transports={"registry": httpx.ASGITransport(app=reg)})
        yield gw, rc, people, ents


async def test_account_administration_stays_in_jurisdiction(stack, keys):
    gw, rc, people, ents = stack
    c = gw.client
    county = await auth_headers(c, "demo_xiaodian")
    city = await auth_headers(c, "demo_taiyuan")
    prov = await auth_headers(c, "demo_province")

    # 1. 纪检 accounts are the province's alone, alone or combined with another role
    problem(await c.post("/admin/users", headers=county, json=new_user("xd_disc", region="140105", roles=("discipline",))), 403, "roles.0")
    problem(await c.post("/admin/users", headers=city, json=new_user("ty_disc", roles=("discipline",))), 403, "roles.0")
    problem(await c.post("/admin/users", headers=city, json=new_user("ty_disc2", roles=("enterprise", "discipline"), uscc=ents["taiyuan"])), 403, "roles.1")
    r = await c.post("/admin/users", headers=prov, json=new_user("ty_disc3", roles=("discipline",)))
    assert r.status_code == 201, r.text
    # ... and only the province manages one: the city cannot take it over by resetting its password
    problem(await c.post(f"/admin/users/{r.json()['id']}/reset-password", headers={**city, "If-Match": r.headers["etag"]}, json={}), 403)
    problem(await c.post(f"/admin/users/{r.json()['id']}/deactivate", headers={**city, "If-Match": r.headers["etag"]}), 403)

    # 2. inspector and expert accounts (people of the province's directory) are the province's: a city or county
    #    that could create, rebind or reset them could log in as a member of any team its people sit on
    problem(await c.post("/admin/users", headers=city, json=new_user("ty_insp0", person_id=people["taiyuan_insp"])), 403, "roles.0")
    problem(await c.post("/admin/users", headers=county, json=new_user("xd_insp0", region="140105", person_id=people["xiaodian_insp"])), 403, "roles.0")
    problem(await c.post("/admin/users", headers=city, json=new_user("ty_exp0", roles=("expert",), person_id=people["prov_exp"])), 403, "roles.0")
    # the province's binding: a known person of the account's kind, inside the account's region
    body = problem(await c.post("/admin/users", headers=prov, json=new_user("p_unknown", region="140000", person_id="insp-9999")), 422, "person_id")
    assert "不在您的管辖范围内" in body["errors"][0]["message"]  # unknown and foreign look the same
    problem(await c.post("/admin/users", headers=prov, json=new_user("ty_kind", roles=("expert",), person_id=people["taiyuan_insp"])), 422, "person_id")
    problem(await c.post("/admin/users", headers=prov, json=new_user("ty_narrow", region="140105", person_id=people["taiyuan_insp"])), 422, "region_code")
    ok = await c.post("/admin/users", headers=prov, json=new_user("ty_insp", person_id=people["taiyuan_insp"]))
    assert ok.status_code == 201, ok.text
    ok = await c.post("/admin/users", headers=prov, json=new_user("xd_insp", region="140105", person_id=people["xiaodian_insp"]))
    assert ok.status_code == 201, ok.text
    ok = await c.post("/admin/users", headers=prov, json=new_user("p_insp", region="140000", person_id=people["prov_insp"]))
    assert ok.status_code == 201, ok.text
    # the city can neither rebind nor reset nor reactivate it
    mine = await c.get(f"/admin/users/{(await c.get('/admin/users', headers=city, params={'q': 'ty_insp'})).json()['items'][0]['id']}", headers=city)
    problem(await c.patch(f"/admin/users/{mine.json()['id']}", headers={**city, "If-Match": mine.headers["etag"]},
                          json={"person_id": people["datong_insp"]}), 403)
    problem(await c.post(f"/admin/users/{mine.json()['id']}/reset-password", headers={**city, "If-Match": mine.headers["etag"]}, json={}), 403)
    # and a later change of binding by the province is checked like a new one
    problem(await c.patch(f"/admin/users/{mine.json()['id']}", headers={**prov, "If-Match": mine.headers["etag"]},
                          json={"person_id": people["datong_insp"]}), 422)

    # 3. an enterprise binding needs the enterprise inside the creator's region
    problem(await c.post("/admin/users", headers=city, json=new_user("ty_ent_dt", roles=("enterprise",), uscc=ents["datong"])), 422, "uscc")
    ok = await c.post("/admin/users", headers=city, json=new_user("ty_ent", region="140105", roles=("enterprise",), uscc=ents["taiyuan"]))
    assert ok.status_code == 201, ok.text

    # nothing was written for the refusals
    names = {u["username"] for u in (await c.get("/admin/users", headers=prov, params={"limit": 500})).json()["items"]}
    assert {"ty_insp", "xd_insp", "p_insp", "ty_ent", "ty_disc3"} <= names
    assert not {"xd_disc", "ty_disc", "ty_disc2", "ty_ent_dt", "ty_insp0", "xd_insp0", "ty_exp0", "p_unknown", "ty_kind", "ty_narrow"} & names


async def test_binding_fails_closed_when_the_registry_is_away(make_gateway):
    def down(request):
        raise httpx.ConnectError("registry down", request=request)

    gw = await make_gateway(transports={"registry": httpx.MockTransport(down)})
    city = await auth_headers(gw.client, "demo_taiyuan")
    problem(await gw.client.post("/admin/users", headers=await auth_headers(gw.client, "demo_province"), json=new_user("ty_x", person_id="insp-0001")), 503)
    # an account without a binding needs no registry
    assert (await gw.client.post("/admin/users", headers=city, json=new_user("ty_plain", roles=("county_admin",), region="140105"))).status_code == 201

    # point 11 at the gateway: forged cursors on users and clients, huge parked ids, audit bounds
    from tests.security.test_bad_input import FORGED, assert_problem

    prov = await auth_headers(gw.client, "demo_province")
    for path in ("/admin/users", "/admin/clients"):
        for cursor in FORGED:
            assert_problem(await gw.client.get(path, params={"cursor": cursor}, headers=prov))
    for after in ("9223372036854775808", "-1"):
        assert_problem(await gw.client.get("/audit", params={"after": after}, headers=prov))
    assert_problem(await gw.client.post("/admin/parked/9223372036854775808/replay", headers=prov))


async def _audit(gw, action):
    from shared.db import Database

    db = Database(gw.url)
    try:
        async with db.session() as s:
            t = gw_kernel.audit
            return [dict(r._mapping) for r in (await s.execute(select(t).where(t.c.action == action).order_by(t.c.seq))).all()]
    finally:
        await db.dispose()


async def test_forwarded_for_is_ignored_unless_from_a_trusted_proxy_and_failures_are_audited(make_gateway):
    gw = await make_gateway(login_attempts_per_ip=6, login_attempts_per_user=5)
    statuses = []
    for i in range(10):  # a new name and a new claimed address each time
        r = await gw.client.post("/auth/token", headers={"X-Forwarded-For": f"203.0.113.{i}"},
                                 data={"grant_type": "password", "username": f"nobody{i}", "password": "wrong-passw0rd"})
        statuses.append(r.status_code)
    assert statuses[:6] == [400] * 6 and set(statuses[6:]) == {429}
    failed = await _audit(gw, "auth.login_failed")
    assert len(failed) == 6
    assert {e["detail"]["ip"] for e in failed} == {"127.0.0.1"}  # the real peer, not the claim
    assert failed[0]["entity_id"] == "user:nobody0" and failed[0]["detail"]["reason"] == "bad_credentials"
    assert "wrong-passw0rd" not in str(failed)

    # behind a configured proxy, the client address it reports is used (each one its own window)
    gw2 = await make_gateway(login_attempts_per_ip=3, login_attempts_per_user=5, trusted_proxies="127.0.0.1,10.0.0.0/8")
    for i in range(5):
        r = await gw2.client.post("/auth/token", headers={"X-Forwarded-For": f"198.51.100.{i}, 10.0.0.7"},
                                  data={"grant_type": "password", "username": f"someone{i}", "password": "wrong-passw0rd"})
        assert r.status_code == 400
    assert {e["detail"]["ip"] for e in await _audit(gw2, "auth.login_failed")} == {f"198.51.100.{i}" for i in range(5)}


async def test_proxied_requests_carry_only_the_trusted_forwarded_chain(make_gateway, databases, keys):
    from tests.gateway.fake_service import fake_service

    service = fake_service("registry", keys.jwks, await databases.create("fake"))
    gw = await make_gateway(transports={"registry": httpx.ASGITransport(app=service)})
    r = await gw.client.get("/api/v1/registry/echo/x", headers={"X-Forwarded-For": "1.2.3.4"})
    assert r.status_code == 200, r.text
    assert r.json()["headers"]["x-forwarded-for"] == "127.0.0.1"


async def test_deactivated_users_token_is_refused_by_the_services_quickly(stack, keys):
    gw, rc, people, ents = stack
    prov = await auth_headers(gw.client, "demo_province")
    created = await gw.client.post("/admin/users", headers=prov, json=new_user("ty_leaver", roles=("city_admin",)))
    assert created.status_code == 201, created.text
    token = (await token_for(gw.client, "ty_leaver", PASSWORD))["access_token"]
    mine = {"Authorization": f"Bearer {token}"}
    assert (await rc.get("/enterprises", headers=mine)).status_code == 200
    assert (await gw.client.get("/api/v1/registry/enterprises", headers=mine)).status_code == 200
    # the watchers have joined the stream before the change (else they replay it anyway)
    deact = await gw.client.post(f"/admin/users/{created.json()['id']}/deactivate", headers={**prov, "If-Match": created.headers["etag"]})
    assert deact.status_code == 200
    started = time.monotonic()

    async def refused():
        r = await rc.get("/enterprises", headers=mine)
        return r.status_code == 401 and r.json()["type"].endswith("token-revoked")

    await eventually(refused, timeout=10)
    elapsed = time.monotonic() - started
    # the gateway's own endpoints refuse it too
    problem(await gw.client.get("/admin/users", headers=mine), 401)
    print(f"revocation reached the registry in {elapsed:.2f} s")

    # a service (re)started afterwards learns it from the stream's recent history
    reg2 = registry_app(settings_for("registry", database_url=rc_url(rc), nats_url=nats_url_of(rc), events_prefix=gw.settings.events_prefix),
                        verifier=TokenVerifier("spotcheck-gateway", "spotcheck", jwks=keys.jwks))
    async with running(reg2) as rc2:
        async def refused_after_restart():
            r = await rc2.get("/enterprises", headers=mine)
            return r.status_code == 401

        await eventually(refused_after_restart, timeout=10)
        # other people's tokens are unaffected
        assert (await rc2.get("/enterprises", headers=prov)).status_code == 200


def implausible_claims() -> list[dict]:
    now = int(time.time())
    return [
        {"exp": str(now + 300)},  # numeric string
        {"iat": now + 3600, "exp": now + 3900},  # issued in the future
        {"iat": now - 10, "exp": now + 10 * 365 * 86400},  # ten years
        {"iat": now - 10, "exp": now + 1000},  # beyond the 900 s the gateway ever issues
        {"roles": "province_admin"},  # a string, not a list
        {"roles": ["root"]},
        {"region": 140000, "level": "province"},
        {"region": "110000"},  # not this province
        {"iat": True},
        {"level": "province", "region": "140100"},
        {"uscc": ["91140100MA0000000X"]},
    ]


async def test_implausible_claims_are_refused(stack, keys):
    gw, rc, people, ents = stack
    for claims in implausible_claims():
        token = keys.mint(**{"sub": "attacker", "roles": ("province_admin",), "region": "140000", **claims})
        for client, path in [(rc, "/enterprises"), (gw.client, "/auth/me")]:
            r = await client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, (claims, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
    # the ordinary token still works
    assert (await rc.get("/enterprises", headers=keys.headers(sub="ok", roles=("province_admin",), region="140000"))).status_code == 200
