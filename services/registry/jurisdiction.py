"""Who may read and write what, expressed as SQL filters (jurisdiction lives in the queries).

Readers: the administrations, inspectors, experts, discipline and government clients, each
limited to the region under its own code; an enterprise account sees only its own 统一社会信用代码.
Writers: province_admin anywhere, city_admin / county_admin within their region."""
from __future__ import annotations

from sqlalchemy import false
from sqlalchemy.sql import ColumnElement

from shared.auth import Principal
from shared.errors import Problem

READ_ROLES = ("province_admin", "city_admin", "county_admin", "inspector", "expert", "discipline", "enterprise", "gov_client")
PEOPLE_READ_ROLES = tuple(r for r in READ_ROLES if r != "enterprise")
WRITE_ROLES = ("province_admin", "city_admin", "county_admin")
POPULATION_ROLES = ("province_admin", "city_admin", "county_admin")


def region_filter(principal: Principal, region_col: ColumnElement) -> ColumnElement:
    return region_col.startswith(principal.prefix, autoescape=True)


def enterprise_filter(principal: Principal, uscc_col: ColumnElement, region_col: ColumnElement) -> ColumnElement:
    """The enterprises ``principal`` may see."""
    if principal.has(*(r for r in READ_ROLES if r != "enterprise")):
        return region_filter(principal, region_col)
    if principal.has("enterprise") and principal.uscc:
        return uscc_col == principal.uscc
    return false()


def ensure_writer_covers(principal: Principal, region_code: str, field: str = "region_code") -> None:
    """A write that places something in ``region_code`` must stay inside the writer's region."""
    if not (principal.has(*WRITE_ROLES) and principal.covers(region_code)):
        raise Problem(
            403, "out-of-jurisdiction", "超出管辖范围", detail=f"地区 {region_code} 不在您的管辖范围内",
            errors=[{"field": field, "message": "不在您的管辖范围内"}],
        )
