"""Demo campaign step of inspection: through the gateway, as the team members (``c.as_person``) and the
enterprises (``c.as_enterprise``) would, records in every state — open (arrived), in progress, sealed
with findings and a handed-over problem summary, sealed clean, not inspected (停产), amended with the
leader's approval — with evidence photos and drawn signatures, and the steel and cement forms. Two more
teams each seal one record with findings and hand its summary over, so rectification has cases to
report and to recheck.

往期检查（演示历史）: the deadlines of this campaign's hand-overs lie ahead, so to show what happens when
a deadline passes (逾期, then 撤销 / 立案查处) the step also publishes an earlier batch — real demo
enterprises and sites not in this campaign, handed over months ago — through the service's demo-only
``POST /demo/history`` (the service's own ``record.submitted`` / ``problem_summary.handed_over`` events
with their past dates; refused in production mode). Rectification opens those cases through its
ordinary consumer and its sweep flags them overdue by itself."""
from __future__ import annotations

import struct
import zlib

from shared.demo_campaign import CampaignClient
from shared.topology import enabled_services

ROLES = ("sealed_findings", "sealed_clean", "amended", "not_inspected", "in_progress", "open")


def signature_png(seed: int, width: int = 160, height: int = 50) -> bytes:
    """A drawn signature: a dark stroke on white (a real PNG, as a signature pad sends)."""
    import math

    rows = []
    for y in range(height):
        row = bytearray(b"\x00")
        for x in range(width):
            yy = height / 2 + (height / 3) * math.sin((x + seed * 7) / (9 + seed % 5)) * math.cos(x / 31)
            row += b"\x20\x20\x40" if abs(y - yy) < 1.6 else b"\xff\xff\xff"
        rows.append(bytes(row))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


def photo_jpeg(text: str) -> bytes:
    """A small JPEG-typed evidence file (magic bytes and a JFIF header; the content is a marker)."""
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + text.encode("utf-8") + b"\xff\xd9"


class _Team:
    def __init__(self, c: CampaignClient, members: list[dict]):
        self.c, self.members = c, members
        self.leader = next(m for m in members if m["role"] == "leader")
        self._tokens: dict[str, dict] = {}
        # who goes to the site: the leader, the deputy, and officers until two law-enforcement officers are present
        present = [self.leader] + [m for m in members if m["role"] == "deputy"]
        for m in members:
            if sum(1 for x in present if x.get("law_enforcement")) >= 2:
                break
            if m not in present and m.get("law_enforcement"):
                present.append(m)
        self.present = present

    def h(self, m: dict | None = None) -> dict:
        m = m or self.leader
        if m["person_id"] not in self._tokens:
            self._tokens[m["person_id"]] = self.c.as_person(m["person_id"], "expert" if m.get("kind") == "expert" else "inspector", name=m.get("name"))
        return self._tokens[m["person_id"]]


def _arrival(task: dict) -> str:
    """The visit day at 09:00 (Beijing time), but never in the future: the demo window may lie ahead."""
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    day = task.get("visit_date")
    planned = dt.datetime.fromisoformat(f"{day}T09:00:00+08:00") if day else now
    return min(planned, now).isoformat()


async def _record(c: CampaignClient, team: _Team, task: dict, status: str = "producing") -> dict:
    if task.get("record"):
        return await c.get(f"/inspection/records/{task['record']['id']}", team.h())
    present = [m["person_id"] for m in team.present]
    r = await c.call("POST", f"/inspection/tasks/{task['id']}/record", {**team.h(), "Idempotency-Key": f"demo-open-{task['id']}"},
                     json={"arrived_at": _arrival(task), "present": present,
                           "production_status": status, "gps": {"lat": 37.87, "lon": 112.55, "accuracy_m": 15}})
    return r.json()


async def _upload(c: CampaignClient, team: _Team, rec: dict, data: bytes, filename: str, m: dict | None = None, **params) -> dict:
    r = await c.call("POST", f"/inspection/records/{rec['id']}/evidence/upload", {**team.h(m), "Content-Type": "application/octet-stream"},
                     params={"filename": filename, **params}, content=data)
    return r.json()


async def _answer(c: CampaignClient, team: _Team, rec: dict, findings: dict[str, tuple[str, bool]], limit: int | None = None) -> None:
    done = 0
    for i in rec["items"]:
        if i["conclusion"] is not None:
            continue
        if limit is not None and done >= limit:
            break
        body = {"conclusion": "conforming"}
        if i["code"] in findings:
            text, fixed = findings[i["code"]]
            body = {"conclusion": "nonconforming", "text": text, "fixed_on_site": fixed}
            await _upload(c, team, rec, photo_jpeg(f"{i['code']} {text}"), f"现场照片-{i['code']}.jpg", item_code=i["code"],
                          purpose="fix" if fixed else "item")
        await c.call("PUT", f"/inspection/records/{rec['id']}/items/{i['code']}",
                     {**team.h(), "If-Match": f'"v{i["version"]}"', "Idempotency-Key": f"demo-{rec['id']}-{i['code']}"}, json=body)
        done += 1


async def _sign_and_seal(c: CampaignClient, team: _Team, rec: dict, refuse: bool = False) -> dict:
    rec = await c.get(f"/inspection/records/{rec['id']}", team.h())
    signed = {g["person_id"] for g in rec["signatures"]}
    for n, m in enumerate(rec["present"]):
        if m["person_id"] in signed:
            continue
        img = await _upload(c, team, rec, signature_png(n), f"签名-{m['person_id']}.png", m=m, purpose="signature")
        await c.post(f"/inspection/records/{rec['id']}/signatures", team.h(m), {"image_sha256": img["sha256"]})
    rec = await c.get(f"/inspection/records/{rec['id']}", team.h())
    if not rec["enterprise_confirmation"]:
        if refuse:
            body = {"name": "企业负责人", "role": "总经理", "refused": True, "refusal_note": "企业负责人拒绝签字，检查组两名执法人员在场见证"}
        else:
            img = await _upload(c, team, rec, signature_png(9), "企业负责人签名.png", purpose="signature")
            body = {"name": "企业负责人", "role": "总经理", "image_sha256": img["sha256"], "phone": "0351-7000000"}
        r = await c.call("PUT", f"/inspection/records/{rec['id']}/enterprise-confirmation", {**team.h(), "If-Match": f'"v{rec["version"]}"'}, json=body)
        rec = r.json()
    r = await c.call("POST", f"/inspection/records/{rec['id']}/submit", {**team.h(), "If-Match": f'"v{rec["version"]}"'}, json={})
    return r.json()


FINDINGS = [
    {"4.1": ("出厂检验记录不全，抽查 3 批次缺少检验报告", False), "5": ("部分产品未标注生产许可证编号", True),
     "2.1": ("拉力试验机超出检定周期", False)},
    {"2.1": ("部分检验设备未建立维护保养记录", False), "8": ("上年度市级监督抽查不合格后未报告整改情况", False)},
    {"1.3": ("生产地址门牌变更后未申请许可证变更", False), "5": ("产品包装未标注生产许可证标志", True)},
]


async def _seal_and_hand_over(c: CampaignClient, P: dict, team: _Team, t: dict, findings: dict) -> int:
    """Seal the task's record with ``findings`` and hand its problem summary over (each part once);
    returns how many summaries the enterprise's account sees."""
    rec = await _record(c, team, t)
    if rec["state"] == "open":
        await _answer(c, team, await c.get(f"/inspection/records/{rec['id']}", team.h()), findings)
        rec = await _sign_and_seal(c, team, rec, refuse=False)
    if not rec.get("problem_summary"):
        lic = (await c.get(f"/registry/enterprises/{t['uscc']}/licences", P))["items"] if "registry" in enabled_services() else []
        lics = [{"number": x["number"], "category": x.get("category"), "valid_from": x.get("issue_date"), "valid_until": x["expiry_date"]}
                for x in lic if x.get("status") == "有效"][:5] or [{"number": "(晋)XK00-000-00000", "valid_until": "2026-12-31"}]
        x = (await c.call("POST", f"/inspection/records/{rec['id']}/problem-summary", {**team.h(), "Idempotency-Key": f"demo-sum-{rec['id']}"},
                          json={"licences": lics})).json()
    else:
        x = await c.get(f"/inspection/problem-summaries/{rec['problem_summary']['id']}", team.h())
    if x["state"] != "handed_over":
        ent_sig = next(e for e in (await c.get(f"/inspection/records/{rec['id']}", team.h()))["evidence"] if e["filename"] == "企业负责人签名.png")
        await c.call("POST", f"/inspection/problem-summaries/{x['id']}/handover", {**team.h(), "If-Match": f'"v{x["version"]}"'},
                     json={"enterprise": {"name": "企业负责人", "role": "总经理", "image_sha256": ent_sig["sha256"], "phone": "0351-7000000"},
                           "contact": "企业负责人"})
    seen = await c.get("/inspection/problem-summaries", c.as_enterprise(t["uscc"], t["region_code"]))
    return len(seen["items"])


async def run(c: CampaignClient) -> str:
    if "scheduling" not in enabled_services():
        return "调度服务不在本安装中，跳过（检查服务只从调度的派发事件得知任务）"
    st = c.state.setdefault("inspection", {})
    if st.get("done"):
        return st["done"]
    P = await c.login("demo_province")

    async def arrived():
        items = await c.all("/inspection/tasks", P)
        return items if len(items) >= c.state.get("scheduling", {}).get("tasks", 1) else None

    tasks = await c.eventually(arrived, "检查服务收到调度服务的 task.dispatched 事件", timeout=120)
    tasks = [t for t in tasks if t["status"] != "cancelled"]
    by_team: dict[str, list[dict]] = {}
    for t in tasks:
        by_team.setdefault(t["team_id"], []).append(t)
    # the team with the most tasks shows every state; forms go to whichever rebar/cement sites there are
    team_id = max(by_team, key=lambda k: len(by_team[k]))
    report = await c.get(f"/inspection/teams/{team_id}/report", P)
    team = _Team(c, report["members"])
    mine = sorted(by_team[team_id], key=lambda t: t["id"])
    roles = st.setdefault("roles", {})
    free = [t for t in mine if t["id"] not in roles.values()]
    for role in ROLES:
        if role not in roles and free:
            roles[role] = free.pop(0)["id"]
    c.save()
    cur = {t["id"]: t for t in await c.all("/inspection/tasks", P, team_id=team_id)}
    done = []

    def task(role):
        return cur.get(roles.get(role))

    if task("sealed_findings"):
        t = task("sealed_findings")
        seen = await _seal_and_hand_over(c, P, team, t, FINDINGS[0])
        done.append(f"已封存并移交问题汇总表 {t['enterprise_name']}（企业账号可见 {seen} 份）")
    # two more teams each seal a record with findings and hand its summary over (cases to report and recheck)
    extra = st.setdefault("extra", {})
    others = [k for k in sorted(by_team) if k != team_id]
    for n, k in enumerate(others[:2], start=1):
        if k not in extra:
            extra[k] = sorted(by_team[k], key=lambda t: t["id"])[0]["id"]
            c.save()
        other_cur = {t["id"]: t for t in await c.all("/inspection/tasks", P, team_id=k)}
        t = other_cur.get(extra[k])
        if not t:
            continue
        other = _Team(c, (await c.get(f"/inspection/teams/{k}/report", P))["members"])
        await _seal_and_hand_over(c, P, other, t, FINDINGS[n % len(FINDINGS)])
        done.append(f"已封存并移交问题汇总表 {t['enterprise_name']}（{t.get('team_label') or k}）")
    if task("sealed_clean"):
        t = task("sealed_clean")
        rec = await _record(c, team, t)
        if rec["state"] == "open":
            await _answer(c, team, rec, {})
            rec = await _sign_and_seal(c, team, rec, refuse=True)
        done.append(f"未发现问题 {t['enterprise_name']}")
    if task("amended"):
        t = task("amended")
        rec = await _record(c, team, t)
        if rec["state"] == "open":
            await _answer(c, team, rec, {"8": ("2021年省级监督抽查不合格后未报告整改情况", False)})
            rec = await _sign_and_seal(c, team, rec)
        if not rec["amendments"]:
            member = next(m for m in team.members if m["role"] != "leader")
            am = await c.post(f"/inspection/records/{rec['id']}/amendments", team.h(member),
                              {"reason": "企业补交整改报告，经核实已于检查前完成整改", "changes": [{"code": "8", "conclusion": "conforming"}]})
            await c.post(f"/inspection/records/{rec['id']}/amendments/{am['id']}/approve", team.h(), {"note": "同意更正"})
        done.append(f"已更正（组长批准） {t['enterprise_name']}")
    if task("not_inspected"):
        t = task("not_inspected")
        rec = await _record(c, team, t, status="stopped")
        if rec["state"] == "open":
            await _upload(c, team, rec, photo_jpeg("厂区大门关闭，设备停运"), "厂区停产.jpg", purpose="not_inspected")
            rec = await c.get(f"/inspection/records/{rec['id']}", team.h())
            await c.call("POST", f"/inspection/records/{rec['id']}/not-inspected", {**team.h(), "If-Match": f'"v{rec["version"]}"'},
                         json={"reason": "stopped", "detail": "企业自2022年3月起停产，厂区大门关闭、设备停运，无生产活动；列入后续跟踪检查"})
        done.append(f"未实施检查（停产） {t['enterprise_name']}")
    if task("in_progress"):
        t = task("in_progress")
        rec = await _record(c, team, t)
        if rec["state"] == "open" and all(i["conclusion"] is None or i["preset"] for i in rec["items"]):
            await _answer(c, team, rec, {}, limit=4)
            await _upload(c, team, rec, photo_jpeg("营业执照与许可证核对"), "证照核对.jpg", item_code="1.1")
        done.append(f"检查中 {t['enterprise_name']}")
    if task("open"):
        t = task("open")
        await _record(c, team, t)
        done.append(f"已到场开启 {t['enterprise_name']}")
    # 附件3 / 附件4: every rebar or cement site of the demo gets its form, from the enterprise's own account
    forms = 0
    for t in tasks:
        for kind, cat in (("steel", "rebar"), ("cement", "cement")):
            if cat not in t["categories"] or forms >= 6:
                continue
            ent = c.as_enterprise(t["uscc"], t["region_code"])
            r = await c.call("GET", f"/inspection/tasks/{t['id']}/forms/{kind}", ent, expect=None)
            if r.status_code == 200:
                forms += 1
                continue
            await c.call("PUT", f"/inspection/tasks/{t['id']}/forms/{kind}", {**ent, "Idempotency-Key": f"demo-form-{t['id']}-{kind}"},
                         json=_form(kind, t))
            forms += 1
    history = await _history(c, P, st, tasks)
    handed = await c.all("/inspection/problem-summaries", P, state="handed_over")
    st["handed_over"] = len(handed) + len(st.get("history", {}).get("items", []))  # the cases rectification should open
    summary = f"检查组 {report['label']}：" + "；".join(done) + f"；生产状况登记表 {forms} 份；{history}"
    st["done"] = summary
    c.save()
    return summary


# 往期检查（演示历史）: (days before today, period, problems) per enterprise; the deadlines passed months ago
HISTORY_BATCH = "2026h1"
HISTORY_PLAN = "2026年上半年工业产品生产许可证获证企业监督检查（往期检查，演示历史）"
HISTORY = [
    (150, {"value": 30, "unit": "days"}, [("2.1", "关键生产设备拉丝机带病运行，未建立维护记录"), ("7", "库房存放超出许可范围的产品，未能说明来源")]),
    (140, {"value": 30, "unit": "days"}, [("1.3", "生产地址变更后未申请许可证变更，仍在原址外生产"), ("8", "上年度省级监督抽查不合格后拒不整改")]),
    (125, {"value": 15, "unit": "working_days"}, [("9", "未按实施细则保存原材料进货查验记录")]),
]


async def _history(c: CampaignClient, P: dict, st: dict, tasks: list[dict]) -> str:
    """Publish the earlier batch once: real enterprises of the demo registry (有效 licence, 在产, a site),
    none of them in this campaign, handed over months ago (``POST /inspection/demo/history``, demo mode only)."""
    import datetime as dt

    hs = st.setdefault("history", {})
    if hs.get("items"):
        return hs["done"]
    if "registry" not in enabled_services():
        return "登记服务不在本安装中，未发布往期检查（演示历史）"
    busy = {t["uscc"] for t in tasks}
    picked: list[tuple[dict, dict, list[dict]]] = []
    for region in ("140100", None):  # 太原 first (the demo city account sees them), then anywhere
        page = await c.get("/registry/enterprises", P, licence_status="有效", production_status="在产", limit=100,
                           **({"region": region} if region else {}))
        for e in page["items"]:
            if len(picked) >= len(HISTORY):
                break
            if e["uscc"] in busy or any(x[0]["uscc"] == e["uscc"] for x in picked):
                continue
            full = await c.get(f"/registry/enterprises/{e['uscc']}", P)
            lics = [x for x in full["licences"] if x["status"] == "有效"]
            sites = [x for x in full["sites"] if not x["region_code"].endswith("0000")]
            if lics and sites:
                picked.append((full, sites[0], lics))
    if not picked:
        return "登记库中没有可用的企业，未发布往期检查（演示历史）"
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    handovers = []
    for (e, site, lics), (days, period, problems) in zip(picked, HISTORY):
        handovers.append({
            "uscc": e["uscc"], "enterprise_name": e["name"], "site_id": site["id"], "site_address": site["address"],
            "region_code": site["region_code"], "categories": sorted({x["category"] for x in lics}),
            "licences": [{"number": x["number"], "category": x["category"], "valid_until": x["expiry_date"], "licence_id": x["id"]} for x in lics[:5]],
            "problems": [{"item_code": code, "text": text} for code, text in problems],
            "handed_over_on": (today - dt.timedelta(days=days)).isoformat(), "period": period})
    out = await c.post("/inspection/demo/history", {**P, "Idempotency-Key": f"demo-history-{HISTORY_BATCH}"},
                       {"batch": HISTORY_BATCH, "plan_name": HISTORY_PLAN, "handovers": handovers})
    hs["items"] = out["items"]
    hs["done"] = (f"往期检查（演示历史，{HISTORY_PLAN}）移交问题汇总表 {len(out['items'])} 份，移交于 "
                  + "、".join(h["handed_over_on"] for h in handovers))
    c.save()
    return hs["done"]


def _form(kind: str, t: dict) -> dict:
    signer = {"contact": "企业联系人", "phone": "0351-7000001", "signed_on": "2022-06-21"}
    common = {"address": t.get("site_address") or "厂区", "licence_no": "(晋)XK05-001-00001" if kind == "steel" else "(晋)XK08-001-00001",
              "valid_until": "2026-12-31", "status": "在产", "sampling": {"national": "1次，合格", "provincial": "1次，合格"},
              "obsolete_equipment": False, "unlicensed_production": False, "keeps_conditions": True, "illegal_capacity": False, "signer": signer}
    if kind == "steel":
        return {**common, "output_total": 85.3, "output_rebar": 60.1, "output_bearing": 0, "products": ["棒材产品", "线材产品"],
                "blast_furnaces": 1, "converters": 1, "electric_furnaces": 0, "rolling_lines": 2, "bar_lines": 1, "wire_lines": 1,
                "tensile_testers": "1000kN×1、600kN×1"}
    return {**common, "county": t["region_code"], "production_type": "水泥厂", "output_total": 120, "output_general": 110, "output_clinker": 95,
            "output_special": "", "raw_mills": 1, "raw_mill_models": "Φ4.6×10m", "kilns": 1, "kiln_models": "Φ4.8×72m",
            "cement_mills": 2, "cement_mill_models": "Φ4.2×13m"}
