"""Demo campaign step of sampling: the notice's 2022 plan, approved by another official than its
author (四眼原则), and both draws committed through the seed ceremony by two province officials.

Replaying 2022 today: visits may not start before the tasks' dispatch plus the notice period, so a
2022 window that has passed cannot be inspected. When it has, the demo moves the window (and the
report date) to the rest of the last year the working-day calendar knows, as a *recorded deviation
from the template with its reason* — shown in the plan, every export and the public view — rather
than pretending to dispatch in the past."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from shared.calendar import default_calendar
from shared.demo_campaign import CampaignClient

REHEARSAL_REASON = "演示重演：2022年检查期已过，按当前日期在日历已知年份内安排检查期与上报日期"


def rehearsal_settings(settings: dict, today: dt.date) -> dict | None:
    """The template's settings moved to a window that can still be inspected, or None when the
    template's own window is still ahead."""
    first_visit = default_calendar.add_workdays(today, settings.get("notice_workdays", 3))
    if first_visit <= dt.date.fromisoformat(settings["window_start"]):
        return None
    year_end = dt.date(max(default_calendar.known_years()), 12, 31)
    end = max(year_end, first_visit + dt.timedelta(days=1))
    return {**settings, "window_start": first_visit.isoformat(), "window_end": end.isoformat(), "report_date": end.isoformat(),
            "visits_per_day": max(settings.get("visits_per_day", 2), 3)}

ENTERPRISE_SEED = "31415926535897932384626"
INSPECTOR_SEED = "27182818284590452353602"


async def _ceremony(c: CampaignClient, P: dict, P2: dict, plan_id: str, kind: str, seed: str, **extra) -> dict:
    # a plan has one live draw of each kind: an earlier run that stopped half-way is continued, not repeated
    live = [d for d in await c.all("/sampling/draws", P, plan_id=plan_id) if d["kind"] == kind and d["status"] != "abandoned"]
    d = live[0] if live else await c.post("/sampling/draws", P, {"plan_id": plan_id, "kind": kind, **extra})
    if d["status"] == "created":
        d = await c.post(f"/sampling/draws/{d['id']}/freeze", P)
    if d["status"] == "frozen":
        d = await c.post(f"/sampling/draws/{d['id']}/seed", P, {"seed": seed})
    if d["status"] == "seed_entered":
        d = await c.post(f"/sampling/draws/{d['id']}/seed/confirm", P2, {"seed": d["seed"]})
    if d["status"] == "seeded":
        d = await c.post(f"/sampling/draws/{d['id']}/commit", P)
    return d


async def run(c: CampaignClient) -> str:
    st = c.state.setdefault("sampling", {})
    P, P2 = await c.login("demo_province"), await c.login("demo_province2")
    if st.get("inspector_draw_id"):
        return f"计划 {st['plan_id']} 的两次抽取已提交（沿用）"
    if not st.get("plan_id"):
        plan = await c.post("/sampling/plans/from-template/notice-2022-181", P, {})
        st["plan_id"] = plan["id"]
        c.save()
    plan_id = st["plan_id"]
    plan = await c.call("GET", f"/sampling/plans/{plan_id}", P)
    if plan.json().get("status") in (None, "draft"):
        moved = rehearsal_settings(plan.json()["settings"], dt.datetime.now(ZoneInfo("Asia/Shanghai")).date())
        if moved and moved != plan.json()["settings"]:
            keys = [k for k in moved if moved[k] != plan.json()["settings"].get(k)]
            plan = await c.call("PATCH", f"/sampling/plans/{plan_id}", {**P, "If-Match": plan.headers["etag"]},
                                json={"settings": moved, "deviation_reasons": {f"settings.{k}": REHEARSAL_REASON for k in keys}})
        await c.call("POST", f"/sampling/plans/{plan_id}/approve", {**P2, "If-Match": plan.headers["etag"]})
    if not st.get("enterprise_draw_id"):
        ent = await _ceremony(c, P, P2, plan_id, "enterprise", ENTERPRISE_SEED)
        st["enterprise_draw_id"] = ent["id"]
        c.save()
    insp = await _ceremony(c, P, P2, plan_id, "inspector", INSPECTOR_SEED, enterprise_draw_id=st["enterprise_draw_id"])
    st["inspector_draw_id"] = insp["id"]
    c.save()
    return f"计划 {plan_id}：企业抽取 {st['enterprise_draw_id']}、检查人员抽取 {insp['id']} 已提交"
