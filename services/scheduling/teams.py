"""Team formation (persisting the pure function's result and dispatching), substitutions, reports."""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import func, select, update

from shared.auth import Principal
from shared.calendar import default_calendar
from shared.canonical import canonical_json, digest
from shared.db import utcnow
from shared.errors import Problem, not_found
from shared.idempotency import Refusal

from . import amendments, draws
from .assignment import (AssignmentInputError, TeamScope, assign, check_team, conflicts_of, effective_settings, find_substitute,
                         level_gaps)
from .models import Assignment, Substitution, Task, Team, TeamMember, Visit
from .scope import team_filter, today


# ---------------------------------------------------------------- shapes
def member_out(m: TeamMember) -> dict:
    return {
        "person_id": m.person_id, "name": m.name, "role": m.role, "pool": m.pool, "ticket": m.ticket,
        "law_enforcement": m.law_enforcement, "active": m.active,
        "kind": m.profile.get("kind"), "level": m.profile.get("level"), "region_code": m.profile.get("region_code"),
        "organisation": m.profile.get("organisation"), "specialties": m.profile.get("specialties"),
        "left_at": m.left_at, "left_reason": m.left_reason,
    }


def team_out(t: Team, members: list[TeamMember] | None = None) -> dict:
    out = {
        "id": t.id, "assignment_id": t.assignment_id, "plan_id": t.plan_id, "code": t.code, "label": t.label,
        "city_code": t.city_code, "categories": t.categories, "enterprises": t.enterprises,
        "report_date": t.report_date, "report_submitted_at": t.report_submitted_at,
        "report_submitted_by": t.report_submitted_by, "version": t.version,
    }
    if members is not None:
        out["members"] = [member_out(m) for m in members if m.active]
        out["former_members"] = [member_out(m) for m in members if not m.active]
    return out


def assignment_out(a: Assignment) -> dict:
    return {
        "id": a.id, "plan_id": a.plan_id, "batch": a.batch, "enterprise_draw_id": a.enterprise_draw_id,
        "inspector_draw_id": a.inspector_draw_id, "input_digest": a.input_digest, "result_digest": a.result_digest,
        "algorithm_version": a.algorithm_version, "team_count": a.team_count, "task_count": a.task_count,
        "created_by": a.created_by, "created_at": a.created_at, "dispatch_date": a.dispatch_date,
        "voided_at": a.voided_at, "void_reason": a.void_reason, "voided_draw_id": a.voided_draw_id,
        "supersedes": a.supersedes, "superseded_by": a.superseded_by,
    }


def _event_member(m: dict) -> dict:
    return {k: m.get(k) for k in ("person_id", "name", "role", "pool", "kind", "law_enforcement", "level", "region_code", "organisation", "unit")}


# ---------------------------------------------------------------- formation
async def _inputs(s, plan_id: str, enterprise_draw_id: str, inspector_draw_id: str | None, replacement_ids=None, dispatch_date=None):
    found = await draws.load_draw(s, enterprise_draw_id)
    if found is None or found[0].kind != "enterprise" or found[0].plan_id != plan_id:
        raise Problem(404, "not-found", "企业抽取结果不存在", detail=f"计划 {plan_id} 下没有已提交的企业抽取 {enterprise_draw_id}（或尚未收到）",
                      errors=[{"field": "enterprise_draw_id", "message": "未找到该计划的企业抽取结果"}])
    ent_row, ent = found
    if inspector_draw_id:
        got = await draws.load_draw(s, inspector_draw_id)
        insp_row = got[0] if got and got[0].kind == "inspector" and got[0].enterprise_draw_id == enterprise_draw_id else None
    else:
        insp_row = await draws.inspector_draw_for(s, enterprise_draw_id)
    if insp_row is None:
        raise Problem(409, "inspector-draw-missing", "尚未收到对应的检查人员抽取结果",
                      detail=f"企业抽取 {enterprise_draw_id} 对应的执法检查人员抽取尚未提交或尚未送达",
                      errors=[{"field": "inspector_draw_id", "message": "未找到服务于该企业抽取的人员抽取"}])
    insp = json.loads(insp_row.payload)
    reps = await draws.replacements_for(s, enterprise_draw_id, replacement_ids)
    inp = draws.assignment_input(ent, insp, reps)
    if not inp["plan_settings"]:
        inp["plan_settings"] = insp.get("plan_settings") or {}
    if dispatch_date is not None:
        inp["plan_settings"] = {**inp["plan_settings"], "dispatch_date": dispatch_date.isoformat()}
    return ent_row, insp_row, insp, reps, inp


def _run(inp: dict) -> dict:
    try:
        return assign(inp["enterprise_draw"], inp["inspector_draw"], inp["plan_settings"], default_calendar)
    except AssignmentInputError as exc:
        raise Problem(422, "assignment-input", "抽取结果或计划设置不能用于组建检查组", detail=str(exc), errors=exc.errors) from None


async def form(ctx, s, principal: Principal, plan_id: str, enterprise_draw_id: str, inspector_draw_id: str | None, rid: str | None) -> dict:
    """Form the teams of an enterprise draw and dispatch one task per site, in the caller's transaction.

    When a rule cannot be met nothing is written except an audit entry of the refusal
    (``Refusal``: the caller commits that entry and answers with the shortfall problem)."""
    try:
        return await _form(ctx, s, principal, plan_id, enterprise_draw_id, inspector_draw_id, rid)
    except Problem as exc:
        if exc.slug == "assignment-shortfall":  # raised before anything else is written
            await ctx.audit(s, principal, "assignment.refused", "enterprise_draw", enterprise_draw_id,
                            detail={"plan_id": plan_id, "shortfalls": exc.extra.get("shortfalls")}, request_id=rid)
            raise Refusal(exc) from None
        raise


async def _form(ctx, s, principal, plan_id, enterprise_draw_id, inspector_draw_id, rid) -> dict:
    # one *effective* formation per enterprise draw: one voided because sampling abandoned a draw
    # it was built on (e.g. the inspector draw, drawn again) does not block the next
    if (await s.execute(select(Assignment.id).where(Assignment.enterprise_draw_id == enterprise_draw_id, Assignment.voided_at.is_(None)))).first():
        raise Problem(409, "assignment-exists", "该企业抽取已组建检查组", detail=f"企业抽取 {enterprise_draw_id} 已有检查组组建结果",
                      errors=[{"field": "enterprise_draw_id", "message": "已组建，不能重复组建"}])
    from .models import Draw

    live_draw = select(Draw.draw_id).where(Draw.abandoned_at.is_(None))
    earlier = (await s.execute(select(Assignment.id).where(
        Assignment.plan_id == plan_id, Assignment.voided_at.is_(None),
        Assignment.enterprise_draw_id.in_(live_draw), Assignment.inspector_draw_id.in_(live_draw)))).scalars().first()
    if earlier:
        raise Problem(409, "plan-already-formed", "本计划已组建检查组", detail=f"计划 {plan_id} 已有检查组组建结果 {earlier}；"
                      "每个计划只有一次有效组建，其后的任何改变（替换、替补、取消）均作为有序记录的变更办理",
                      errors=[{"field": "plan_id", "message": "每个计划只能组建一次检查组"}])
    dispatch_day = today(ctx)
    ent_row, insp_row, _insp, reps, inp = await _inputs(s, plan_id, enterprise_draw_id, inspector_draw_id, dispatch_date=dispatch_day)
    for row in (ent_row, insp_row):
        if row.abandoned_at is not None:
            raise Problem(409, "draw-abandoned", "该抽取已作废", detail=f"抽取 {row.draw_id} 已作废（{row.abandon_reason}），不能据此组建检查组",
                          errors=[{"field": "enterprise_draw_id" if row is ent_row else "inspector_draw_id", "message": "抽取已作废"}])
    result = _run(inp)
    if not result["ok"]:
        raise Problem(422, "assignment-shortfall", "检查组组建条件不满足，未派发任何任务", detail="；".join(result["shortfalls"]),
                      errors=[{"field": "teams", "message": m} for m in result["shortfalls"]], shortfalls=result["shortfalls"])
    settings = result["settings"]
    now = utcnow()
    accept_by = default_calendar.add_workdays(dispatch_day, settings["acceptance_workdays"])
    result_text = canonical_json(result)
    a = Assignment(
        plan_id=plan_id, batch=ent_row.batch, owner_region=ent_row.owner_region, enterprise_draw_id=enterprise_draw_id,
        inspector_draw_id=insp_row.draw_id, replacement_ids=[r.id for r in reps], input_digest=digest(inp),
        result_digest=digest(result), result=result_text, algorithm_version=result["algorithm_version"],
        team_count=len(result["teams"]), task_count=sum(len(t["visits"]) for t in result["teams"]),
        created_by=principal.sub, created_at=now, dispatch_date=dispatch_day,
    )
    # the voided formation(s) of this enterprise draw: the new one supersedes the latest, both say so
    voided = (await s.execute(select(Assignment).where(Assignment.enterprise_draw_id == enterprise_draw_id, Assignment.voided_at.is_not(None),
                                                       Assignment.superseded_by.is_(None)).order_by(Assignment.voided_at.desc()))).scalars().first()
    if voided is not None:
        a.supersedes = voided.id
    s.add(a)
    await s.flush()
    if voided is not None:
        voided.superseded_by = a.id
        await ctx.audit(s, principal, "assignment.superseded", "assignment", voided.id,
                        after={"superseded_by": a.id, "inspector_draw_id": a.inspector_draw_id}, request_id=rid)
    selected = {e["uscc"]: e for e in inp["enterprise_draw"]["selected"]}
    window = {"start": settings["window_start"], "end": settings["window_end"]}
    teams_out = []
    for t in result["teams"]:
        team = Team(assignment_id=a.id, plan_id=plan_id, code=t["code"], label=t["label"], city_code=t["city_code"],
                    categories=t["categories"], enterprises=t["enterprises"], report_date=dt.date.fromisoformat(t["report_date"]), created_at=now)
        s.add(team)
        await s.flush()
        for m in t["members"]:
            s.add(TeamMember(team_id=team.id, assignment_id=a.id, person_id=m["person_id"], name=m["name"], role=m["role"], pool=m["pool"],
                             ticket=m["ticket"], law_enforcement=m["law_enforcement"], profile=m, joined_at=now))
        members = [_event_member(m) for m in t["members"]]
        enterprises = [{"uscc": u, "name": selected[u].get("name"), "region_code": selected[u].get("region_code"),
                        "categories": selected[u].get("categories"), "sites": selected[u].get("sites")} for u in t["enterprises"]]
        team_event = {"assignment_id": a.id, "plan_id": plan_id, "plan_name": ent_row.plan_name, "batch": a.batch, "team_id": team.id, "code": t["code"], "label": t["label"],
                      "city_code": t["city_code"], "categories": t["categories"], "members": members, "enterprises": enterprises,
                      "window": window, "report_date": t["report_date"]}
        await ctx.emit(s, "team", "formed", team_event, subject_id=team.id, request_id=rid, actor=principal.sub)
        await ctx.audit(s, principal, "team.formed", "team", team.id, after=team_event, request_id=rid)
        for v in t["visits"]:
            task = Task(assignment_id=a.id, plan_id=plan_id, team_id=team.id, uscc=v["uscc"], enterprise_name=v["enterprise_name"],
                        site_id=v["site_id"], site_address=v["address"], region_code=v["region_code"], city_code=v["city_code"],
                        county_code=v["county_code"], categories=v["categories"], dispatched_at=now, accept_by=accept_by)
            s.add(task)
            await s.flush()
            visit = Visit(team_id=team.id, task_id=task.id, plan_id=plan_id, visit_date=dt.date.fromisoformat(v["date"]), slot=v["slot"],
                          uscc=v["uscc"], site_id=v["site_id"], region_code=v["region_code"], categories=v["categories"])
            s.add(visit)
            await s.flush()
            site = {"id": v["site_id"], "address": v["address"], "region_code": v["region_code"]}
            enterprise = {"uscc": v["uscc"], "name": v["enterprise_name"], "categories": v["categories"]}
            task_event = {"task_id": task.id, "assignment_id": a.id, "plan_id": plan_id, "team_id": team.id, "team_label": t["label"],
                          "enterprise": enterprise, "site": site, "city_code": v["city_code"], "county_code": v["county_code"],
                          "accept_by": accept_by.isoformat(), "visit_date": v["date"], "members": members}
            await ctx.emit(s, "task", "dispatched", task_event, subject_id=task.id, request_id=rid, actor=principal.sub)
            await ctx.audit(s, principal, "task.dispatched", "task", task.id, after=task_event, request_id=rid)
            visit_event = {"visit_id": visit.id, "task_id": task.id, "team_id": team.id, "plan_id": plan_id, "date": v["date"], "slot": v["slot"],
                           "enterprise": enterprise, "site": site, "categories": v["categories"], "items": v["items"], "members": members}
            await ctx.emit(s, "visit", "scheduled", visit_event, subject_id=visit.id, request_id=rid, actor=principal.sub)
        teams_out.append({"id": team.id, "code": t["code"], "label": t["label"], "city_code": t["city_code"], "categories": t["categories"],
                          "members": members, "enterprises": t["enterprises"], "visits": len(t["visits"]),
                          "first_visit": min((v["date"] for v in t["visits"]), default=None), "report_date": t["report_date"],
                          "level_shortfalls": t["level_shortfalls"]})
    await ctx.audit(s, principal, "assignment.formed", "assignment", a.id, after={"input_digest": a.input_digest, "result_digest": a.result_digest},
                    detail={"plan_id": plan_id, "teams": a.team_count, "tasks": a.task_count}, request_id=rid)
    return {**assignment_out(a), "teams": teams_out, "level_shortfalls": result["level_shortfalls"], "rules": result["rules"],
            "report_date_stated": settings["report_date_stated"], "report_date": settings["report_date"]}


async def verify(ctx, assignment_id: str) -> dict:
    """Re-run the pure function on the stored draws, check the amendment chain, replay formation +
    amendments and compare with the live team-member and task rows; look for same-day double bookings."""
    async with ctx.db.session() as s:
        a = await s.get(Assignment, assignment_id)
        if a is None:
            raise not_found("检查组组建结果", assignment_id)
        _, _, _, _, inp = await _inputs(s, a.plan_id, a.enterprise_draw_id, a.inspector_draw_id, a.replacement_ids, a.dispatch_date)
        ams = await amendments.chain(s, a.id)
        teams = await amendments.teams_of(s, a.id)
        live_members, live_tasks = await amendments.live_state(s, a.id)
        doubles = await amendments.double_bookings(s, a.id)
    result = _run(inp)
    text = canonical_json(result)
    input_digest = digest(inp)
    problems = amendments.check_chain(ams)
    stored = json.loads(a.result)
    want_members, want_tasks = amendments.replay(stored, {t.code: t.id for t in teams}, ams)
    labels = {t.id: t.label for t in teams}
    for tid in sorted(set(want_members) | set(live_members)):
        w, l_ = want_members.get(tid, {}), live_members.get(tid, {})
        if w != l_:
            missing = sorted(f"{p}（{r}）" for (p, r), n in (w - l_).items() for _ in range(n))
            extra = sorted(f"{p}（{r}）" for (p, r), n in (l_ - w).items() for _ in range(n))
            problems.append(f"{labels.get(tid, tid)}现有成员与组建结果加变更记录不符：缺少 {missing or '无'}，多出 {extra or '无'}")
    if want_tasks != live_tasks:
        diff = (want_tasks - live_tasks) + (live_tasks - want_tasks)
        problems.append(f"检查任务与组建结果加变更记录不符：{len(diff)} 项不一致（如 {sorted(diff)[0]}）")
    problems += [f"同日重复安排：{d}" for d in doubles]
    byte_identical = text == a.result
    return {
        "assignment_id": a.id,
        "ok": input_digest == a.input_digest and byte_identical and not problems,
        "input_digest": input_digest, "stored_input_digest": a.input_digest,
        "result_digest": digest(result), "stored_result_digest": a.result_digest,
        "byte_identical": byte_identical,
        "algorithm_version": result["algorithm_version"],
        "amendments": len(ams), "amendment_head": ams[-1].hash if ams else amendments.GENESIS,
        "problems": problems,
    }


# ---------------------------------------------------------------- reads
async def get_team(s, principal: Principal, team_id: str) -> tuple[Team, list[TeamMember]]:
    team = (await s.execute(select(Team).where(Team.id == team_id, team_filter(principal)))).scalars().first()
    if team is None:
        raise not_found("检查组", team_id)
    members = list((await s.execute(select(TeamMember).where(TeamMember.team_id == team_id).order_by(TeamMember.joined_at, TeamMember.id))).scalars())
    return team, members


# ---------------------------------------------------------------- substitution
async def substitute(ctx, s, principal: Principal, team_id: str, person_id: str, reason: str, request, rid: str | None) -> tuple[dict, int]:
    """Replace a member in the caller's transaction, as an amendment re-checked against every rule:
    the pool's next eligible person who is not booked on another team on any of this team's visit
    days, within the per-person limits, passing 回避 and composition."""
    from shared.etag import require_if_match

    team, members = await get_team(s, principal, team_id)
    require_if_match(request, team.version)
    leaving = next((m for m in members if m.person_id == person_id and m.active), None)
    if leaving is None:
        raise Problem(422, "validation", detail=f"person_id: {person_id} 不是该检查组的现任成员",
                      errors=[{"field": "person_id", "message": "不是该检查组的现任成员"}])
    a = await s.get(Assignment, team.assignment_id)
    _, _, insp, _, inp = await _inputs(s, a.plan_id, a.enterprise_draw_id, a.inspector_draw_id, a.replacement_ids, a.dispatch_date)
    settings = effective_settings(inp["plan_settings"])
    usage_rows = (await s.execute(select(TeamMember.person_id, func.count()).where(
        TeamMember.assignment_id == a.id, TeamMember.active.is_(True)).group_by(TeamMember.person_id))).all()
    usage = {pid: n for pid, n in usage_rows}
    days = await amendments.team_days(s, team.id)
    busy = await amendments.busy_days(s, a.id, exclude_team=team.id)
    booked = {pid for pid, ds in busy.items() if ds & days}  # would be on two teams the same day
    selected = await _team_enterprises(s, a, inp)
    team_ents = [selected[u] for u in team.enterprises if u in selected]
    profiles = [{**m.profile, "active": m.active} for m in members] + [
        {"person_id": pid, "active": False, "kind": None, "role": None, "law_enforcement": False, "specialties": []} for pid in booked]
    new, shortfall = find_substitute(insp, settings, team_ents, profiles, usage, leaving.profile, team.label)
    if new is None:
        raise Problem(422, "substitution-shortfall", "找不到符合条件的替补人员", detail=shortfall,
                      errors=[{"field": "person_id", "message": shortfall}], shortfalls=[shortfall])
    after = [m.profile for m in members if m.active and m.person_id != person_id] + [new]
    problems = check_team(after, TeamScope(team_ents), conflicts_of(insp), settings, team.label)
    if problems:
        raise Problem(422, "substitution-shortfall", "替换后检查组不再满足组建规则", detail="；".join(problems),
                      errors=[{"field": "person_id", "message": p} for p in problems], shortfalls=problems)
    now = utcnow()
    before = team_out(team, members)
    leaving.active, leaving.left_at, leaving.left_reason = False, now, reason
    s.add(TeamMember(team_id=team.id, assignment_id=a.id, person_id=new["person_id"], name=new["name"], role=new["role"], pool=new["pool"],
                     ticket=new["ticket"], law_enforcement=new["law_enforcement"], profile=new, joined_at=now))
    sub = Substitution(team_id=team.id, replaced_person_id=person_id, substitute_person_id=new["person_id"], role=new["role"],
                       pool=new["pool"], reason=reason, actor=principal.sub, at=now)
    s.add(sub)
    team.version += 1
    await s.flush()
    am = await amendments.append(s, a, "substitution", team.id, reason, principal.sub,
                                 {"substitution_id": sub.id, "out": {"person_id": person_id, "role": leaving.role},
                                  "in": {"person_id": new["person_id"], "role": new["role"]}, "member": _event_member(new),
                                  "level_gaps": level_gaps(after)})
    members = list((await s.execute(select(TeamMember).where(TeamMember.team_id == team_id).order_by(TeamMember.joined_at, TeamMember.id))).scalars())
    out = team_out(team, members)
    current = [_event_member(m.profile) for m in members if m.active]
    data = {"substitution_id": sub.id, "team_id": team.id, "plan_id": team.plan_id, "assignment_id": a.id, "role": new["role"], "pool": new["pool"],
            "replaced": _event_member(leaving.profile), "substitute": _event_member(new), "reason": reason, "members": current}
    await ctx.emit(s, "team", "member_substituted", data, subject_id=team.id, request_id=rid, actor=principal.sub)
    await ctx.emit(s, "team", "amended", {"team_id": team.id, "plan_id": team.plan_id, "assignment_id": a.id, "amendment_id": am.id,
                                          "seq": am.seq, "kind": "substitution", "reason": reason, "members": current},
                   subject_id=team.id, request_id=rid, actor=principal.sub)
    await ctx.audit(s, principal, "team.member_substituted", "team", team.id, before=before, after=out,
                    detail={"replaced": person_id, "substitute": new["person_id"], "reason": reason, "amendment": am.id, "seq": am.seq}, request_id=rid)
    return {**out, "substitution": {"id": sub.id, "replaced_person_id": person_id, "substitute_person_id": new["person_id"],
                                     "role": new["role"], "pool": new["pool"], "reason": reason, "actor": principal.sub, "at": now},
            "amendment": amendments.amendment_out(am)}, team.version


async def _team_enterprises(s, a: Assignment, inp: dict) -> dict[str, dict]:
    """The enterprises (with sites) of the assignment: the effective draw plus replacements applied later."""
    selected = {e["uscc"]: e for e in inp["enterprise_draw"]["selected"]}
    for am in await amendments.chain(s, a.id):
        if am.kind == "replacement" and am.data.get("replacement"):
            selected[am.data["replacement"]["uscc"]] = am.data["replacement"]
    return selected


# ---------------------------------------------------------------- group report
async def submit_report(ctx, s, principal: Principal, team_id: str, summary: str, rid: str | None) -> tuple[dict, int]:
    """Record the team's group report in the caller's transaction."""
    team, members = await get_team(s, principal, team_id)
    is_leader = any(m.active and m.role == "leader" and m.person_id == principal.person_id for m in members)
    if not (principal.has("province_admin") or is_leader):
        raise Problem(403, "forbidden", "无权执行此操作", detail="汇总报告由本组组长或省局管理员提交")
    if team.report_submitted_at is not None:
        raise Problem(409, "report-submitted", "本组汇总报告已提交", detail=f"已于 {team.report_submitted_at.isoformat()} 提交")
    before = team_out(team)
    now = utcnow()
    late = today(ctx) > team.report_date
    await s.execute(update(Team).where(Team.id == team.id).values(
        report_submitted_at=now, report_submitted_by=principal.sub, report_summary=summary, version=Team.version + 1))
    team.report_submitted_at, team.report_submitted_by, team.report_summary = now, principal.sub, summary
    team.version += 1
    out = {**team_out(team), "report_summary": summary, "late": late}
    await ctx.emit(s, "team", "report_submitted", {"team_id": team.id, "plan_id": team.plan_id, "report_date": team.report_date.isoformat(),
                                                    "submitted_by": principal.sub, "late": late}, subject_id=team.id, request_id=rid, actor=principal.sub)
    await ctx.audit(s, principal, "team.report_submitted", "team", team.id, before=before, after=out, request_id=rid)
    return out, team.version
