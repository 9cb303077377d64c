"""Consumers of scheduling's team and task events and registry's licence events
(event-carried state, idempotent through the inbox): the service knows its work from events only."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import utcnow
from shared.events.consumer import Consumer

from .models import Licence, Membership, Task, Team

MEMBER_KEYS = ("person_id", "name", "role", "pool", "kind", "law_enforcement", "level", "region_code", "organisation")


def _member(m: dict) -> dict:
    return {k: m.get(k) for k in MEMBER_KEYS}


def _date(v) -> dt.date | None:
    if not v:
        return None
    try:
        return dt.date.fromisoformat(str(v)[:10])
    except ValueError:
        return None


async def set_members(session: AsyncSession, team: Team, members: list[dict]) -> None:
    team.members = [_member(m) for m in members]
    await session.flush()
    await session.execute(delete(Membership).where(Membership.team_id == team.id))
    seen = set()
    for m in team.members:
        if m["person_id"] and m["person_id"] not in seen:
            seen.add(m["person_id"])
            session.add(Membership(team_id=team.id, person_id=m["person_id"], role=m.get("role"), law_enforcement=bool(m.get("law_enforcement"))))


async def _team(session: AsyncSession, team_id: str, data: dict) -> Team:
    """The team row, created if missing. ``team.formed`` and ``task.dispatched`` are consumed in
    parallel: whichever comes second finds the row the first made (a savepoint absorbs the race)."""
    team = await session.get(Team, team_id)
    if team is None:
        try:
            async with session.begin_nested():
                team = Team(id=team_id, plan_id=data.get("plan_id") or "", categories=[], members=[], updated_at=utcnow())
                session.add(team)
                await session.flush()
        except IntegrityError:
            team = await session.get(Team, team_id, populate_existing=True)
    return team


class TeamFormedConsumer(Consumer):
    name = "inspection-team-formed"
    subjects = ("scheduling.team.formed",)

    async def handle(self, session: AsyncSession, event: dict[str, Any]) -> None:
        d = event["data"]
        team = await _team(session, d["team_id"], d)
        team.plan_id = d.get("plan_id") or team.plan_id
        team.plan_name = d.get("plan_name") or team.plan_name
        team.label = d.get("label") or team.label
        team.city_code = d.get("city_code") or team.city_code
        team.categories = list(d.get("categories") or [])
        if team.amendment_seq == 0:  # an amendment that arrived first is newer than the formation
            await set_members(session, team, d.get("members") or [])
        team.report_date = _date(d.get("report_date")) or team.report_date
        team.window = d.get("window") or team.window
        team.updated_at = utcnow()


class TeamAmendedConsumer(Consumer):
    """``team.amended`` (and the older ``team.member_substituted``) carry the whole current member list."""

    name = "inspection-team-amended"
    subjects = ("scheduling.team.amended",)

    async def handle(self, session: AsyncSession, event: dict[str, Any]) -> None:
        d = event["data"]
        team = await _team(session, d["team_id"], d)
        seq = d.get("seq")
        if isinstance(seq, int):
            if seq <= team.amendment_seq:
                return  # an older amendment delivered late: the newer member list stays
            team.amendment_seq = seq
        if d.get("members") is not None:
            await set_members(session, team, d["members"])
        team.updated_at = utcnow()


class TeamSubstitutedConsumer(TeamAmendedConsumer):
    name = "inspection-team-substituted"
    subjects = ("scheduling.team.member_substituted",)


# One subject per durable consumer: with several ``filter_subjects`` the kernel's pull subscription
# was seen receiving the whole stream (reported to the lead).


class TaskDispatchedConsumer(Consumer):
    name = "inspection-task-dispatched"
    subjects = ("scheduling.task.dispatched",)

    async def handle(self, session: AsyncSession, event: dict[str, Any]) -> None:
        d = event["data"]
        ent, site = d.get("enterprise") or {}, d.get("site") or {}
        team = await _team(session, d["team_id"], d)
        if not team.members and d.get("members"):
            await set_members(session, team, d["members"])
            team.label = team.label or d.get("team_label")
            team.city_code = team.city_code or d.get("city_code")
        now = utcnow()
        task = await session.get(Task, d["task_id"])
        if task is None:
            task = Task(id=d["task_id"], team_id=d["team_id"], plan_id=d.get("plan_id") or "", uscc=ent["uscc"], categories=[],
                        site_id=str(site.get("id") or ""), region_code=site.get("region_code") or d.get("county_code") or d.get("city_code"),
                        city_code=d.get("city_code") or "", dispatched_at=_ts(event) or now, updated_at=now)
            session.add(task)
        task.team_id, task.plan_id, task.uscc, task.site_id = d["team_id"], d.get("plan_id") or "", ent["uscc"], str(site.get("id") or "")
        task.region_code = site.get("region_code") or d.get("county_code") or d.get("city_code")
        task.city_code = d.get("city_code") or ""
        task.team_label = d.get("team_label")
        task.enterprise_name = ent.get("name")
        task.categories = list(ent.get("categories") or [])
        task.site_address = site.get("address")
        task.county_code = d.get("county_code")
        task.visit_date = _date(d.get("visit_date"))
        task.updated_at = now


class TaskAcceptedConsumer(Consumer):
    name = "inspection-task-accepted"
    subjects = ("scheduling.task.accepted",)

    async def handle(self, session: AsyncSession, event: dict[str, Any]) -> None:
        task = await session.get(Task, event["data"]["task_id"])
        if task is not None and task.status == "dispatched":
            task.status, task.updated_at = "accepted", utcnow()


class TaskCancelledConsumer(Consumer):
    name = "inspection-task-cancelled"
    subjects = ("scheduling.task.cancelled",)

    async def handle(self, session: AsyncSession, event: dict[str, Any]) -> None:
        d = event["data"]
        task = await session.get(Task, d["task_id"])
        if task is None:  # cancelled before its dispatch reached us: remember it so a late dispatch stays cancelled
            task = Task(id=d["task_id"], team_id=d.get("team_id") or "", plan_id=d.get("plan_id") or "", uscc=d.get("uscc") or "",
                        categories=[], site_id=str(d.get("site_id") or ""), region_code="", city_code="", dispatched_at=utcnow(), updated_at=utcnow())
            session.add(task)
        task.status, task.cancel_reason, task.updated_at = "cancelled", d.get("reason"), utcnow()


class LicenceConsumer(Consumer):
    name = "inspection-licence-issued"
    subjects = ("registry.licence.issued",)

    async def handle(self, session: AsyncSession, event: dict[str, Any]) -> None:
        d = event["data"]
        lic = await session.get(Licence, d["id"])
        if lic is None:
            lic = Licence(id=d["id"], uscc=d["uscc"], number=d["number"])
            session.add(lic)
        lic.uscc, lic.number, lic.category = d["uscc"], d["number"], d.get("category")
        lic.product_description = d.get("product_description")
        lic.issue_date, lic.expiry_date = _date(d.get("issue_date")), _date(d.get("expiry_date"))
        lic.status = d.get("status") or d.get("to")


class LicenceUpdatedConsumer(LicenceConsumer):
    name = "inspection-licence-updated"
    subjects = ("registry.licence.updated",)


class LicenceStatusConsumer(LicenceConsumer):
    name = "inspection-licence-status"
    subjects = ("registry.licence.status_changed",)


def _ts(event: dict) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(event.get("time")).replace("Z", "+00:00"))
    except ValueError:
        return None


CONSUMERS = [TeamFormedConsumer, TeamAmendedConsumer, TeamSubstitutedConsumer, TaskDispatchedConsumer, TaskAcceptedConsumer,
             TaskCancelledConsumer, LicenceConsumer, LicenceUpdatedConsumer, LicenceStatusConsumer]
