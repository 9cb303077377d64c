"""One Idempotency-Key behaviour everywhere (shared.idempotency.idempotent_write): a replay carries
``Idempotent-Replayed: true`` with the first answer's status, ETag and Location; a key reused with
another body is a 422 problem — in the registry, sampling (plan, template plan, draw) and the gateway."""
from __future__ import annotations

import ast
from pathlib import Path

from gateway.schemas import ClientOut, UserOut
from services.sampling.schemas import DrawOut, PlanOut
from tests.gateway import conftest as _gw
from tests.helpers import running
from tests.registry import conftest as _reg
from tests.sampling import test_draws as _sampling

# the areas' own fixtures, used here as they are
registry, make_client, make_gateway, gw = _reg.registry, _sampling.make_client, _gw.make_gateway, _gw.gw
auth_headers, enterprise_body, h = _gw.auth_headers, _reg.enterprise_body, _sampling.h

ROOT = Path(__file__).parents[2]


async def _check(client, path, headers, body, other, location_prefix=None, etag=True):
    first = await client.post(path, json=body, headers={**headers, "Idempotency-Key": f"k-{path}"})
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = await client.post(path, json=body, headers={**headers, "Idempotency-Key": f"k-{path}"})
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    if etag:
        assert again.headers["etag"] == first.headers["etag"]
    if location_prefix:
        assert first.headers["location"].startswith(location_prefix)
        assert again.headers["location"] == first.headers["location"]
    clash = await client.post(path, json=other, headers={**headers, "Idempotency-Key": f"k-{path}"})
    assert clash.status_code == 422 and clash.headers["content-type"] == "application/problem+json"
    assert clash.json()["type"].endswith("idempotency-key-reused")
    return first, again


async def test_registry_replay(registry):
    body = enterprise_body()
    other = enterprise_body()
    await _check(registry.client, "/enterprises", registry.h(), body, other)


async def test_sampling_plan_template_and_draw_replay(make_client, keys):
    app = await make_client()
    async with running(app) as c:
        hd = h(keys)
        first, again = await _check(c, "/plans/from-template/notice-2022-181", hd, {}, {"batch": "另一批次"},
                                    location_prefix="/api/v1/sampling/plans/")
        assert again.json() == first.json()
        plan = first.json()
        PlanOut.model_validate(plan)  # the documented body is what the route answers
        etag = (await c.get(f"/plans/{plan['id']}", headers=hd)).headers["etag"]
        approver = h(keys, sub="admin2")  # 四眼原则: not the author
        assert (await c.post(f"/plans/{plan['id']}/approve", headers={**approver, "If-Match": etag})).status_code == 200
        d, _ = await _check(c, "/draws", hd, {"plan_id": plan["id"], "kind": "enterprise"},
                            {"plan_id": plan["id"], "kind": "inspector"}, location_prefix="/api/v1/sampling/draws/")
        DrawOut.model_validate(d.json())
        listed = (await c.get("/draws", headers=hd)).json()
        assert set(listed) == {"items", "next_cursor", "limit"}
        for item in listed["items"]:
            DrawOut.model_validate(item)
        for item in (await c.get("/plans", headers=hd)).json()["items"]:
            PlanOut.model_validate(item)


async def test_gateway_users_and_clients_replay(gw):
    prov = await auth_headers(gw.client, "demo_province")
    body = {"username": "idem_one", "display_name": "幂等", "region_code": "140100", "roles": ["inspector"],
            "person_id": "insp-0042", "password": "a-very-long-password-1"}  # known to the fake registry of gw
    first, again = await _check(gw.client, "/admin/users", prov, body, {**body, "display_name": "别人"},
                                location_prefix="/admin/users/")
    assert first.json()["id"] == again.json()["id"]
    UserOut.model_validate(first.json())  # the documented bodies are what the routes answer
    for item in (await gw.client.get("/admin/users", headers=prov)).json()["items"]:
        UserOut.model_validate(item)
    c_first, c_again = await _check(gw.client, "/admin/clients", prov, {"client_id": "idem_sys", "name": "测试系统", "role": "gov_client"},
                                     {"client_id": "idem_sys", "name": "另一个", "role": "gov_client"},
                                     location_prefix="/admin/clients/")
    assert "client_secret" in c_first.json() and "client_secret" not in c_again.json()  # shown once, never stored
    assert c_again.headers["cache-control"] == "no-store"
    ClientOut.model_validate(c_first.json())
    for item in (await gw.client.get("/admin/clients", headers=prov)).json()["items"]:
        ClientOut.model_validate(item)


def test_no_second_implementation_of_lookup_and_remember():
    """Only shared/idempotency.py calls lookup/remember; every route uses idempotent_write."""
    offenders = []
    for path in list((ROOT / "services").rglob("*.py")) + list((ROOT / "gateway").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("lookup", "remember") and getattr(node.value, "id", "") == "idempotency":
                offenders.append(f"{path}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and node.module == "shared.idempotency":
                names = {a.name for a in node.names}
                if names & {"lookup", "remember"}:
                    offenders.append(f"{path}:{node.lineno}")
    assert not offenders, offenders


async def test_documented_registry_bodies_are_what_routes_answer(registry):
    from services.registry.schemas import ConflictOut, EnterpriseFullOut, EnterpriseOut, LicenceListOut, LicenceOut, PersonOut

    e = await registry.create(enterprise_body())
    EnterpriseFullOut.model_validate(e)
    lics = (await registry.client.get(f"/enterprises/{e['uscc']}/licences", headers=registry.h())).json()
    LicenceListOut.model_validate(lics)
    LicenceOut.model_validate((await registry.client.get(f"/licences/{lics['items'][0]['id']}", headers=registry.h())).json())
    for item in (await registry.client.get("/enterprises", headers=registry.h(), params={"limit": 5})).json()["items"]:
        EnterpriseOut.model_validate(item)
    body = {"name": "周建国", "level": "city", "region_code": "140800", "organisation": "运城市市场监督管理局"}
    made = await registry.client.post("/inspectors", json=body, headers=registry.h())
    assert made.status_code == 201, made.text
    PersonOut.model_validate(made.json())
    pid = made.json()["id"]
    declared = await registry.client.post("/conflicts", json={"person_id": pid, "uscc": e["uscc"], "reason": "亲属在该企业任职"},
                                          headers=registry.h())
    assert declared.status_code == 201, declared.text
    ConflictOut.model_validate(declared.json())
    for item in (await registry.client.get("/conflicts", headers=registry.h())).json()["items"]:
        ConflictOut.model_validate(item)
    got = (await registry.client.get(f"/inspectors/{pid}", headers=registry.h())).json()
    assert [c.uscc for c in PersonOut.model_validate(got).conflicts] == [e["uscc"]]
    for item in (await registry.client.get("/inspectors", headers=registry.h())).json()["items"]:
        PersonOut.model_validate(item)
