"""Amendments: every change after formation, as an ordered, hash-linked record.

Kinds:
* ``substitution`` — a member leaves a team, another person joins (data: ``out``, ``in`` member);
* ``replacement`` — sampling recorded a replacement for a drawn enterprise after the teams were
  formed: the replaced enterprise's open tasks are cancelled (with the reason), the replacement
  joins a team that passes 回避 and composition and gets one task per site (data: ``replaced_uscc``,
  ``replacement``, ``team_id``, ``cancelled_tasks``, ``new_tasks``, ``shortfalls``);
* ``cancellation`` — one task cancelled with a reason (data: ``task_id``, ``uscc``, ``site_id``).

Chain: ``seq`` counts from 1 per assignment; ``prev_hash`` of the first is 64 zeros; ``hash`` =
SHA-256 of the canonical JSON of {seq, kind, team_id, reason, actor, at, data, prev_hash}.

``replay`` rebuilds the expected live state (active members per team, tasks per team and site and
whether cancelled) from the formation result plus the amendments; ``verify`` (teams.verify)
compares it with the live rows, so an edited team-member or task row makes it fail.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from sqlalchemy import func, select

from shared.canonical import canonical_json, sha256_hex
from shared.db import utcnow

from .models import Amendment, Assignment, Task, Team, TeamMember, Visit

GENESIS = "0" * 64


def amendment_hash(seq: int, kind: str, team_id: str | None, reason: str, actor: str, at: dt.datetime, data: dict, prev_hash: str) -> str:
    return sha256_hex(canonical_json({"seq": seq, "kind": kind, "team_id": team_id, "reason": reason, "actor": actor,
                                      "at": at, "data": data, "prev_hash": prev_hash}))


async def append(s, a: Assignment, kind: str, team_id: str | None, reason: str, actor: str, data: dict) -> Amendment:
    last = (await s.execute(select(Amendment).where(Amendment.assignment_id == a.id).order_by(Amendment.seq.desc()).limit(1))).scalars().first()
    seq = (last.seq + 1) if last else 1
    prev = last.hash if last else GENESIS
    at = utcnow()
    data = json.loads(canonical_json(data))  # what is hashed is what is stored
    am = Amendment(assignment_id=a.id, plan_id=a.plan_id, seq=seq, kind=kind, team_id=team_id, reason=reason, actor=actor,
                   at=at, data=data, prev_hash=prev, hash=amendment_hash(seq, kind, team_id, reason, actor, at, data, prev))
    s.add(am)
    await s.flush()
    return am


def amendment_out(am: Amendment) -> dict:
    return {"id": am.id, "assignment_id": am.assignment_id, "plan_id": am.plan_id, "seq": am.seq, "kind": am.kind, "team_id": am.team_id,
            "reason": am.reason, "actor": am.actor, "at": am.at, "data": am.data, "prev_hash": am.prev_hash, "hash": am.hash}


async def chain(s, assignment_id: str) -> list[Amendment]:
    return list((await s.execute(select(Amendment).where(Amendment.assignment_id == assignment_id).order_by(Amendment.seq))).scalars())


def check_chain(amendments: list[Amendment]) -> list[str]:
    problems, prev = [], GENESIS
    for i, am in enumerate(amendments, start=1):
        if am.seq != i:
            problems.append(f"变更记录序号不连续：第 {i} 条记为 {am.seq}")
        if am.prev_hash != prev:
            problems.append(f"变更记录 {am.seq} 的前一哈希不符（链已断开）")
        if amendment_hash(am.seq, am.kind, am.team_id, am.reason, am.actor, am.at, am.data, am.prev_hash) != am.hash:
            problems.append(f"变更记录 {am.seq}（{am.kind}）内容与哈希不符（已被改动）")
        prev = am.hash
    return problems


def replay(result: dict, code_to_team: dict[str, str], amendments: list[Amendment]) -> tuple[dict[str, Counter], Counter]:
    """Expected active members per team ((person_id, role) counts) and tasks ((team_id, uscc, site_id, status))."""
    members: dict[str, Counter] = {}
    tasks: Counter = Counter()
    for t in result["teams"]:
        tid = code_to_team[t["code"]]
        members[tid] = Counter((m["person_id"], m["role"]) for m in t["members"])
        for v in t["visits"]:
            tasks[(tid, v["uscc"], v["site_id"], "open")] += 1
    for am in amendments:
        d = am.data
        if am.kind == "substitution":
            c = members.setdefault(am.team_id, Counter())
            c[(d["out"]["person_id"], d["out"]["role"])] -= 1
            c[(d["in"]["person_id"], d["in"]["role"])] += 1
        elif am.kind in ("replacement", "cancellation"):
            for x in d.get("cancelled_tasks") or []:
                tasks[(x["team_id"], x["uscc"], x["site_id"], "open")] -= 1
                tasks[(x["team_id"], x["uscc"], x["site_id"], "cancelled")] += 1
            for x in d.get("new_tasks") or []:
                tasks[(x["team_id"], x["uscc"], x["site_id"], "open")] += 1
    return {k: +v for k, v in members.items()}, +tasks


async def live_state(s, assignment_id: str) -> tuple[dict[str, Counter], Counter]:
    members: dict[str, Counter] = {}
    rows = (await s.execute(select(TeamMember.team_id, TeamMember.person_id, TeamMember.role).where(
        TeamMember.assignment_id == assignment_id, TeamMember.active.is_(True)))).all()
    for team_id, pid, role in rows:
        members.setdefault(team_id, Counter())[(pid, role)] += 1
    tasks = Counter()
    for team_id, uscc, site_id, status in (await s.execute(select(Task.team_id, Task.uscc, Task.site_id, Task.status).where(
            Task.assignment_id == assignment_id))).all():
        tasks[(team_id, uscc, site_id, "cancelled" if status == "cancelled" else "open")] += 1
    return members, tasks


async def double_bookings(s, assignment_id: str) -> list[str]:
    """People booked on two non-cancelled visits of different teams on the same day (live rows)."""
    q = (select(TeamMember.person_id, Visit.visit_date, func.count(func.distinct(Visit.team_id)))
         .join(Visit, Visit.team_id == TeamMember.team_id)
         .where(TeamMember.assignment_id == assignment_id, TeamMember.active.is_(True), Visit.cancelled.is_(False))
         .group_by(TeamMember.person_id, Visit.visit_date)
         .having(func.count(func.distinct(Visit.team_id)) > 1))
    return [f"{pid} 于 {d} 同时安排在 {n} 个检查组" for pid, d, n in (await s.execute(q)).all()]


async def busy_days(s, assignment_id: str, exclude_team: str | None = None) -> dict[str, set[dt.date]]:
    """Per person, the days they are booked on a non-cancelled visit of another team."""
    q = (select(TeamMember.person_id, Visit.visit_date).join(Visit, Visit.team_id == TeamMember.team_id)
         .where(TeamMember.assignment_id == assignment_id, TeamMember.active.is_(True), Visit.cancelled.is_(False)))
    if exclude_team:
        q = q.where(TeamMember.team_id != exclude_team)
    out: dict[str, set[dt.date]] = {}
    for pid, d in (await s.execute(q)).all():
        out.setdefault(pid, set()).add(d)
    return out


async def team_days(s, team_id: str) -> set[dt.date]:
    return set((await s.execute(select(Visit.visit_date).where(Visit.team_id == team_id, Visit.cancelled.is_(False)))).scalars())


async def teams_of(s, assignment_id: str) -> list[Team]:
    return list((await s.execute(select(Team).where(Team.assignment_id == assignment_id).order_by(Team.code))).scalars())


# ---------------------------------------------------------------- replacement after formation
def _visit_dates(n: int, members: list[str], busy: dict[str, set[dt.date]], taken: dict[dt.date, set[int]], settings: dict,
                 start: dt.date, calendar) -> list[tuple[dt.date | None, int]]:
    """(date, slot) for ``n`` new visits of a team: working days from ``start`` to window_end on which
    no member is booked elsewhere and the team has fewer than ``visits_per_day`` live visits; each gets
    the lowest slot of that day no live visit holds (a cancelled visit's slot is free again, a live
    one's is never given twice). ``taken``: the team's live slots per day, updated here."""
    end = dt.date.fromisoformat(settings["window_end"])
    per_day = settings["visits_per_day"]
    out: list[tuple[dt.date | None, int]] = []
    if start <= end:
        for day in calendar.workdays_in(start, end):
            if any(day in busy.get(p, ()) for p in members):
                continue
            used = taken.setdefault(day, set())
            while len(used) < per_day and len(out) < n:
                slot = next(k for k in range(1, per_day + len(used) + 1) if k not in used)
                used.add(slot)
                out.append((day, slot))
            if len(out) == n:
                break
    return out + [(None, 0)] * (n - len(out))


async def apply_replacement(ctx, s, rep, actor: str) -> Amendment | None:
    """A replacement recorded by sampling after the teams were formed (see module doc)."""
    from shared.calendar import default_calendar

    from .assignment import TeamScope, check_team, conflicts_of, effective_settings, first_visit_day, site_visits
    from .draws import load_draw
    from .scope import today

    a = (await s.execute(select(Assignment).where(Assignment.enterprise_draw_id == rep.draw_id, Assignment.voided_at.is_(None)))).scalars().first()
    if a is None or rep.id in (a.replacement_ids or []):
        return None  # not formed yet (or only voided formations): formation applies it
    reason = rep.reason or "企业无法检查，按签序替补"
    new_ent = dict(rep.replacement)
    old = rep.replaced_uscc
    insp = json.loads((await load_draw(s, a.inspector_draw_id))[0].payload)
    ent = json.loads((await load_draw(s, a.enterprise_draw_id))[0].payload)
    settings = effective_settings({**(ent.get("plan_settings") or insp.get("plan_settings") or {}),
                                   "dispatch_date": today(ctx).isoformat()})
    conflicts = conflicts_of(insp)
    now = utcnow()
    # 1. cancel the replaced enterprise's open tasks, with the reason
    open_tasks = list((await s.execute(select(Task).where(Task.assignment_id == a.id, Task.uscc == old, Task.status != "cancelled"))).scalars())
    cancelled = []
    for t in open_tasks:
        t.status, t.cancelled_at, t.cancel_reason = "cancelled", now, reason
        t.version += 1
        cancelled.append({"task_id": t.id, "team_id": t.team_id, "uscc": t.uscc, "site_id": t.site_id})
    if open_tasks:
        await s.execute(Visit.__table__.update().where(Visit.task_id.in_([t.id for t in open_tasks])).values(cancelled=True))
    # 2. a team for the replacement: the replaced one's first, then the same city's, then the others
    teams = await teams_of(s, a.id)
    old_team = open_tasks[0].team_id if open_tasks else next((t.id for t in teams if old in t.enterprises), None)
    city = new_ent.get("city_code") or (new_ent.get("region_code") or "")[:4] + "00"
    order = sorted(teams, key=lambda t: (t.id != old_team, t.city_code != city, t.code))
    selected = {e["uscc"]: e for e in ent.get("selected") or []}
    for am in await chain(s, a.id):
        if am.kind == "replacement" and am.data.get("replacement"):
            selected[am.data["replacement"]["uscc"]] = am.data["replacement"]
    chosen, shortfalls = None, []
    for t in order:
        members = list((await s.execute(select(TeamMember).where(TeamMember.team_id == t.id, TeamMember.active.is_(True)))).scalars())
        ents = [selected[u] for u in t.enterprises if u in selected and u != old] + [new_ent]
        problems = check_team([m.profile for m in members], TeamScope(ents), conflicts, settings, t.label)
        if not problems:
            chosen = (t, members, ents)
            break
        shortfalls.append("；".join(problems))
    new_tasks = []
    am_data: dict = {"replaced_uscc": old, "replacement": new_ent, "cancelled_tasks": cancelled, "new_tasks": new_tasks,
                     "team_id": None, "shortfalls": []}
    if chosen is None:
        am_data["shortfalls"] = [f"替补企业 {new_ent['uscc']} 无法编入任何检查组（回避或组成规则不满足）"] + shortfalls[:5]
    am = await append(s, a, "replacement", chosen[0].id if chosen else old_team, reason, actor, am_data)
    # 3. tasks for the replacement, dated after dispatch + notice period, without double booking
    events = []
    if chosen:
        team, members, ents = chosen
        pids = [m.person_id for m in members]
        busy = await busy_days(s, a.id, exclude_team=team.id)
        taken: dict[dt.date, set[int]] = {}
        for day, slot in (await s.execute(select(Visit.visit_date, Visit.slot).where(Visit.team_id == team.id, Visit.cancelled.is_(False)))).all():
            taken.setdefault(day, set()).add(slot)
        visits = site_visits([new_ent])
        dates = _visit_dates(len(visits), pids, busy, taken, settings, first_visit_day(settings, default_calendar), default_calendar)
        accept_by = default_calendar.add_workdays(today(ctx), settings["acceptance_workdays"])
        member_list = [{k: m.profile.get(k) for k in ("person_id", "name", "role", "pool", "kind", "law_enforcement", "level", "region_code", "organisation", "unit")}
                       for m in members]
        for v, (day, slot) in zip(visits, dates):
            task = Task(assignment_id=a.id, plan_id=a.plan_id, team_id=team.id, uscc=v["uscc"], enterprise_name=v["enterprise_name"],
                        site_id=v["site_id"], site_address=v["address"], region_code=v["region_code"], city_code=v["city_code"],
                        county_code=v["county_code"], categories=v["categories"], dispatched_at=now, accept_by=accept_by, amendment_id=am.id)
            s.add(task)
            await s.flush()
            if day is not None:
                visit = Visit(team_id=team.id, task_id=task.id, plan_id=a.plan_id, visit_date=day, slot=slot,
                              uscc=v["uscc"], site_id=v["site_id"], region_code=v["region_code"], categories=v["categories"])
                s.add(visit)
            else:
                am_data["shortfalls"].append(f"{team.label}：替补企业 {v['uscc']} 的生产地址 {v['site_id']} 在检查期内已无可安排的日期")
            new_tasks.append({"task_id": task.id, "team_id": team.id, "uscc": v["uscc"], "site_id": v["site_id"],
                              "visit_date": day.isoformat() if day else None})
            site = {"id": v["site_id"], "address": v["address"], "region_code": v["region_code"]}
            events.append(("task", "dispatched", task.id, {
                "task_id": task.id, "assignment_id": a.id, "plan_id": a.plan_id, "team_id": team.id, "team_label": team.label,
                "enterprise": {"uscc": v["uscc"], "name": v["enterprise_name"], "categories": v["categories"]}, "site": site,
                "city_code": v["city_code"], "county_code": v["county_code"], "accept_by": accept_by.isoformat(),
                "visit_date": day.isoformat() if day else None, "members": member_list, "amendment_id": am.id}))
        team.enterprises = [u for u in team.enterprises if u != old] + [new_ent["uscc"]]
        team.categories = TeamScope(ents).categories
        team.version += 1
        events.append(("team", "amended", team.id, {"team_id": team.id, "plan_id": a.plan_id, "assignment_id": a.id, "amendment_id": am.id,
                                                    "seq": am.seq, "kind": "replacement", "reason": reason, "members": member_list,
                                                    "enterprises": team.enterprises}))
        # the amendment's data now lists the new tasks: re-hash before anything reads it
        am.data = json.loads(canonical_json(am_data))
        am.hash = amendment_hash(am.seq, am.kind, am.team_id, am.reason, am.actor, am.at, am.data, am.prev_hash)
    for t in open_tasks:
        events.insert(0, ("task", "cancelled", t.id, {"task_id": t.id, "team_id": t.team_id, "plan_id": t.plan_id, "uscc": t.uscc,
                                                      "site_id": t.site_id, "reason": reason, "amendment_id": am.id}))
    # 4. the replaced enterprise stays on the tracked list of enterprises not inspected
    from .models import NotInspected

    name = next((t.enterprise_name for t in open_tasks), None) or (selected.get(old) or {}).get("name")
    region = next((t.region_code for t in open_tasks), None) or (selected.get(old) or {}).get("region_code") or a.owner_region
    s.add(NotInspected(plan_id=a.plan_id, assignment_id=a.id, uscc=old, enterprise_name=name, region_code=region, reason=reason,
                       source="replacement", replaced_by=new_ent["uscc"], amendment_id=am.id, recorded_at=now))
    await s.flush()
    for entity, verb, sid, data in events:
        await ctx.emit(s, entity, verb, data, subject_id=sid, actor=actor)
    await ctx.audit(s, actor, "assignment.amended", "assignment", a.id, after=amendment_out(am),
                    detail={"kind": "replacement", "replaced": old, "replacement": new_ent["uscc"], "reason": reason,
                            "cancelled": [t.id for t in open_tasks], "tasks": [x["task_id"] for x in new_tasks]})
    return am


async def void_for_abandoned_draw(ctx, s, draw_id: str, reason: str, actor: str) -> Amendment | None:
    """A draw sampling abandoned: the formation built on it stops being effective (``voided_at``,
    reason and draw kept on the row, ``scheduling.assignment.voided`` published); its open tasks are
    cancelled with the reason, as one amendment. A new formation of the same enterprise draw (with a
    new inspector draw) or of a new enterprise draw may then be made; it records the one it supersedes."""
    a = (await s.execute(select(Assignment).where((Assignment.enterprise_draw_id == draw_id) | (Assignment.inspector_draw_id == draw_id),
                                                  Assignment.voided_at.is_(None)))).scalars().first()
    if a is None:
        return None
    why = f"抽取 {draw_id} 已作废：{reason}"
    a.voided_at, a.void_reason, a.voided_draw_id = utcnow(), reason, draw_id
    open_tasks = list((await s.execute(select(Task).where(Task.assignment_id == a.id, Task.status != "cancelled"))).scalars())
    now = utcnow()
    for t in open_tasks:
        t.status, t.cancelled_at, t.cancel_reason = "cancelled", now, why
        t.version += 1
    if open_tasks:
        await s.execute(Visit.__table__.update().where(Visit.task_id.in_([t.id for t in open_tasks])).values(cancelled=True))
    am = await append(s, a, "cancellation", None, why, actor, {
        "abandoned_draw_id": draw_id,
        "cancelled_tasks": [{"task_id": t.id, "team_id": t.team_id, "uscc": t.uscc, "site_id": t.site_id} for t in open_tasks]})
    for t in open_tasks:
        t.amendment_id = am.id
        await ctx.emit(s, "task", "cancelled", {"task_id": t.id, "team_id": t.team_id, "plan_id": t.plan_id, "uscc": t.uscc,
                                                "site_id": t.site_id, "reason": why, "amendment_id": am.id}, subject_id=t.id, actor=actor)
    await ctx.emit(s, "assignment", "voided", {"assignment_id": a.id, "plan_id": a.plan_id, "enterprise_draw_id": a.enterprise_draw_id,
                                               "inspector_draw_id": a.inspector_draw_id, "abandoned_draw_id": draw_id, "reason": reason,
                                               "voided_at": a.voided_at.isoformat(), "amendment_id": am.id,
                                               "cancelled_tasks": len(open_tasks)}, subject_id=a.id, actor=actor)
    await ctx.audit(s, actor, "assignment.voided", "assignment", a.id, after=amendment_out(am), detail={"draw_id": draw_id, "reason": reason})
    return am


async def cancel_task(ctx, s, principal, task: Task, reason: str, not_inspected_reason: str | None, rid: str | None) -> Amendment:
    """Cancel one open task with a reason (an amendment); optionally put the enterprise on the tracked list."""
    from .models import NotInspected

    a = await s.get(Assignment, task.assignment_id)
    now = utcnow()
    task.status, task.cancelled_at, task.cancel_reason = "cancelled", now, reason
    task.version += 1
    await s.execute(Visit.__table__.update().where(Visit.task_id == task.id).values(cancelled=True))
    am = await append(s, a, "cancellation", task.team_id, reason, principal.sub,
                      {"task_id": task.id, "uscc": task.uscc, "site_id": task.site_id, "not_inspected": not_inspected_reason,
                       "cancelled_tasks": [{"task_id": task.id, "team_id": task.team_id, "uscc": task.uscc, "site_id": task.site_id}]})
    task.amendment_id = am.id
    if not_inspected_reason:
        s.add(NotInspected(plan_id=a.plan_id, assignment_id=a.id, uscc=task.uscc, enterprise_name=task.enterprise_name,
                           region_code=task.region_code, reason=f"{not_inspected_reason}：{reason}", source="cancellation",
                           amendment_id=am.id, recorded_at=now))
    await s.flush()
    await ctx.emit(s, "task", "cancelled", {"task_id": task.id, "team_id": task.team_id, "plan_id": task.plan_id, "uscc": task.uscc,
                                            "site_id": task.site_id, "reason": reason, "amendment_id": am.id},
                   subject_id=task.id, request_id=rid, actor=principal.sub)
    await ctx.audit(s, principal, "task.cancelled", "task", task.id, after=amendment_out(am), detail={"reason": reason}, request_id=rid)
    return am
