"""The sampling populations (the shared contract with the sampling service).

``enterprises``: enterprises holding at least one licence of the requested catalogue in the
requested status, in the caller's region, in canonical order by ``uscc``; ``categories`` and
``licences`` list only those licences (catalogue categories in the requested status).
``people``: inspectors or experts in the caller's region, ordered by ``id``.

The two sampling flags are true when the bureau has recorded them (with source and date);
the 5-year window is judged when the flag is recorded, not recomputed here."""
from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal, region_prefix
from shared.errors import Problem
from shared.pagination import decode_cursor, encode_cursor
from shared import regions

from . import catalogue
from .enterprises import flags_of
from .jurisdiction import region_filter
from .models import Enterprise, Licence, Person, ProductionSite
from .people import _chunks, conflicts_of, person_dict, specialties_of

MAX_LIMIT = 5000


def _cursor_key(cursor: str | None) -> str | None:
    if not cursor:
        return None
    values = decode_cursor(cursor)
    if len(values) != 1 or not isinstance(values[0], str):
        raise Problem(400, "bad-cursor", "分页游标无效", errors=[{"field": "cursor", "message": "游标与排序不符"}])
    return values[0]


async def enterprises(
    session: AsyncSession, principal: Principal, *, catalogue_version: str, licence_status: str, region: str | None, cursor: str | None, limit: int
) -> dict:
    cat = catalogue.get(catalogue_version)
    if cat is None:
        raise Problem(422, "validation", "输入数据校验失败", errors=[{"field": "catalogue", "message": f"未知的目录版本：{catalogue_version}（可选 {'、'.join(catalogue.CATALOGUES)}）"}])
    region = region or principal.region
    if not regions.is_known(region):
        raise Problem(422, "validation", "输入数据校验失败", errors=[{"field": "region", "message": f"未知的行政区划代码：{region}"}])
    if not principal.covers(region):
        raise Problem(403, "out-of-jurisdiction", "超出管辖范围", detail=f"地区 {region} 不在您的管辖范围内", errors=[{"field": "region", "message": "不在您的管辖范围内"}])
    codes = catalogue.codes(catalogue_version)
    lic_match = [Licence.status == licence_status, Licence.category.in_(codes)]
    query = select(Enterprise).where(
        region_filter(principal, Enterprise.region_code),
        Enterprise.region_code.startswith(region_prefix(region), autoescape=True),
        exists().where(Licence.uscc == Enterprise.uscc, *lic_match),
    )
    after = _cursor_key(cursor)
    if after is not None:
        query = query.where(Enterprise.uscc > after)
    rows = list((await session.execute(query.order_by(Enterprise.uscc).limit(limit + 1))).scalars().all())
    more = len(rows) > limit
    rows = rows[:limit]
    usccs = [e.uscc for e in rows]
    lic_by: dict[str, list[Licence]] = {u: [] for u in usccs}
    sites_by: dict[str, list[ProductionSite]] = {u: [] for u in usccs}
    for chunk in _chunks(usccs):
        for lic in (await session.execute(select(Licence).where(Licence.uscc.in_(chunk), *lic_match).order_by(Licence.number))).scalars():
            lic_by[lic.uscc].append(lic)
        for s in (await session.execute(select(ProductionSite).where(ProductionSite.uscc.in_(chunk)).order_by(ProductionSite.id))).scalars():
            sites_by[s.uscc].append(s)
    items = []
    for e in rows:
        lics = lic_by[e.uscc]
        items.append({
            "uscc": e.uscc, "name": e.name, "region_code": e.region_code, "city_code": e.city_code,
            "production_status": e.production_status,
            "categories": sorted({x.category for x in lics}),
            "licences": [{"number": x.number, "category": x.category, "status": x.status, "issue_date": x.issue_date.isoformat(), "expiry_date": x.expiry_date.isoformat()} for x in lics],
            "flags": flags_of(e),
            "sites": [{"id": s.id, "address": s.address, "region_code": s.region_code} for s in sites_by[e.uscc]],
        })
    return {"catalogue": catalogue_version, "items": items, "next_cursor": encode_cursor([rows[-1].uscc]) if more and rows else None, "limit": limit}


async def people(session: AsyncSession, principal: Principal, *, kind: str, active: bool | None, cursor: str | None, limit: int) -> dict:
    query = select(Person).where(Person.kind == kind, region_filter(principal, Person.region_code))
    if active is not None:
        query = query.where(Person.active == active)
    after = _cursor_key(cursor)
    if after is not None:
        query = query.where(Person.id > after)
    rows = list((await session.execute(query.order_by(Person.id).limit(limit + 1))).scalars().all())
    more = len(rows) > limit
    rows = rows[:limit]
    ids = [p.id for p in rows]
    spec = await specialties_of(session, ids)
    conf = await conflicts_of(session, ids)
    items = []
    for p in rows:
        d = person_dict(p, spec[p.id], conf[p.id])
        items.append({k: d[k] for k in ("id", "kind", "name", "level", "region_code", "organisation", "unit", "business_line", "division_cadre", "certificate_no", "specialties", "active", "conflicts")})
    return {"kind": kind, "items": items, "next_cursor": encode_cursor([rows[-1].id]) if more and rows else None, "limit": limit}
