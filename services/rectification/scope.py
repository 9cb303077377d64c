"""Who sees which cases (in SQL), the injectable clock, and who may act on a case."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import false, true
from sqlalchemy.sql import ColumnElement

from shared.auth import Principal, reads_province
from shared.db import utcnow
from shared.errors import Problem

from .models import Case

CHINA = ZoneInfo("Asia/Shanghai")
READERS = ("province_admin", "discipline", "city_admin", "county_admin", "enterprise")


def now(ctx) -> dt.datetime:
    """The service's clock (tests and the demo inject ``ctx.extras['clock']``)."""
    fn = ctx.extras.get("clock")
    return fn() if fn else utcnow()


def today(ctx) -> dt.date:
    return now(ctx).astimezone(CHINA).date()


def case_filter(p: Principal) -> ColumnElement:
    """province administration and province discipline: all; city/county bureaus and discipline
    groups: cases in their region; enterprise: its own."""
    if reads_province(p):
        return true()
    if p.has("city_admin", "county_admin", "discipline"):
        return Case.region_code.startswith(p.prefix)
    if p.has("enterprise"):
        return Case.uscc == p.uscc if p.uscc else false()
    raise Problem(403, "forbidden", "无权执行此操作", detail="需要角色：省局、市局、县局管理员，获证企业或纪检监察组")


def is_county_of(p: Principal, c: Case) -> bool:
    return p.has("county_admin") and c.county_code is not None and p.region == c.county_code


def is_city_of(p: Principal, c: Case) -> bool:
    return p.has("city_admin") and p.region == c.city_code


def is_enterprise_of(p: Principal, c: Case) -> bool:
    return p.has("enterprise") and bool(p.uscc) and p.uscc == c.uscc


def deny(detail: str) -> Problem:
    return Problem(403, "forbidden", "无权执行此操作", detail=detail)
