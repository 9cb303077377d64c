"""User administration: jurisdiction and rank rules, ETag/If-Match, Idempotency-Key,
deactivation and password reset, with audit entries and events for each change."""
from __future__ import annotations

import json

from sqlalchemy import select

from gateway.models import kernel
from shared.db import Database
from tests.gateway.conftest import auth_headers, token_for


def _new(username: str, region: str = "140105", roles=("inspector",), **extra) -> dict:
    return {"username": username, "display_name": f"测试{username}", "roles": list(roles), "region_code": region,
            "password": "Str0ng-passw0rd", **extra}


async def _usernames(client, headers, **params) -> list[str]:
    names, cursor = [], None
    while True:
        q = {"limit": 2, **params}
        if cursor:
            q["cursor"] = cursor
        resp = await client.get("/admin/users", headers=headers, params=q)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        names += [u["username"] for u in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return names


async def test_city_admin_is_confined_to_its_city_and_rank(gw):
    city = await auth_headers(gw.client, "demo_taiyuan")

    other_city = await gw.client.post("/admin/users", headers=city, json=_new("dt_officer", region="140202", roles=("county_admin",)))
    assert other_city.status_code == 403 and other_city.json()["errors"][0]["field"] == "region_code"
    province_role = await gw.client.post("/admin/users", headers=city, json=_new("ty_boss", region="140000", roles=("province_admin",)))
    assert province_role.status_code == 403 and province_role.json()["errors"][0]["field"] == "roles.0"
    machine_role = await gw.client.post("/admin/users", headers=city, json=_new("ty_machine", roles=("credit_system",)))
    assert machine_role.status_code == 422 and machine_role.headers["content-type"].startswith("application/problem+json")

    # inspectors and experts are the province's directory people: their accounts are the province's too
    inspector = await gw.client.post("/admin/users", headers=city, json=_new("ty_inspector", region="140105"))
    assert inspector.status_code == 403 and inspector.json()["errors"][0]["field"] == "roles.0"
    created = await gw.client.post("/admin/users", headers=city, json=_new("xd_officer", region="140105", roles=("county_admin",)))
    assert created.status_code == 201, created.text
    assert created.json()["level"] == "county" and "password" not in created.json() and "password_hash" not in created.json()

    # the city sees its own city (paged by cursor) and never Datong's people
    seen = await _usernames(gw.client, city)
    assert seen == sorted(seen)
    assert set(seen) == {"demo_taiyuan", "demo_xiaodian", "xd_officer"}
    datong_id = next(u["id"] for u in (await gw.client.get("/admin/users", headers=await auth_headers(gw.client, "demo_province"), params={"q": "datong"})).json()["items"])
    hidden = await gw.client.get(f"/admin/users/{datong_id}", headers=city)
    assert hidden.status_code == 404
    assert await _usernames(gw.client, city, region="140200") == []

    # the county admin sees only its county
    county = await auth_headers(gw.client, "demo_xiaodian")
    assert set(await _usernames(gw.client, county)) == {"demo_xiaodian", "xd_officer"}
    cannot_city = await gw.client.post("/admin/users", headers=county, json=_new("xd_city", region="140100", roles=("city_admin",)))
    assert cannot_city.status_code == 403

    # people without an admin role cannot administer at all
    assert (await gw.client.get("/admin/users", headers=await auth_headers(gw.client, "demo_inspector"))).status_code == 403


async def test_province_admin_manages_everyone(gw):
    prov = await auth_headers(gw.client, "demo_province")
    assert set(await _usernames(gw.client, prov)) >= {"demo_province", "demo_taiyuan", "demo_datong", "demo_xiaodian", "demo_inspector"}
    for username, region, roles in [("dt_admin2", "140200", ("city_admin",)), ("prov_admin2", "140000", ("province_admin",))]:
        resp = await gw.client.post("/admin/users", headers=prov, json=_new(username, region=region, roles=roles))
        assert resp.status_code == 201, resp.text
    # an admin role must sit at its own level
    wrong_level = await gw.client.post("/admin/users", headers=prov, json=_new("lvl_bad", region="140105", roles=("city_admin",)))
    assert wrong_level.status_code == 422 and wrong_level.json()["errors"][0]["field"] == "region_code"
    # enterprise accounts need a valid 统一社会信用代码
    no_uscc = await gw.client.post("/admin/users", headers=prov, json=_new("ent1", roles=("enterprise",)))
    assert no_uscc.status_code == 422 and no_uscc.json()["errors"][0]["field"] == "uscc"
    bad_uscc = await gw.client.post("/admin/users", headers=prov, json=_new("ent1", roles=("enterprise",), uscc="91140105MA0K123450"))
    assert bad_uscc.status_code == 422
    ent = await gw.client.post("/admin/users", headers=prov, json=_new("ent1", roles=("enterprise",), uscc="91140105MA0K123457"))
    assert ent.status_code == 201
    token = await token_for(gw.client, "ent1", "Str0ng-passw0rd")
    me = await gw.client.get("/auth/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.json()["uscc"] == "91140105MA0K123457" and me.json()["roles"] == ["enterprise"]
    # validation messages name the field, in Chinese
    weak = await gw.client.post("/admin/users", headers=prov, json=_new("weak1", password="short"))
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "password"
    extra = await gw.client.post("/admin/users", headers=prov, json={**_new("extra1"), "is_superuser": True})
    assert extra.status_code == 422 and extra.json()["errors"][0]["field"] == "is_superuser"
    dup = await gw.client.post("/admin/users", headers=prov, json=_new("ent1"))
    assert dup.status_code == 409


async def test_idempotent_create_etag_patch_deactivate_reset_with_audit_and_events(gw):
    prov = await auth_headers(gw.client, "demo_province")
    body = _new("idem_user", region="140100", roles=("inspector",), person_id="insp-0042")
    first = await gw.client.post("/admin/users", headers={**prov, "Idempotency-Key": "k-1"}, json=body)
    again = await gw.client.post("/admin/users", headers={**prov, "Idempotency-Key": "k-1"}, json=body)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    clash = await gw.client.post("/admin/users", headers={**prov, "Idempotency-Key": "k-1"}, json={**body, "display_name": "别人"})
    assert clash.status_code == 422
    uid = first.json()["id"]

    got = await gw.client.get(f"/admin/users/{uid}", headers=prov)
    etag = got.headers["etag"]
    no_match = await gw.client.patch(f"/admin/users/{uid}", headers=prov, json={"display_name": "新名字"})
    assert no_match.status_code == 428
    patched = await gw.client.patch(f"/admin/users/{uid}", headers={**prov, "If-Match": etag}, json={"display_name": "新名字", "roles": ["inspector", "expert"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["roles"] == ["expert", "inspector"] and patched.headers["etag"] != etag
    stale = await gw.client.patch(f"/admin/users/{uid}", headers={**prov, "If-Match": etag}, json={"display_name": "又改"})
    assert stale.status_code == 412

    # a city admin cannot lift a user above its own rank through PATCH either
    city = await auth_headers(gw.client, "demo_taiyuan")
    lift = await gw.client.patch(f"/admin/users/{uid}", headers={**city, "If-Match": patched.headers["etag"]}, json={"roles": ["province_admin"]})
    assert lift.status_code in (403, 422)
    unchanged = await gw.client.get(f"/admin/users/{uid}", headers=prov)
    assert unchanged.json()["roles"] == ["expert", "inspector"]

    login = await token_for(gw.client, "idem_user", "Str0ng-passw0rd")
    # an inspector's account is the province's: a city resetting its password would hold a team member's login
    taken = await gw.client.post(f"/admin/users/{uid}/reset-password", headers={**city, "If-Match": unchanged.headers["etag"]}, json={})
    assert taken.status_code == 403 and taken.json()["type"].endswith("role-province-only")
    reset = await gw.client.post(f"/admin/users/{uid}/reset-password", headers={**prov, "If-Match": unchanged.headers["etag"]}, json={})
    assert reset.status_code == 200 and len(reset.json()["new_password"]) >= 10
    old_refresh = await gw.client.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": login["refresh_token"]})
    assert old_refresh.status_code == 400
    await token_for(gw.client, "idem_user", reset.json()["new_password"])

    deact = await gw.client.post(f"/admin/users/{uid}/deactivate", headers={**prov, "If-Match": reset.headers["etag"]})
    assert deact.status_code == 200 and deact.json()["active"] is False
    refused = await gw.client.post("/auth/token", data={"grant_type": "password", "username": "idem_user", "password": reset.json()["new_password"]})
    assert refused.status_code == 400
    self_deact = await gw.client.post(f"/admin/users/{(await gw.client.get('/auth/me', headers=city)).json()['user_id']}/deactivate", headers={**city, "If-Match": "*"})
    assert self_deact.status_code == 403
    # nor its own password: a stolen access token would otherwise become the account for good
    me = (await gw.client.get("/auth/me", headers=city)).json()["user_id"]
    self_reset = await gw.client.post(f"/admin/users/{me}/reset-password", headers={**city, "If-Match": "*"}, json={})
    assert self_reset.status_code == 403 and self_reset.json()["title"] == "不能通过管理接口重置本人密码"
    await token_for(gw.client, "demo_taiyuan")  # the password is unchanged

    db = Database(gw.url)
    try:
        async with db.session() as s:
            actions = (await s.execute(select(kernel.audit.c.action).where(kernel.audit.c.entity_id == uid).order_by(kernel.audit.c.seq))).scalars().all()
            subjects = (await s.execute(select(kernel.outbox.c.subject, kernel.outbox.c.payload).order_by(kernel.outbox.c.seq))).all()
    finally:
        await db.dispose()
    assert actions[0] == "user.create" and actions.count("user.create") == 1
    assert {"user.update", "user.reset_password", "user.deactivate"} <= set(actions)
    verbs = [sub.rsplit(".", 1)[1] for sub, payload in subjects if json.loads(payload)["data"].get("id") == uid]
    assert verbs == ["created", "updated", "password_reset", "deactivated"]
    assert all("password_hash" not in payload and "Str0ng" not in payload for _, payload in subjects)
    chain = await gw.client.get("/audit/verify", headers=prov)
    assert chain.json()["ok"] is True


async def test_machine_clients_province_only(gw):
    prov = await auth_headers(gw.client, "demo_province")
    city = await auth_headers(gw.client, "demo_taiyuan")
    assert (await gw.client.get("/admin/clients", headers=city)).status_code == 403
    created = await gw.client.post("/admin/clients", headers={**prov, "Idempotency-Key": "c-1"},
                                   json={"client_id": "taiyuan_gov", "name": "太原政务系统", "role": "gov_client", "region_code": "140100"})
    assert created.status_code == 201, created.text
    secret = created.json()["client_secret"]
    tok = await gw.client.post("/auth/token", data={"grant_type": "client_credentials", "client_id": "taiyuan_gov", "client_secret": secret})
    assert tok.status_code == 200
    bad_role = await gw.client.post("/admin/clients", headers=prov, json={"client_id": "x_client", "name": "x", "role": "province_admin"})
    assert bad_role.status_code == 422 and bad_role.json()["errors"][0]["field"] == "role"
    listed = (await gw.client.get("/admin/clients", headers=prov)).json()["items"]
    assert {c["client_id"] for c in listed} == {"demo_credit_system", "taiyuan_gov"}
    assert all("secret" not in json.dumps(c) for c in listed)
    etag = (await gw.client.get("/admin/clients/taiyuan_gov", headers=prov)).headers["etag"]
    rotated = await gw.client.post("/admin/clients/taiyuan_gov/rotate-secret", headers={**prov, "If-Match": etag})
    assert rotated.status_code == 200
    old = await gw.client.post("/auth/token", data={"grant_type": "client_credentials", "client_id": "taiyuan_gov", "client_secret": secret})
    assert old.status_code == 401
    deact = await gw.client.post("/admin/clients/taiyuan_gov/deactivate", headers={**prov, "If-Match": rotated.headers["etag"]})
    assert deact.status_code == 200 and deact.json()["active"] is False
    new = await gw.client.post("/auth/token", data={"grant_type": "client_credentials", "client_id": "taiyuan_gov", "client_secret": rotated.json()["client_secret"]})
    assert new.status_code == 401


async def test_one_namespace_of_subjects_and_one_active_account_per_person(gw):
    """Found by an attacker audit: a county admin created a user named like the credit system's machine
    client and, deactivating it, revoked the client's tokens; a city admin gave itself a second working
    login of an inspector who had one."""
    prov = await auth_headers(gw.client, "demo_province")
    r = await gw.client.post("/admin/users", headers=await auth_headers(gw.client, "demo_taiyuan"), json=_new("demo_credit_system", roles=("county_admin",)))
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "username"
    r = await gw.client.post("/admin/clients", headers=prov, json={"client_id": "demo_taiyuan", "name": "与用户同名", "role": "gov_client", "region_code": "140100"})
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "client_id"

    first = await gw.client.post("/admin/users", headers=prov, json=_new("insp42_first", region="140100", person_id="insp-0042"))
    assert first.status_code == 201, first.text
    second = await gw.client.post("/admin/users", headers=prov, json=_new("insp42_second", region="140100", person_id="insp-0042"))
    assert second.status_code == 409 and second.json()["type"].endswith("person-has-account") and second.json()["errors"][0]["field"] == "person_id"
    other = await gw.client.post("/admin/users", headers=prov, json=_new("insp_other", region="140100"))
    etag = (await gw.client.get(f"/admin/users/{other.json()['id']}", headers=prov)).headers["etag"]
    moved = await gw.client.patch(f"/admin/users/{other.json()['id']}", headers={**prov, "If-Match": etag}, json={"person_id": "insp-0042"})
    assert moved.status_code == 409  # nor by binding another account to the person afterwards
    # the person's account replaced: the old one deactivated first, then the new one; the old one cannot come back beside it
    uid = first.json()["id"]
    etag = (await gw.client.get(f"/admin/users/{uid}", headers=prov)).headers["etag"]
    assert (await gw.client.post(f"/admin/users/{uid}/deactivate", headers={**prov, "If-Match": etag})).status_code == 200
    second = await gw.client.post("/admin/users", headers=prov, json=_new("insp42_second", region="140100", person_id="insp-0042"))
    assert second.status_code == 201, second.text
    etag = (await gw.client.get(f"/admin/users/{uid}", headers=prov)).headers["etag"]
    back = await gw.client.post(f"/admin/users/{uid}/activate", headers={**prov, "If-Match": etag})
    assert back.status_code == 409 and back.json()["type"].endswith("person-has-account")


async def test_an_administrator_of_ones_own_rank_comes_from_the_level_above(gw):
    """Attacker audit: a county admin created a second county admin for itself and, with it, reviewed the
    result it had entered ("another official"); a city admin did the same with a rectification outcome.
    City and county administrator accounts are created and managed by the level above."""
    prov = await auth_headers(gw.client, "demo_province")
    city = await auth_headers(gw.client, "demo_taiyuan")
    county = await auth_headers(gw.client, "demo_xiaodian")
    r = await gw.client.post("/admin/users", headers=county, json=_new("xd_second", roles=("county_admin",)))
    assert r.status_code == 403 and r.json()["type"].endswith("role-same-rank") and r.json()["errors"][0]["field"] == "roles.0"
    r = await gw.client.post("/admin/users", headers=city, json=_new("ty_second", region="140100", roles=("city_admin",)))
    assert r.status_code == 403 and r.json()["type"].endswith("role-same-rank")
    # the level above still creates them, and the city its counties' administrators
    made = await gw.client.post("/admin/users", headers=city, json=_new("xd_by_city", roles=("county_admin",)))
    assert made.status_code == 201, made.text
    assert (await gw.client.post("/admin/users", headers=prov, json=_new("ty_by_prov", region="140100", roles=("city_admin",)))).status_code == 201
    assert (await gw.client.post("/admin/users", headers=prov, json=_new("xd_inspector", roles=("inspector",)))).status_code == 201
    # nor can a county admin take over a fellow county admin's account (reset, deactivate, promote another user)
    etag = (await gw.client.get(f"/admin/users/{made.json()['id']}", headers=county)).headers["etag"]
    r = await gw.client.post(f"/admin/users/{made.json()['id']}/reset-password", headers={**county, "If-Match": etag}, json={})
    assert r.status_code == 403 and r.json()["type"].endswith("role-same-rank")
    insp = (await gw.client.get("/admin/users", headers=county, params={"limit": 100})).json()["items"]
    uid = next(u["id"] for u in insp if u["username"] == "xd_inspector")
    etag = (await gw.client.get(f"/admin/users/{uid}", headers=county)).headers["etag"]
    r = await gw.client.patch(f"/admin/users/{uid}", headers={**county, "If-Match": etag}, json={"roles": ["county_admin"]})
    assert r.status_code == 403
    etag = (await gw.client.get(f"/admin/users/{made.json()['id']}", headers=city)).headers["etag"]
    assert (await gw.client.post(f"/admin/users/{made.json()['id']}/reset-password", headers={**city, "If-Match": etag}, json={})).status_code == 200


async def test_concurrent_accounts_for_one_person_leave_one(gw):
    """Six concurrent creations of an account for one directory person: one is created, five are refused
    (the check alone lets several through on PostgreSQL under READ COMMITTED; the partial unique index
    holds), and the person has exactly one active account."""
    import asyncio

    prov = await auth_headers(gw.client, "demo_province")
    answers = await asyncio.gather(*[gw.client.post("/admin/users", headers=prov, json=_new(f"race_{k}", region="140100", person_id="insp-0042"))
                                     for k in range(6)])
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409, 409, 409], [r.text for r in answers]
    users = (await gw.client.get("/admin/users", headers=prov, params={"limit": 200, "q": "race_"})).json()["items"]
    assert [u["person_id"] for u in users if u["active"]] == ["insp-0042"]
