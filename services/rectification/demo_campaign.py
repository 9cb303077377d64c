"""Demo campaign step of rectification. Cases open only from the inspection service's hand-over
of the problem summary (over JetStream); without the inspection service there are none and the step
says so. With cases present it puts them, in order, into every state the bureau works with:

- 待整改 (open) — left as handed over;
- 企业已报告整改 (reported) — the enterprise uploads a photo and reports every problem;
- 复查合格结案 (rechecked) — reported, then the city bureau rechecks and passes it;
- 逾期 (overdue) — whatever deadline has passed is flagged by the sweep by itself (never by the demo);
- 撤销 (licence revoked) — an overdue case: the city proposes 撤销, a second province official decides,
  and the registry revokes the licence from the event;
- 立案查处 (referred) — an overdue case handed to the enforcement office.

- 逾期 (still open) — one overdue case is left as the sweep flagged it.

Deadlines follow the real clock. The cases whose deadlines have passed come from the inspection demo's
往期检查 (an earlier batch handed over months ago, published as the inspection service's own hand-over
events, demo mode only); they open here through the same consumer as any other. Without them (e.g. no
registry to take enterprises from) the step says that the overdue, revoked and referred states will
appear once the deadlines pass (re-run ``make run`` then)."""
from __future__ import annotations

from shared.demo_campaign import CampaignClient
from shared.topology import enabled_services
from shared.vocabulary import city_name

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89" \
      b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"


def _city(c: CampaignClient, case: dict) -> dict:
    return c.token(f"bureau:{case['city_code']}", ["city_admin"], case["city_code"], name=f"{city_name(case['city_code'])}市局（演示）")


async def _detail(c: CampaignClient, P: dict, case_id: str):
    return await c.call("GET", f"/rectification/cases/{case_id}", P)


async def _report_all(c: CampaignClient, P: dict, case: dict) -> None:
    e = c.as_enterprise(case["uscc"], case["region_code"])
    full = (await _detail(c, P, case["id"])).json()
    r = await c.call("POST", f"/rectification/cases/{case['id']}/evidence", e, files={"file": ("整改照片.png", PNG, "image/png")})
    sha = r.json()["sha256"]
    for p in full["problems"]:
        if p["status"] == "open":
            await c.post(f"/rectification/cases/{case['id']}/problems/{p['no']}/report", e,
                         {"text": f"第{p['no']}项问题已整改（演示）", "evidence": [sha]})


async def _recheck(c: CampaignClient, P: dict, case: dict, on: str) -> None:
    etag = (await _detail(c, P, case["id"])).headers["etag"]
    await c.post(f"/rectification/cases/{case['id']}/recheck", {**_city(c, case), "If-Match": etag},
                 {"passed": True, "rechecked_on": on, "inspectors": ["复查员甲", "复查员乙"], "text": "现场复查，问题均已整改到位（演示）"})


async def _outcome(c: CampaignClient, P: dict, decider: dict, case: dict, basis: str, facts: str, body: str | None = None) -> dict:
    o = await c.post(f"/rectification/cases/{case['id']}/outcomes", _city(c, case),
                     {"basis_code": basis, "facts": facts, **({"receiving_body": body} if body else {})})
    etag = (await c.call("GET", f"/rectification/outcomes/{o['id']}", P)).headers["etag"]
    return await c.post(f"/rectification/outcomes/{o['id']}/decide", {**decider, "If-Match": etag}, {"approve": True, "note": "经审查同意（演示）"})


async def run(c: CampaignClient) -> str:
    if "inspection" not in enabled_services():
        return "检查服务未部署：整改案件只能由检查组移交的问题汇总表（inspection.problem_summary.handed_over 事件）开启，跳过"
    st = c.state.setdefault("rectification", {})
    P, P2 = await c.login("demo_province"), await c.login("demo_province2")

    expected = c.state.get("inspection", {}).get("handed_over") or 1  # this campaign's hand-overs and the 往期检查

    async def some_cases():
        items = await c.all("/rectification/cases", P)
        return items if len(items) >= expected else None

    try:
        cases = await c.eventually(some_cases, f"整改服务收到检查服务移交的 {expected} 份问题汇总表", timeout=90)
    except Exception:  # noqa: BLE001 - the inspection demo handed nothing (or less) over
        cases = await c.all("/rectification/cases", P)
        if not cases:
            return "检查服务未移交问题汇总表（没有发现问题的检查），没有整改案件"
    if st.get("done"):
        return f"整改案件 {len(cases)} 件（沿用上次演示的处理）"
    today = (await c.get("/rectification/report/cities", P))["on"]
    due = [x for x in cases if x["status"] == "open" and x["deadline"] and x["deadline"] < today]
    if due:  # the sweep flags these by itself (at start and every minute): wait for it, do not do it
        async def flagged():
            items = await c.all("/rectification/cases", P, overdue="true")
            return len(items) >= len(due) and items
        await c.eventually(flagged, "整改服务的定时任务把已过期限的案件标记为逾期", timeout=120)
        cases = await c.all("/rectification/cases", P)
    overdue = sorted((x for x in cases if x["overdue"] and x["status"] == "open"), key=lambda x: (x["handed_over_on"], x["id"]))
    in_time = [x for x in cases if not x["overdue"] and x["status"] == "open" and x["problems_open"] > 0]
    done = []
    if len(in_time) >= 3:
        await _report_all(c, P, in_time[1])
        done.append(f"企业已报告整改 {in_time[1]['enterprise_name']}")
        await _report_all(c, P, in_time[2])
        await _recheck(c, P, in_time[2], today)
        done.append(f"复查合格结案 {in_time[2]['enterprise_name']}")
    if overdue:
        x = overdue[0]
        if x["licences"]:
            await _outcome(c, P, P2, x, "revoke_overdue", "逾期未整改，不能持续保持生产条件（演示）")
            done.append(f"撤销许可证 {x['enterprise_name']}（省局第二名官员决定）" + await _registry_revoked(c, P, x))
        if len(overdue) > 1:
            await _outcome(c, P, P2, overdue[1], "file_case_refusal", "拒不整改，作为案件来源登记（演示）",
                           body=f"{city_name(overdue[1]['city_code'])}市场监督管理局执法稽查局")
            done.append(f"立案查处 {overdue[1]['enterprise_name']}")
        if len(overdue) > 2:
            done.append(f"逾期待处置 {overdue[2]['enterprise_name']}（期限 {overdue[2]['deadline']}）")
    st["done"] = True
    c.save()
    waiting = "" if overdue else "；尚无逾期案件（期限未到），逾期、撤销、立案将在期限届满后由定时任务触发"
    return f"整改案件 {len(cases)} 件，逾期 {len(overdue)} 件；" + ("，".join(done) or "保持待整改") + waiting


async def _registry_revoked(c: CampaignClient, P: dict, case: dict) -> str:
    """The registry applies the decided 撤销 from the event: wait until the licence says so."""
    if "registry" not in enabled_services():
        return ""
    ids = [lic["licence_id"] for lic in case["licences"] if lic.get("licence_id")]
    if not ids:
        return ""

    async def revoked():
        statuses = [(await c.get(f"/registry/licences/{i}", P))["status"] for i in ids]
        return all(x == "撤销" for x in statuses)

    await c.eventually(revoked, "登记服务按 rectification.outcome.decided 事件撤销许可证", timeout=60)
    return f"，登记库许可证已撤销 {len(ids)} 张"
