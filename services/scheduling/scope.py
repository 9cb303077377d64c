"""Jurisdiction in SQL: who sees which tasks, visits and teams."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import exists, or_, select, true
from sqlalchemy.sql import ColumnElement

from shared.auth import Principal, reads_province
from shared.errors import Problem

from .models import Task, Team, TeamMember

READ_ALL = ("province_admin", "discipline")
BUREAUS = ("city_admin", "county_admin")
REGION_READERS = BUREAUS + ("discipline",)  # a city/county discipline group reads its region, read-only
PEOPLE = ("inspector", "expert")
CHINA = ZoneInfo("Asia/Shanghai")


def today(ctx) -> dt.date:
    """The date in China (tests may set ``ctx.extras['today']`` to a callable)."""
    fn = ctx.extras.get("today")
    return fn() if fn else dt.datetime.now(CHINA).date()


def _forbidden() -> Problem:
    return Problem(403, "forbidden", "无权执行此操作", detail="需要角色：省局管理员、市局管理员、县局管理员、执法人员或技术专家")


def reads_all(p: Principal) -> bool:
    """The province administration and a province-level discipline account see every region."""
    return reads_province(p)


def member_teams(person_id: str):
    return select(TeamMember.team_id).where(TeamMember.person_id == person_id, TeamMember.active.is_(True))


def task_filter(p: Principal, region_col=Task.region_code, team_col=Task.team_id) -> ColumnElement:
    """city/county bureaus: tasks in their region; inspectors/experts: their team's; province: all."""
    if reads_all(p):
        return true()
    clauses = []
    if p.has(*REGION_READERS):
        clauses.append(region_col.startswith(p.prefix))
    if p.has(*PEOPLE) and p.person_id:
        clauses.append(team_col.in_(member_teams(p.person_id)))
    if not clauses:
        raise _forbidden()
    return or_(*clauses)


def team_filter(p: Principal) -> ColumnElement:
    if reads_all(p):
        return true()
    clauses = []
    if p.has(*REGION_READERS):
        clauses.append(Team.city_code.startswith(p.prefix))
        clauses.append(exists().where(Task.team_id == Team.id, Task.region_code.startswith(p.prefix)))
    if p.has(*PEOPLE) and p.person_id:
        clauses.append(Team.id.in_(member_teams(p.person_id)))
    if not clauses:
        raise _forbidden()
    return or_(*clauses)


async def enterprises_in_view(s, p: Principal, teams: list[Team]) -> dict[str, list[str]]:
    """Each team's enterprises as the reader may see them: all of them for the province and the team's own
    members; for a city or county bureau (or its discipline group) only those with a task in its region — a
    team spans counties, and its list is which enterprises will be inspected there, unannounced."""
    out = {t.id: list(t.enterprises or []) for t in teams}
    if reads_all(p) or not teams:
        return out
    ids = [t.id for t in teams]
    mine = set()
    if p.has(*PEOPLE) and p.person_id:
        mine = set((await s.execute(select(TeamMember.team_id).where(TeamMember.team_id.in_(ids), TeamMember.person_id == p.person_id))).scalars())
    seen: dict[str, set[str]] = {}
    if p.has(*REGION_READERS):
        rows = (await s.execute(select(Task.team_id, Task.uscc).where(Task.team_id.in_(ids), Task.region_code.startswith(p.prefix)))).all()
        for team_id, uscc in rows:
            seen.setdefault(team_id, set()).add(uscc)
    return {t.id: out[t.id] if t.id in mine else [u for u in out[t.id] if u in seen.get(t.id, ())] for t in teams}
