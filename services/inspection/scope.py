"""Who sees and who writes: jurisdiction and team membership in SQL.

Only members of the assigned team write a record (严禁未经检查组检查直接录入检查结果) — no role,
not even province_admin, writes for them. Reading: province administration and province discipline
everything; city and county bureaus and discipline groups their region; team members their teams' records; an enterprise account only its own
handed-over problem summaries and its own forms."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from shared.auth import Principal, reads_province
from shared.errors import Problem

from .models import Membership, Team

BUREAUS = ("city_admin", "county_admin")
REGION_READERS = BUREAUS + ("discipline",)  # a city/county discipline group reads its region, read-only
PEOPLE = ("inspector", "expert")
CHINA = ZoneInfo("Asia/Shanghai")


def today(ctx) -> dt.date:
    fn = ctx.extras.get("today")
    return fn() if fn else dt.datetime.now(CHINA).date()


def china_date(ts: dt.datetime) -> dt.date:
    return ts.astimezone(CHINA).date()


def my_teams(person_id: str):
    return select(Membership.team_id).where(Membership.person_id == person_id)


def read_filter(p: Principal, region_col, team_col, uscc_col=None, enterprise_ok: ColumnElement | None = None) -> ColumnElement:
    if reads_province(p):
        return true()
    clauses = []
    if p.has(*REGION_READERS):
        clauses.append(region_col.startswith(p.prefix))
    if p.has(*PEOPLE) and p.person_id:
        clauses.append(team_col.in_(my_teams(p.person_id)))
    if p.has("enterprise") and p.uscc and uscc_col is not None and enterprise_ok is not None:
        clauses.append((uscc_col == p.uscc) & enterprise_ok)
    if not clauses:
        return false()
    return or_(*clauses)


async def member_of(s: AsyncSession, p: Principal, team_id: str) -> dict:
    """The caller's member entry on ``team_id``, else 403: only the team writes its records."""
    if p.person_id and p.has(*PEOPLE):
        team = await s.get(Team, team_id)
        if team is not None:
            for m in team.members:
                if m.get("person_id") == p.person_id:
                    return m
    raise Problem(403, "not-team-member", "仅本检查组成员可录入",
                  detail="严禁未经检查组检查直接录入检查结果：只有该任务所派检查组的成员（以本人执法人员或专家账号）可以录入或修改检查记录")
