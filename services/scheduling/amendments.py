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
