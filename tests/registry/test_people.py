"""Inspector and expert directories, and declared conflicts of interest (回避)."""
from __future__ import annotations

import json

from sqlalchemy import select

from services.registry.models import Person, kernel
from tests.registry.conftest import bad_check_digit, make_uscc


def _inspector(**over):
    body = {"name": "周建国", "level": "city", "region_code": "140800", "organisation": "运城市市场监督管理局",
            "business_line": "产品质量安全监管", "division_cadre": False, "certificate_no": "晋市监执20220001"}
    body.update(over)
    return body


async def test_inspector_create_update_scope(registry):
    h = {**registry.h(), "Idempotency-Key": "insp-create-1"}
    r1 = await registry.client.post("/inspectors", json=_inspector(), headers=h)
    r2 = await registry.client.post("/inspectors", json=_inspector(), headers=h)
    assert r1.status_code == 201 and r2.json() == r1.json()
    pid = r1.json()["id"]
    assert pid.startswith("insp-") and r1.json()["law_enforcement_officer"] is True
    assert await registry.count(Person) >= 1
    yc = registry.h(roles=("city_admin",), region="140800")
    ty = registry.h(roles=("city_admin",), region="140100")
    assert (await registry.client.get(f"/inspectors/{pid}", headers=ty)).status_code == 404
    r = await registry.client.get(f"/inspectors/{pid}", headers=yc)
    assert r.status_code == 200 and r.headers["etag"] == '"v1"'
    r = await registry.client.patch(f"/inspectors/{pid}", json={"active": False}, headers=yc)
    assert r.status_code == 428
    r = await registry.client.patch(f"/inspectors/{pid}", json={"active": False}, headers={**yc, "If-Match": '"v1"'})
    assert r.status_code == 200 and r.json()["active"] is False
    r = await registry.client.patch(f"/inspectors/{pid}", json={"active": True}, headers={**ty, "If-Match": '"v2"'})
    assert r.status_code == 404
    async with registry.ctx.db.session() as s:
        subjects = (await s.execute(select(kernel.outbox.c.subject).where(kernel.outbox.c.payload.contains(pid)))).scalars().all()
    assert sum(1 for x in subjects if x.endswith(".registry.inspector.changed")) == 2
    r = await registry.client.post("/inspectors", json=_inspector(region_code="140100", organisation="太原市市场监督管理局"), headers=yc)
    assert r.status_code == 403
    r = await registry.client.post("/inspectors", json=_inspector(level="province"), headers=registry.h())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "region_code"
    r = await registry.client.post("/inspectors", json=_inspector(specialties=["cement"]), headers=registry.h())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "specialties"


async def test_a_taken_person_id_is_one_neutral_answer_wherever_it_lies(registry):
    """Audit of issue 7 (low): POST with another city's id answered "编号 … 已存在" while GET
    answered 404. Decided (docs/architecture.md, threat model): ids are unique province-wide, so
    a taken id is refused — with one answer, the same for an id in the caller's city and in another
    city, naming nothing of the other record, which stays 404; a blank id is assigned."""
    yc = registry.h(roles=("city_admin",), region="140800")
    ty = registry.h(roles=("city_admin",), region="140100")
    mine = (await registry.client.post("/inspectors", json=_inspector(id="insp-7001"), headers=yc)).json()["id"]
    theirs = (await registry.client.post("/inspectors", json=_inspector(id="insp-7002", region_code="140100", organisation="太原市市场监督管理局"),
                                         headers=ty)).json()["id"]
    assert (mine, theirs) == ("insp-7001", "insp-7002")
    assert (await registry.client.get(f"/inspectors/{theirs}", headers=yc)).status_code == 404

    def neutral(r, pid):
        assert r.status_code == 409, r.text
        body = {k: v for k, v in r.json().items() if k not in ("instance", "request_id")}
        return json.loads(json.dumps(body, ensure_ascii=False).replace(pid, "<id>"))

    own = neutral(await registry.client.post("/inspectors", json=_inspector(id=mine), headers=yc), mine)
    other = neutral(await registry.client.post("/inspectors", json=_inspector(id=theirs), headers=yc), theirs)
    assert own == other and own["type"].endswith("person-id-taken")
    text = json.dumps(other, ensure_ascii=False)
    assert "太原" not in text and "140100" not in text and "已存在" not in text
    r = await registry.client.post("/inspectors", json=_inspector(), headers=yc)  # blank: assigned
    assert r.status_code == 201 and r.json()["id"] not in (mine, theirs)


async def test_experts_and_conflicts(registry):
    r = await registry.client.post("/experts", json={"id": "exp-0501", "name": "孙丽", "level": "province", "region_code": "140000",
                                                     "organisation": "山西省知识产权保护中心", "specialties": ["电线电缆", "cement"]}, headers=registry.h())
    assert r.status_code == 201, r.text
    assert r.json()["specialties"] == ["cement", "wire_cable"]
    r = await registry.client.post("/experts", json={"name": "孙丽", "level": "province", "region_code": "140000",
                                                     "organisation": "山西省检验检测中心", "specialties": ["toys"]}, headers=registry.h())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "specialties"
    uscc = make_uscc("140105")
    # the expert declares for themself
    me = registry.h(roles=("expert",), region="140000", person_id="exp-0501", sub="demo_expert")
    r = await registry.client.post("/conflicts", json={"person_id": "exp-0501", "uscc": uscc, "reason": "近亲属在该企业任职"}, headers=me)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    r = await registry.client.post("/conflicts", json={"person_id": "exp-0501", "uscc": uscc, "reason": "重复"}, headers=registry.h())
    assert r.status_code == 409
    # someone else's person id is not theirs to declare for
    r = await registry.client.post("/conflicts", json={"person_id": "exp-0501", "uscc": make_uscc(), "reason": "x"},
                                   headers=registry.h(roles=("expert",), region="140000", person_id="exp-0999"))
    assert r.status_code == 404
    r = await registry.client.post("/conflicts", json={"person_id": "exp-0501", "uscc": bad_check_digit(uscc), "reason": "x"}, headers=registry.h())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "uscc"
    pop = (await registry.client.get("/population/people", params={"kind": "expert"}, headers=registry.h())).json()["items"]
    assert {"uscc": uscc, "reason": "近亲属在该企业任职"} in next(p for p in pop if p["id"] == "exp-0501")["conflicts"]
    mine = (await registry.client.get("/conflicts", headers=me)).json()["items"]
    assert [c["id"] for c in mine] == [cid]
    r = await registry.client.delete(f"/conflicts/{cid}", params={"reason": "已离职"}, headers=registry.h())
    assert r.status_code == 200
    async with registry.ctx.db.session() as s:
        subjects = (await s.execute(select(kernel.outbox.c.subject).where(kernel.outbox.c.payload.contains(cid)))).scalars().all()
    assert sorted(x.rsplit(".", 2)[-2:][1] for x in subjects) == ["declared", "withdrawn"]
