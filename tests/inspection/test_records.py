"""The on-site record over HTTP: who may write, arrival, applicability, conclusions with
Idempotency-Key and If-Match, evidence by its bytes, signatures, sealing, amendments, the problem
summary reaching the enterprise, not-inspected outcomes."""
from __future__ import annotations

from sqlalchemy import select

from services.inspection.models import kernel
from shared.canonical import digest

from . import factory as f

NOW = "2022-06-20T09:30:00+08:00"


async def arrive(svc, task="t-wire", who=f.LEADER, present=(f.LEADER, f.DEPUTY, f.OFFICER1), status="producing", **kw):
    return await svc.client.post(f"/tasks/{task}/record", headers=svc.person(who),
                                 json={"arrived_at": NOW, "present": list(present), "production_status": status, **kw})


async def answer(svc, rec_id, code, conclusion, text=None, who=f.LEADER, fixed=False, key=None):
    r = await svc.client.get(f"/records/{rec_id}", headers=svc.person(who))
    item = next(i for i in r.json()["items"] if i["code"] == code)
    h = {**svc.person(who), "If-Match": f'"v{item["version"]}"'}
    if key:
        h["Idempotency-Key"] = key
    return await svc.client.put(f"/records/{rec_id}/items/{code}", headers=h,
                                json={"conclusion": conclusion, "text": text, "fixed_on_site": fixed})


async def upload(svc, rec_id, data: bytes, filename: str, who=f.LEADER, **params):
    return await svc.client.post(f"/records/{rec_id}/evidence/upload", headers={**svc.person(who), "Content-Type": "application/octet-stream"},
                                 params={"filename": filename, **params}, content=data)


async def fill_all(svc, rec_id, bad: dict | None = None):
    bad = bad or {}
    rec = (await svc.client.get(f"/records/{rec_id}", headers=svc.person(f.LEADER))).json()
    for i in rec["items"]:
        if i["conclusion"] is None:
            if i["code"] in bad:
                text, fixed = bad[i["code"]]
                r = await answer(svc, rec_id, i["code"], "nonconforming", text, fixed=fixed)
            else:
                r = await answer(svc, rec_id, i["code"], "conforming")
            assert r.status_code == 200, r.text


async def sign_all(svc, rec_id, refuse=False):
    rec = (await svc.client.get(f"/records/{rec_id}", headers=svc.person(f.LEADER))).json()
    for m in rec["present"]:
        kind = "expert" if m["kind"] == "expert" else "inspector"
        sig = (await upload(svc, rec_id, f.png(), "sign.png", who=m["person_id"], purpose="signature")).json()
        r = await svc.client.post(f"/records/{rec_id}/signatures", headers=svc.person(m["person_id"], kind), json={"image_sha256": sig["sha256"]})
        assert r.status_code == 201, r.text
    rec = (await svc.client.get(f"/records/{rec_id}", headers=svc.person(f.LEADER))).json()
    body = {"name": "孙厂长", "role": "总经理", "refused": True, "refusal_note": "企业负责人拒绝签字，现场两名执法人员见证"} if refuse else None
    if not refuse:
        sig = (await upload(svc, rec_id, f.png(3, 1), "ent.png", purpose="signature")).json()
        body = {"name": "孙厂长", "role": "总经理", "image_sha256": sig["sha256"]}
    r = await svc.client.put(f"/records/{rec_id}/enterprise-confirmation", headers={**svc.person(f.LEADER), "If-Match": f'"v{rec["version"]}"'}, json=body)
    assert r.status_code == 200, r.text
    return r.json()


async def seal(svc, rec_id, **body):
    rec = (await svc.client.get(f"/records/{rec_id}", headers=svc.person(f.LEADER))).json()
    return await svc.client.post(f"/records/{rec_id}/submit", headers={**svc.person(f.LEADER), "If-Match": f'"v{rec["version"]}"'}, json=body)


async def outbox(svc, subject_end: str) -> list[dict]:
    import json

    ctx = svc.app.state.ctx
    async with ctx.db.session() as s:
        rows = (await s.execute(select(kernel.outbox.c.payload).where(kernel.outbox.c.subject.like(f"%{subject_end}")))).scalars().all()
    return [json.loads(x) for x in rows]


# ---------------------------------------------------------------- the template
async def test_checklist_template_has_the_notice_wording(svc):
    r = await svc.client.get("/checklists", headers=svc.person(f.LEADER))
    assert r.json()["items"][0]["version"] == "2022"
    t = (await svc.client.get("/checklists/2022", headers=svc.person(f.LEADER))).json()
    assert [i["name"] for i in t["items"]] == ["证照信息", "生产设施设备", "生产过程控制", "质量检验", "标识标志", "产业政策", "质量违法行为", "质量抽检情况", "其他"]
    subs = {s["code"]: s for i in t["items"] for s in i["sub_items"]}
    assert len(subs) == 16
    assert subs["2.2"]["note"] == "适用于食品相关产品" and subs["2.2"]["conclusions"] == ["conforming", "nonconforming", "not_applicable"]
    assert subs["1.1"]["conclusions"] == ["conforming", "nonconforming"]
    assert subs["3.1"]["text"] == "(1) 企业是否正常生产。" and subs["3.1"]["note"] == "环保要求正常停产不适用"
    assert subs["9"]["text"] == "细则中其他需要检查的情况。"
    assert (await svc.client.get("/checklists/1999", headers=svc.person(f.LEADER))).status_code == 404


# ---------------------------------------------------------------- who writes
async def test_only_team_members_write_not_even_province_admin(svc, keys):
    r = await svc.client.post("/tasks/t-wire/record", headers=svc.admin(),
                              json={"arrived_at": NOW, "present": [f.LEADER, f.OFFICER1], "production_status": "producing"})
    assert r.status_code == 403 and r.json()["type"].endswith("not-team-member")
    outsider = keys.headers(sub="person:insp-9999", roles=["inspector"], region="140000", person_id="insp-9999")
    r = await svc.client.post("/tasks/t-wire/record", headers=outsider, json={"arrived_at": NOW, "present": [f.LEADER, f.OFFICER1], "production_status": "producing"})
    assert r.status_code == 404  # another team's task is not even visible
    r = await arrive(svc)
    assert r.status_code == 201, r.text
    rec = r.json()
    # the province admin reads it, but cannot write a conclusion
    assert (await svc.client.get(f"/records/{rec['id']}", headers=svc.admin())).status_code == 200
    item = rec["items"][0]
    r = await svc.client.put(f"/records/{rec['id']}/items/{item['code']}", headers={**svc.admin(), "If-Match": '"v1"'}, json={"conclusion": "conforming"})
    assert r.status_code == 403
    # a city admin of another city does not see it at all
    assert (await svc.client.get(f"/records/{rec['id']}", headers=svc.admin("city_admin", "140200"))).status_code == 404
    assert (await svc.client.get(f"/records/{rec['id']}", headers=svc.admin("county_admin", "140105"))).status_code == 200
    assert (await svc.client.get(f"/records/{rec['id']}", headers=outsider)).status_code == 404
    listed = (await svc.client.get("/records", headers=svc.admin("city_admin", "140200"))).json()
    assert listed["items"] == []
    # the expert member (deputy) writes; an enterprise token never does
    h = svc.person(f.DEPUTY, "expert")
    r = await svc.client.put(f"/records/{rec['id']}/items/1.1", headers={**h, "If-Match": '"v1"'}, json={"conclusion": "conforming"})
    assert r.status_code == 200, r.text
    r = await svc.client.put(f"/records/{rec['id']}/items/1.2", headers={**svc.enterprise(f.USCC_WIRE), "If-Match": '"v1"'}, json={"conclusion": "conforming"})
    assert r.status_code == 404


async def test_arrival_needs_two_law_enforcement_officers_and_comes_first(svc):
    r = await arrive(svc, present=(f.LEADER, f.DEPUTY))
    assert r.status_code == 422 and "执法人员" in r.json()["detail"]
    r = await arrive(svc, present=(f.OFFICER1, f.DEPUTY, "insp-x"))
    errors = {e["field"] for e in r.json()["errors"]}
    assert r.status_code == 422 and {"present.2", "present"} <= errors
    assert (await svc.client.get("/records", headers=svc.person(f.LEADER))).json()["items"] == []  # nothing half-written
    # conclusions before arrival: there is no record to write to
    r = await svc.client.get("/tasks", headers=svc.person(f.LEADER))
    assert all(t["record"] is None for t in r.json()["items"]) and len(r.json()["items"]) == 3
    r = await arrive(svc, gps={"lat": 37.87, "lon": 112.55, "accuracy_m": 8})
    assert r.status_code == 201 and r.json()["gps"]["lat"] == 37.87
    assert (await arrive(svc)).status_code == 409  # one record per task
    r = await svc.client.post("/tasks/t-food/record", headers=svc.person(f.LEADER), json={"arrived_at": "2022-06-20T09:30:00", "present": [f.LEADER, f.OFFICER1], "production_status": "producing"})
    assert r.status_code == 422  # a time without zone
    r = await svc.client.post("/tasks/t-food/record", headers=svc.person(f.LEADER), json={"arrived_at": NOW, "present": [f.LEADER, f.OFFICER1], "production_status": "on_holiday"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "production_status"


async def test_applicability_food_only_items_and_stopped_production(svc):
    wire = (await arrive(svc)).json()
    items = {i["code"]: i for i in wire["items"]}
    assert wire["product_type"] == "industrial" and wire["product_type_label"] == "工业产品"
    for code in ("2.2", "2.3", "4.2"):
        assert items[code]["conclusion"] == "not_applicable" and items[code]["preset"] and "食品相关产品" in items[code]["reason"]
    assert items["6"]["preset"]  # wire and cable: no industrial-policy question
    assert items["2.4"]["conclusion"] is None and not items["2.4"]["preset"]
    r = await answer(svc, wire["id"], "2.2", "conforming")
    assert r.status_code == 409 and r.json()["type"].endswith("item-not-applicable")
    # 2.4: 细则要求产品 — for an industrial product the team may answer 不适用 with a reason, never without one
    assert (await answer(svc, wire["id"], "2.4", "not_applicable")).status_code == 422
    assert (await answer(svc, wire["id"], "2.4", "not_applicable", "细则无库房特殊要求")).status_code == 200
    # 1.1 allows only 符合/不符合
    r = await answer(svc, wire["id"], "1.1", "not_applicable", "x")
    assert r.status_code == 422 and "符合/不符合" in r.json()["detail"]
    # a food-related enterprise: the food items must be answered
    food = (await arrive(svc, task="t-food")).json()
    fitems = {i["code"]: i for i in food["items"]}
    assert food["product_type"] == "food_related" and all(fitems[c]["conclusion"] is None for c in ("2.2", "2.3", "2.4", "4.2"))
    assert (await answer(svc, food["id"], "2.4", "not_applicable", "x")).status_code == 422
    # a cement site stopped for environmental-protection requirements
    cem = (await arrive(svc, task="t-cement", status="stopped_env")).json()
    citems = {i["code"]: i for i in cem["items"]}
    assert citems["3.1"]["reason"] == "环保要求正常停产不适用"
    assert citems["3.2"]["reason"] == "停产不适用" and citems["4.1"]["reason"] == "停产不适用"
    assert not citems["6"]["preset"]  # cement is under industrial policy


async def test_item_updates_are_idempotent_and_guarded_by_if_match(svc):
    rec = (await arrive(svc)).json()
    h = svc.person(f.LEADER)
    r = await svc.client.put(f"/records/{rec['id']}/items/1.1", headers=h, json={"conclusion": "conforming"})
    assert r.status_code == 428
    body = {"conclusion": "nonconforming", "text": "营业执照名称与许可证不一致", "fixed_on_site": False}
    hk = {**h, "If-Match": '"v1"', "Idempotency-Key": "phone-retry-1"}
    r1 = await svc.client.put(f"/records/{rec['id']}/items/1.1", headers=hk, json=body)
    assert r1.status_code == 200 and r1.headers["ETag"] == '"v2"'
    r2 = await svc.client.put(f"/records/{rec['id']}/items/1.1", headers=hk, json=body)  # the phone retries after a lost answer
    assert r2.status_code == 200 and r2.headers.get("Idempotent-Replayed") == "true" and r2.json() == r1.json()
    r3 = await svc.client.put(f"/records/{rec['id']}/items/1.1", headers={**h, "If-Match": '"v1"'}, json={"conclusion": "conforming"})
    assert r3.status_code == 412  # a stale phone does not overwrite
    r4 = await svc.client.put(f"/records/{rec['id']}/items/1.1", headers={**hk, "Idempotency-Key": "phone-retry-1"}, json={"conclusion": "conforming"})
    assert r4.status_code == 422  # same key, other body
    assert (await answer(svc, rec["id"], "1.2", "nonconforming")).status_code == 422  # 不符合 needs a written finding
    assert (await answer(svc, rec["id"], "1.2", "conforming", fixed=True)).status_code == 422
    r = await svc.client.put(f"/records/{rec['id']}/items/99", headers={**h, "If-Match": '"v1"'}, json={"conclusion": "conforming"})
    assert r.status_code == 404
    r = await svc.client.put(f"/records/{rec['id']}/items/1.2", headers={**h, "If-Match": '"v1"'}, json={"conclusion": "conforming", "extra": 1})
    assert r.status_code == 422


async def test_evidence_by_its_bytes_and_scoped_downloads(svc):
    rec = (await arrive(svc)).json()
    r = await upload(svc, rec["id"], f.PDF, "photo.jpg", item_code="1.1")
    assert r.status_code == 415 and r.json()["type"].endswith("evidence-type-mismatch")
    r = await upload(svc, rec["id"], b"MZ\x90\x00" + b"\x00" * 100, "photo.jpg", item_code="1.1")
    assert r.status_code == 415 and r.json()["type"].endswith("evidence-type")
    r = await upload(svc, rec["id"], b"", "photo.jpg", item_code="1.1")
    assert r.status_code == 422
    r = await upload(svc, rec["id"], f.JPEG, "现场照片.jpg", item_code="1.1")
    assert r.status_code == 201, r.text
    ev = r.json()
    assert ev["media_type"] == "image/jpeg" and ev["sha256"] == __import__("hashlib").sha256(f.JPEG).hexdigest()
    assert (await upload(svc, rec["id"], f.JPEG, "p.jpg", item_code="77")).status_code == 422
    assert (await upload(svc, rec["id"], f.JPEG, "p.jpg", purpose="item")).status_code == 422
    assert (await upload(svc, rec["id"], f.JPEG, "p.jpg", who="insp-9999", item_code="1.1")).status_code == 404
    got = await svc.client.get(f"/records/{rec['id']}/evidence/{ev['id']}/content", headers=svc.admin("county_admin", "140105"))
    assert got.status_code == 200 and got.content == f.JPEG and got.headers["x-content-type-options"] == "nosniff"
    assert (await svc.client.get(f"/records/{rec['id']}/evidence/{ev['id']}/content", headers=svc.admin("city_admin", "140200"))).status_code == 404
    assert (await svc.client.get(f"/records/{rec['id']}/evidence/{ev['id']}/content", headers=svc.enterprise(f.USCC_OTHER))).status_code == 404


async def test_evidence_beyond_memory_friendly_sizes_is_streamed_and_limited(svc):
    rec = (await arrive(svc)).json()
    chunk = b"\x00" * (1024 * 1024)

    async def body(n_mb, head):
        yield head
        for _ in range(n_mb):
            yield chunk

    # 40 MB PDF, sent in 1 MB chunks (beyond the 2 MB JSON body limit): streamed to the store
    r = await svc.client.post(f"/records/{rec['id']}/evidence/upload", headers={**svc.person(f.LEADER), "Content-Type": "application/pdf"},
                              params={"item_code": "4.1", "filename": "检验记录.pdf"}, content=body(40, b"%PDF-1.7\n"))
    assert r.status_code == 201, r.text
    assert r.json()["size"] == 40 * 1024 * 1024 + 9
    # a 31 MB "photo" stops at the image limit, nothing stored
    r = await svc.client.post(f"/records/{rec['id']}/evidence/upload", headers={**svc.person(f.LEADER), "Content-Type": "image/jpeg"},
                              params={"item_code": "4.1", "filename": "big.jpg"}, content=body(31, f.JPEG[:20]))
    assert r.status_code == 413 and "30 MB" in r.json()["detail"]
    store = svc.app.state.ctx.extras["store"]
    assert list((store.root / "tmp").iterdir()) == []


async def test_evidence_store_full_is_507_nothing_half_written_and_recovers(svc, monkeypatch):
    """ENOSPC from the kernel (writes go to /dev/full): a 507 problem+json, no evidence row, no
    partial file, the record keeps answering; once space is back the same upload lands."""
    from shared.evidence import _FileWriter

    rec = (await arrive(svc)).json()
    real_open = _FileWriter._open

    async def disk_full(self):
        await real_open(self)
        self.fh.close()
        self.fh = open("/dev/full", "wb", buffering=0)

    monkeypatch.setattr(_FileWriter, "_open", disk_full)
    r = await upload(svc, rec["id"], f.JPEG, "现场照片.jpg", item_code="1.1")
    assert r.status_code == 507 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("evidence-store-full") and r.headers["retry-after"]
    got = await svc.client.get(f"/records/{rec['id']}", headers=svc.person(f.LEADER))
    assert got.status_code == 200 and got.json()["evidence"] == []
    assert list((svc.app.state.ctx.extras["store"].root / "tmp").iterdir()) == []
    ready = (await svc.client.get("/ready")).json()
    assert ready["evidence_store"]["backend"] == "file" and ready["evidence_store"]["ok"] is True
    monkeypatch.setattr(_FileWriter, "_open", real_open)
    r = await upload(svc, rec["id"], f.JPEG, "现场照片.jpg", item_code="1.1")
    assert r.status_code == 201, r.text


async def test_evidence_on_s3_uploaded_and_downloaded_through_the_service(svc, monkeypatch):
    """The same service on the S3 backend (an in-process S3 server): upload, download streamed, a
    full store answering 507 with no row written."""
    from shared.evidence import EvidenceStore, S3Backend
    from services.inspection.storage import TYPE_LIMITS
    from tests.s3server import S3Server

    with S3Server() as s3:
        s3.make_bucket("insp")
        store = EvidenceStore(S3Backend("s3://insp/ev", endpoint_url=s3.endpoint, access_key="a", secret_key="b"),
                              max_bytes=max(TYPE_LIMITS.values()), type_limits=TYPE_LIMITS)
        monkeypatch.setitem(svc.app.state.ctx.extras, "store", store)
        monkeypatch.setitem(svc.app.state.ctx.extras, "evidence_store", store)
        rec = (await arrive(svc)).json()
        r = await upload(svc, rec["id"], f.JPEG, "现场照片.jpg", item_code="1.1")
        assert r.status_code == 201, r.text
        ev = r.json()
        assert s3.keys("insp") == [f"ev/{ev['sha256'][:2]}/{ev['sha256'][2:4]}/{ev['sha256']}"]
        got = await svc.client.get(f"/records/{rec['id']}/evidence/{ev['id']}/content", headers=svc.person(f.LEADER))
        assert got.status_code == 200 and got.content == f.JPEG and got.headers["content-type"] == "image/jpeg"
        assert (await svc.client.get("/ready")).json()["evidence_store"]["ok"] is True
        s3.full = True
        r = await upload(svc, rec["id"], f.PDF, "记录.pdf", item_code="1.1")
        assert r.status_code == 507 and r.json()["type"].endswith("evidence-store-full")
        s3.full = False
        assert len((await svc.client.get(f"/records/{rec['id']}", headers=svc.person(f.LEADER))).json()["evidence"]) == 1


async def test_sealing_then_amendment_with_leader_approval(svc):
    rec = (await arrive(svc)).json()
    await fill_all(svc, rec["id"], bad={"5": ("部分产品未标注生产许可证编号", True), "2.1": ("拉力试验机超出检定周期", False)})
    r = await seal(svc, rec["id"])
    assert r.status_code == 409 and {e["field"] for e in r.json()["errors"]} >= {"items.5", "signatures", "enterprise_confirmation"}
    await upload(svc, rec["id"], f.JPEG, "整改后.jpg", item_code="5", purpose="fix")
    await sign_all(svc, rec["id"])
    # a change after signing asks for the signatures again
    r = await answer(svc, rec["id"], "9", "conforming")
    assert r.json()["signatures_cleared"] == 3
    await sign_all(svc, rec["id"])
    r = await seal(svc, rec["id"], outcome={"categories": ["no_problem"], "follow_up": "none_needed"})
    assert r.status_code == 422  # a record with findings is not published as 未发现问题
    r = await seal(svc, rec["id"])
    assert r.status_code == 200, r.text
    sealed = r.json()
    assert sealed["state"] == "sealed" and sealed["outcome"] == {"categories": ["problem_pending"], "follow_up": "order_correction"}
    assert len(sealed["content_hash"]) == 64
    # the hash is in the audit chain, and the chain verifies
    audit = (await svc.client.get("/audit", headers=svc.admin("discipline"), params={"entity_id": rec["id"]})).json()["items"]
    seal_entry = next(a for a in audit if a["action"] == "record.sealed")
    assert seal_entry["detail"]["content_hash"] == sealed["content_hash"]
    assert (await svc.client.get("/audit/verify", headers=svc.admin("discipline"))).json()["ok"] is True
    ev = (await outbox(svc, "record.submitted"))[-1]["data"]
    assert ev["inspected"] is True and ev["content_hash"] == sealed["content_hash"] and ev["completed_on"]
    assert [(x["item_code"], x["fixed_on_site"]) for x in ev["findings"]] == [("2.1", False), ("5", True)]
    assert ev["bureau"]["region_code"] == "140105"
    # read-only now
    r = await svc.client.put(f"/records/{rec['id']}/items/1.1", headers={**svc.person(f.LEADER), "If-Match": f'"v{sealed["version"]}"'}, json={"conclusion": "conforming"})
    assert r.status_code == 409 and r.json()["type"].endswith("record-sealed")
    item = next(i for i in sealed["items"] if i["code"] == "1.1")
    r = await svc.client.put(f"/records/{rec['id']}/items/1.1", headers={**svc.person(f.LEADER), "If-Match": f'"v{item["version"]}"'}, json={"conclusion": "nonconforming", "text": "x"})
    assert r.status_code == 409
    assert (await upload(svc, rec["id"], f.JPEG, "late.jpg", item_code="1.1")).status_code == 409
    # an amendment: proposed by a member, approved only by the leader, shown beside the original
    r = await svc.client.post(f"/records/{rec['id']}/amendments", headers=svc.person(f.OFFICER1),
                              json={"reason": "复核检定证书，拉力试验机在检定周期内", "changes": [{"code": "2.1", "conclusion": "conforming"}]})
    assert r.status_code == 201, r.text
    am = r.json()
    assert (await svc.client.post(f"/records/{rec['id']}/amendments/{am['id']}/approve", headers=svc.person(f.OFFICER1), json={})).status_code == 403
    assert (await svc.client.post(f"/records/{rec['id']}/amendments/{am['id']}/approve", headers=svc.admin(), json={})).status_code == 403
    r = await svc.client.post(f"/records/{rec['id']}/amendments/{am['id']}/approve", headers=svc.person(f.LEADER), json={"note": "同意"})
    assert r.status_code == 200, r.text
    after = r.json()
    original = next(i for i in after["items"] if i["code"] == "2.1")
    current = next(i for i in after["current_items"] if i["code"] == "2.1")
    assert original["conclusion"] == "nonconforming" and current["conclusion"] == "conforming"
    assert after["content_hash"] == sealed["content_hash"] and after["current_hash"] != sealed["content_hash"]
    assert after["amendments"][0]["status"] == "approved" and after["amendments"][0]["outcome"]["categories"] == ["problem_corrected"]
    amended = (await outbox(svc, "record.amended"))[-1]["data"]
    assert amended["amendment_id"] == am["id"] and amended["version"] == 1 and amended["outcome"]["categories"] == ["problem_corrected"]
    assert amended["findings"] == [{"no": 1, "item_code": "5", "text": "部分产品未标注生产许可证编号", "fixed_on_site": True}]


async def test_four_eyes_leader_does_not_approve_own_amendment(svc):
    rec = (await arrive(svc)).json()
    await fill_all(svc, rec["id"], bad={"2.1": ("拉力试验机超出检定周期", False)})
    await sign_all(svc, rec["id"])
    assert (await seal(svc, rec["id"])).status_code == 200
    base = f"/records/{rec['id']}/amendments"
    r = await svc.client.post(base, headers=svc.person(f.LEADER), json={"reason": "复核检定证书", "changes": [{"code": "2.1", "conclusion": "conforming"}]})
    assert r.status_code == 201, r.text
    am = r.json()
    r = await svc.client.post(f"{base}/{am['id']}/approve", headers=svc.person(f.LEADER), json={"note": "自己批准"})
    assert r.status_code == 403 and r.json()["type"].endswith("four-eyes")
    # a member is not the second pair of eyes either: the deputy leader decides the leader's amendment
    assert (await svc.client.post(f"{base}/{am['id']}/approve", headers=svc.person(f.OFFICER1), json={})).status_code == 403
    r = await svc.client.post(f"{base}/{am['id']}/approve", headers=svc.person(f.DEPUTY), json={"note": "核实无误"})
    assert r.status_code == 200, r.text
    decided = r.json()["amendments"][0]
    assert decided["status"] == "approved"
    # a member's amendment is still the leader's to decide, not the deputy's
    r = await svc.client.post(base, headers=svc.person(f.OFFICER1), json={"reason": "补充说明", "changes": [{"code": "2.1", "conclusion": "nonconforming", "text": "复核后仍超期"}]})
    assert r.status_code == 201, r.text
    am2 = r.json()
    assert (await svc.client.post(f"{base}/{am2['id']}/approve", headers=svc.person(f.DEPUTY), json={})).status_code == 403
    assert (await svc.client.post(f"{base}/{am2['id']}/approve", headers=svc.person(f.OFFICER1), json={})).status_code == 403
    assert (await svc.client.post(f"{base}/{am2['id']}/approve", headers=svc.person(f.LEADER), json={})).status_code == 200
    # a member withdraws their own pending amendment (it no longer blocks the next one); nobody else's, and empty ones are refused
    r = await svc.client.post(base, headers=svc.person(f.OFFICER1), json={"reason": "空的更正", "changes": []})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "changes"
    am3 = (await svc.client.post(base, headers=svc.person(f.OFFICER1), json={"reason": "选错项目", "changes": [{"code": "2.1", "conclusion": "conforming"}]})).json()
    assert (await svc.client.post(f"{base}/{am3['id']}/reject", headers=svc.person(f.DEPUTY), json={})).status_code == 403
    r = await svc.client.post(f"{base}/{am3['id']}/reject", headers=svc.person(f.OFFICER1), json={"note": "本人撤回"})
    assert r.status_code == 200, r.text
    assert [a["status"] for a in r.json()["amendments"]][-1] == "rejected" and r.json()["amendments"][-1]["decided_person_id"] == f.OFFICER1
    assert (await svc.client.post(f"{base}/{am3['id']}/reject", headers=svc.person(f.OFFICER1), json={})).status_code == 409
    r = await svc.client.post(base, headers=svc.person(f.OFFICER1), json={"reason": "重新提出", "changes": [{"code": "2.1", "conclusion": "conforming"}]})
    assert r.status_code == 201, r.text


async def test_problem_summary_reaches_its_enterprise_and_no_other(svc):
    await svc.feed(f.licence_issued(f.USCC_WIRE, "(晋)XK06-001-00001", "wire_cable"))
    rec = (await arrive(svc)).json()
    await fill_all(svc, rec["id"], bad={"4.1": ("出厂检验记录不全，缺少3批次", False), "8": ("2021年省抽不合格后未整改", False)})
    await sign_all(svc, rec["id"], refuse=True)
    sealed = (await seal(svc, rec["id"])).json()
    assert sealed["enterprise_confirmation"]["refused"] is True
    # licences typed by the team are held against what the registry sent (attacker audit: a made-up expired
    # licence reached the case, where 注销 on expiry rests on it)
    made_up = await svc.client.post(f"/records/{rec['id']}/problem-summary", headers=svc.person(f.OFFICER1),
                                    json={"licences": [{"number": "(晋)XK06-001-99999", "valid_until": "2020-01-01"}]})
    assert made_up.status_code == 422 and made_up.json()["errors"] == [{"field": "licences.0.number", "message": "登记库中该企业没有此许可证编号"}]
    wrong_date = await svc.client.post(f"/records/{rec['id']}/problem-summary", headers=svc.person(f.OFFICER1),
                                       json={"licences": [{"number": "(晋)XK06-001-00001", "valid_until": "2020-01-01"}]})
    assert wrong_date.status_code == 422 and wrong_date.json()["errors"][0]["field"] == "licences.0.valid_until"
    r = await svc.client.post(f"/records/{rec['id']}/problem-summary", headers=svc.person(f.OFFICER1), json={})
    assert r.status_code == 201, r.text
    assert r.json()["licences"][0]["source"] == "registry"
    x = r.json()
    assert x["period"] == {"value": 30, "unit": "days", "label": "30日"}
    assert x["licences"][0]["number"] == "(晋)XK06-001-00001" and x["licences"][0]["valid_until"] == "2025-02-28"
    assert [(q["no"], q["item_code"]) for q in x["problems"]] == [(1, "4.1"), (2, "8")]
    assert x["products"] == ["电线电缆"]
    # not yet handed over: the enterprise does not see it
    ent = svc.enterprise(f.USCC_WIRE)
    assert (await svc.client.get(f"/problem-summaries/{x['id']}", headers=ent)).status_code == 404
    r = await svc.client.post(f"/problem-summaries/{x['id']}/handover", headers={**svc.admin(), "If-Match": '"v1"'},
                              json={"enterprise": {"name": "孙厂长", "role": "总经理", "refused": True, "refusal_note": "拒签"}})
    assert r.status_code == 403
    r = await svc.client.post(f"/problem-summaries/{x['id']}/handover", headers={**svc.person(f.LEADER), "If-Match": '"v1"'},
                              json={"enterprise": {"name": "孙厂长", "role": "总经理"}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "image_sha256"
    sig = (await upload(svc, rec["id"], f.PDF, "签字盖章.pdf", purpose="signature")).status_code
    assert sig == 409  # the record is sealed: the enterprise's signed scan was taken on site before
    ent_sig = next(e for e in sealed["evidence"] if e["purpose"] == "signature")
    r = await svc.client.post(f"/problem-summaries/{x['id']}/handover", headers={**svc.person(f.LEADER), "If-Match": '"v1"'},
                              json={"enterprise": {"name": "孙厂长", "role": "总经理", "image_sha256": ent_sig["sha256"], "phone": "0351-1234567"}, "contact": "孙厂长"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "handed_over"
    ev = (await outbox(svc, "problem_summary.handed_over"))[-1]["data"]
    assert ev["summary_id"] == x["id"] and ev["period"] == {"value": 30, "unit": "days"} and ev["handed_over_on"]
    assert [q["no"] for q in ev["problems"]] == [1, 2] and ev["licences"][0]["number"] == "(晋)XK06-001-00001"
    # the enterprise and its bureaus see it; another enterprise and another city do not
    assert (await svc.client.get(f"/problem-summaries/{x['id']}", headers=ent)).status_code == 200
    assert [i["id"] for i in (await svc.client.get("/problem-summaries", headers=ent)).json()["items"]] == [x["id"]]
    other = svc.enterprise(f.USCC_OTHER)
    assert (await svc.client.get(f"/problem-summaries/{x['id']}", headers=other)).status_code == 404
    assert (await svc.client.get("/problem-summaries", headers=other)).json()["items"] == []
    assert (await svc.client.get(f"/problem-summaries/{x['id']}", headers=svc.admin("county_admin", "140105"))).status_code == 200
    assert (await svc.client.get(f"/problem-summaries/{x['id']}", headers=svc.admin("city_admin", "140100"))).status_code == 200
    assert (await svc.client.get(f"/problem-summaries/{x['id']}", headers=svc.admin("city_admin", "140200"))).status_code == 404
    # the enterprise never sees the record itself through the record API
    assert (await svc.client.get(f"/records/{rec['id']}", headers=ent)).status_code == 404


async def test_not_inspected_is_an_outcome_of_its_own(svc):
    rec = (await arrive(svc, task="t-cement", status="stopped")).json()
    h = {**svc.person(f.LEADER), "If-Match": f'"v{rec["version"]}"'}
    r = await svc.client.post(f"/records/{rec['id']}/not-inspected", headers=h, json={"reason": "stopped", "detail": "企业自2022年3月起停产，厂区无生产活动"})
    assert r.status_code == 409 and r.json()["type"].endswith("evidence-required")
    await upload(svc, rec["id"], f.JPEG, "厂区停产.jpg", purpose="not_inspected")
    r = await svc.client.post(f"/records/{rec['id']}/not-inspected", headers=h, json={"reason": "holiday", "detail": "xx"})
    assert r.status_code == 422
    r = await svc.client.post(f"/records/{rec['id']}/not-inspected", headers=h, json={"reason": "stopped", "detail": "企业自2022年3月起停产，厂区无生产活动"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["state"] == "not_inspected" and out["follow_up_inspection"] is True and out["outcome"]["categories"] == ["no_activity"]
    ev = (await outbox(svc, "record.submitted"))[-1]["data"]
    assert ev["inspected"] is False and ev["outcome"] == {"categories": ["no_activity"], "follow_up": "refer_daily"} and ev["not_inspected"]["reason"] == "stopped"
    tracked = (await svc.client.get("/records", headers=svc.admin("city_admin", "140100"), params={"state": "not_inspected"})).json()["items"]
    assert [t["id"] for t in tracked] == [rec["id"]]


async def test_team_changes_and_cancellations_from_events(svc):
    # the substitution replaces OFFICER3 by a newcomer: the newcomer writes, the one who left does not
    newcomer = f.member("insp-0200", "member", "inspector", True, name="周执法")
    members = [m for m in f.MEMBERS if m["person_id"] != f.OFFICER3] + [newcomer]
    assert await svc.feed(f.amended(f.TEAM, 2, members))
    assert await svc.feed(f.amended(f.TEAM, 1, f.MEMBERS))  # an older amendment delivered late changes nothing
    r = await arrive(svc, who=f.OFFICER3, present=(f.OFFICER3, f.LEADER))
    assert r.status_code == 404  # no longer on the team: the task is not even visible
    r = await arrive(svc, who="insp-0200", present=("insp-0200", f.LEADER))
    assert r.status_code == 201, r.text
    ev = f.cancelled("t-food", f.USCC_FOOD)
    assert await svc.feed(ev)
    assert not await svc.feed(ev)  # redelivery harmless
    r = await arrive(svc, task="t-food")
    assert r.status_code == 409 and r.json()["type"].endswith("task-cancelled")
    tasks = {t["id"]: t for t in (await svc.client.get("/tasks", headers=svc.person(f.LEADER))).json()["items"]}
    assert tasks["t-food"]["status"] == "cancelled" and tasks["t-wire"]["record"]["state"] == "open"


async def test_content_hash_is_the_digest_of_the_sealed_content(svc):
    from services.inspection.records import content_of

    rec = (await arrive(svc)).json()
    await fill_all(svc, rec["id"])
    await sign_all(svc, rec["id"])
    sealed = (await seal(svc, rec["id"])).json()
    assert sealed["outcome"]["categories"] == ["no_problem"]
    import json as _json

    reread = _json.loads(_json.dumps(sealed))
    assert digest(content_of(reread, reread["items"])) == sealed["content_hash"]


async def test_a_city_discipline_group_reads_its_region_only(svc):
    """Audit of issue 7 #1: a city 纪检 account read the whole province's records; it reads its
    region like the bureau it watches, and only a province-level discipline account reads all."""
    rec = (await arrive(svc)).json()  # t-wire: 140105, a county of Taiyuan
    for region, status in (("140000", 200), ("140100", 200), ("140105", 200), ("140200", 404), ("140202", 404)):
        h = svc.admin("discipline", region)
        assert (await svc.client.get(f"/records/{rec['id']}", headers=h)).status_code == status, region
        listed = [r["id"] for r in (await svc.client.get("/records", headers=h)).json()["items"]]
        assert (rec["id"] in listed) == (status == 200), region
        tasks = [t["region_code"] for t in (await svc.client.get("/tasks", headers=h)).json()["items"]]
        assert all(t.startswith(region[:2] if region == "140000" else region[:4] if region.endswith("00") else region) for t in tasks), region
    # the per-city export is the city's own
    assert (await svc.client.get("/forms/steel/export.xlsx", params={"city_code": "140100"}, headers=svc.admin("discipline", "140200"))).status_code == 403


async def test_a_file_added_after_signing_asks_for_the_signatures_again(svc):
    """Evidence is part of what the seal's hash covers: a content file added after the members signed voids
    their signatures (as a changed answer does) and moves the record on; a signature image does not
    (attacker audit: a record could be sealed with signatures older than part of its content)."""
    rec = (await arrive(svc)).json()
    await fill_all(svc, rec["id"])
    await sign_all(svc, rec["id"])
    signed = (await svc.client.get(f"/records/{rec['id']}", headers=svc.person(f.LEADER))).json()
    assert len(signed["signatures"]) == 3
    sig = await upload(svc, rec["id"], f.png(), "another-sign.png", who=f.DEPUTY, purpose="signature")
    assert sig.status_code == 201 and sig.json()["signatures_cleared"] == 0
    late = await upload(svc, rec["id"], f.JPEG, "补拍.jpg", item_code="1.1")
    assert late.status_code == 201 and late.json()["signatures_cleared"] == 3
    after = (await svc.client.get(f"/records/{rec['id']}", headers=svc.person(f.LEADER))).json()
    assert after["signatures"] == [] and after["version"] == signed["version"] + 1
    r = await svc.client.post(f"/records/{rec['id']}/submit", headers={**svc.person(f.LEADER), "If-Match": f'"v{signed["version"]}"'}, json={})
    assert r.status_code == 412  # a screen holding the signed state is told
    await sign_all(svc, rec["id"])
    assert (await seal(svc, rec["id"])).status_code == 200


async def test_file_names_notes_and_item_codes_of_uploads_are_checked(svc):
    """Regression audit: a control character or U+FFFF in an upload's file name or note was stored (query
    parameters do not go through the body models), and a 'signature' upload naming an item could carry
    an on-site fix's proof in after everyone signed without voiding the signatures."""
    rec = (await arrive(svc)).json()
    r = await upload(svc, rec["id"], f.JPEG, "a\u0001b.jpg", item_code="1.1")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "filename"
    r = await upload(svc, rec["id"], f.JPEG, "ok.jpg", item_code="1.1", note="x\uffffy")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "note"
    r = await upload(svc, rec["id"], f.png(), "sig.png", purpose="signature", item_code="1.1")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "item_code"
    r = await upload(svc, rec["id"], f.JPEG, "停产.jpg", purpose="not_inspected", item_code="1.1")
    assert r.status_code == 422
    assert (await upload(svc, rec["id"], f.JPEG, "现场.jpg", item_code="1.1", note="第二批次")).status_code == 201
    assert (await svc.client.get(f"/records/{rec['id']}", headers=svc.person(f.LEADER))).json()["evidence"][-1]["filename"] == "现场.jpg"
