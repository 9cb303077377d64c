"""Enterprises (检查对象名录库), their production sites and the notice's sampling flags.

Every query is filtered by the caller's jurisdiction (``jurisdiction.enterprise_filter``); a single
enterprise outside it answers 404. Each change writes the row, an ``enterprise.*`` event carrying
the enterprise's state and an audit entry in one transaction."""
from __future__ import annotations

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal
from shared.db import first_or_404, new_id, utcnow
from shared.errors import Problem
from shared.pagination import PageParams, keyset, page_of
from shared import regions

from .jurisdiction import enterprise_filter, ensure_writer_covers
from .licences import insert_licence, licence_dict
from .models import Enterprise, Licence, ProductionSite
from .schemas import EnterpriseIn, EnterprisePatch, FlagsIn, SiteIn, SitePatch

FLAG_KINDS = {"national_fail_5y": "近5年国家监督抽查不合格", "provincial_fail_2021": "2021年省级监督抽查不合格"}


def flags_of(e: Enterprise) -> dict:
    return {
        "national_fail_5y": e.national_fail_date is not None,
        "provincial_fail_2021": e.provincial_fail_2021_date is not None,
    }


def flag_details(e: Enterprise) -> dict:
    def one(source, date):
        return {"source": source, "date": date.isoformat()} if date is not None else None

    return {
        "national_fail_5y": one(e.national_fail_source, e.national_fail_date),
        "provincial_fail_2021": one(e.provincial_fail_2021_source, e.provincial_fail_2021_date),
    }


def site_dict(s: ProductionSite) -> dict:
    return {"id": s.id, "uscc": s.uscc, "address": s.address, "region_code": s.region_code, "version": s.version}


def enterprise_dict(e: Enterprise) -> dict:
    region = regions.get(e.region_code) or {}
    return {
        "uscc": e.uscc,
        "name": e.name,
        "region_code": e.region_code,
        "region_name": region.get("name"),
        "city_code": e.city_code,
        "address": e.address,
        "legal_representative": e.legal_representative,
        "contact_phone": e.contact_phone,
        "production_status": e.production_status,
        "flags": flags_of(e),
        "flag_details": flag_details(e),
        "version": e.version,
        "created_at": e.created_at.isoformat(),
        "updated_at": e.updated_at.isoformat(),
    }


async def full_state(session: AsyncSession, e: Enterprise) -> dict:
    """The enterprise with its sites and licences (what events carry and GET returns)."""
    sites = (await session.execute(select(ProductionSite).where(ProductionSite.uscc == e.uscc).order_by(ProductionSite.id))).scalars().all()
    lics = (await session.execute(select(Licence).where(Licence.uscc == e.uscc).order_by(Licence.number))).scalars().all()
    return {**enterprise_dict(e), "sites": [site_dict(s) for s in sites], "licences": [licence_dict(x) for x in lics]}


# ---------------------------------------------------------------- queries
def visible(principal: Principal):
    return enterprise_filter(principal, Enterprise.uscc, Enterprise.region_code)


async def get_visible(session: AsyncSession, principal: Principal, uscc: str, *, for_update: bool = False) -> Enterprise:
    q = select(Enterprise).where(Enterprise.uscc == uscc, visible(principal))
    return (await first_or_404(session, q, "企业", uscc, for_update=for_update))[0]


async def get_writable(session: AsyncSession, principal: Principal, uscc: str) -> Enterprise:
    e = await get_visible(session, principal, uscc, for_update=True)
    ensure_writer_covers(principal, e.region_code)
    return e


async def list_enterprises(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    region: str | None = None,
    category: str | None = None,
    licence_status: str | None = None,
    flag: str | None = None,
    production_status: str | None = None,
    q: str | None = None,
) -> dict:
    query = select(Enterprise).where(visible(principal))
    if region:
        from shared.auth import region_prefix

        query = query.where(Enterprise.region_code.startswith(region_prefix(region), autoescape=True))
    if category or licence_status:
        cond = [Licence.uscc == Enterprise.uscc]
        if category:
            cond.append(Licence.category == category)
        if licence_status:
            cond.append(Licence.status == licence_status)
        query = query.where(exists().where(*cond))
    if flag == "national_fail_5y":
        query = query.where(Enterprise.national_fail_date.is_not(None))
    elif flag == "provincial_fail_2021":
        query = query.where(Enterprise.provincial_fail_2021_date.is_not(None))
    elif flag == "any":
        query = query.where(or_(Enterprise.national_fail_date.is_not(None), Enterprise.provincial_fail_2021_date.is_not(None)))
    if production_status:
        query = query.where(Enterprise.production_status == production_status)
    if q:
        query = query.where(or_(Enterprise.name.contains(q, autoescape=True), Enterprise.uscc.startswith(q.upper(), autoescape=True)))
    rows = (await session.execute(keyset(query, [Enterprise.uscc], params))).scalars().all()
    page = page_of(list(rows), params, lambda e: [e.uscc])
    return {"items": [enterprise_dict(e) for e in page["rows"]], "next_cursor": page["next_cursor"], "limit": params.limit}


# ---------------------------------------------------------------- changes
async def register(session: AsyncSession, rec, principal: Principal, body: EnterpriseIn, request_id: str | None = None) -> dict:
    ensure_writer_covers(principal, body.region_code)
    for i, site in enumerate(body.sites):
        ensure_writer_covers(principal, site.region_code, f"sites.{i}.region_code")
    if (await session.get(Enterprise, body.uscc)) is not None:
        raise Problem(409, "enterprise-exists", "企业已在名录库中", errors=[{"field": "uscc", "message": f"统一社会信用代码 {body.uscc} 已存在"}])
    numbers = [lic.number for lic in body.licences]
    if len(set(numbers)) != len(numbers):
        raise Problem(422, "validation", "输入数据校验失败", errors=[{"field": "licences", "message": "许可证编号重复"}])
    e = Enterprise(
        uscc=body.uscc, name=body.name, region_code=body.region_code, city_code=regions.city_of(body.region_code),
        address=body.address, legal_representative=body.legal_representative, contact_phone=body.contact_phone,
        production_status=body.production_status,
    )
    session.add(e)
    await session.flush()
    sites = body.sites or [SiteIn(address=body.address, region_code=body.region_code)]
    for site in sites:
        session.add(ProductionSite(id=new_id(), uscc=e.uscc, address=site.address, region_code=site.region_code))
    await session.flush()
    for lic in body.licences:
        await insert_licence(session, rec, principal, e, lic, request_id)
    state = await full_state(session, e)
    await rec.emit(session, "enterprise", "registered", state, subject_id=e.uscc, request_id=request_id, actor=principal.sub)
    await rec.audit(session, principal, "enterprise.register", "enterprise", e.uscc, after=state, request_id=request_id)
    return state


async def _touch(e: Enterprise) -> None:
    e.version += 1
    e.updated_at = utcnow()


async def _updated(session, rec, principal, e, before, action, request_id, detail=None) -> dict:
    await session.flush()
    state = await full_state(session, e)
    await rec.emit(session, "enterprise", "updated", state, subject_id=e.uscc, request_id=request_id, actor=principal.sub)
    await rec.audit(session, principal, action, "enterprise", e.uscc, before=before, after=state, detail=detail, request_id=request_id)
    return state


async def update(session: AsyncSession, rec, principal: Principal, e: Enterprise, patch: EnterprisePatch, request_id: str | None = None) -> dict:
    before = await full_state(session, e)
    changes = patch.model_dump(exclude_unset=True)
    for field in ("name", "address", "production_status", "region_code"):
        if field in changes and changes[field] is None:
            raise Problem(422, "validation", "输入数据校验失败", errors=[{"field": field, "message": "不能为空"}])
    if "region_code" in changes:
        ensure_writer_covers(principal, changes["region_code"])
        e.city_code = regions.city_of(changes["region_code"])
    for k, val in changes.items():
        setattr(e, k, val)
    await _touch(e)
    return await _updated(session, rec, principal, e, before, "enterprise.update", request_id, detail={"fields": sorted(changes)})


async def set_flags(session: AsyncSession, rec, principal: Principal, e: Enterprise, body: FlagsIn, request_id: str | None = None) -> dict:
    before = await full_state(session, e)
    n, p = body.national_fail_5y, body.provincial_fail_2021
    e.national_fail_source, e.national_fail_date = (n.source, n.date) if n else (None, None)
    e.provincial_fail_2021_source, e.provincial_fail_2021_date = (p.source, p.date) if p else (None, None)
    await _touch(e)
    return await _updated(session, rec, principal, e, before, "enterprise.flags", request_id, detail=flags_of(e))


async def add_site(session: AsyncSession, rec, principal: Principal, e: Enterprise, body: SiteIn, request_id: str | None = None) -> dict:
    ensure_writer_covers(principal, body.region_code)
    before = await full_state(session, e)
    site = ProductionSite(id=new_id(), uscc=e.uscc, address=body.address, region_code=body.region_code)
    session.add(site)
    await _touch(e)
    await _updated(session, rec, principal, e, before, "site.add", request_id, detail={"site_id": site.id})
    return site_dict(site)


async def get_site(session: AsyncSession, principal: Principal, site_id: str, *, for_update: bool = False) -> tuple[ProductionSite, Enterprise]:
    q = select(ProductionSite, Enterprise).join(Enterprise, Enterprise.uscc == ProductionSite.uscc).where(ProductionSite.id == site_id, visible(principal))
    row = await first_or_404(session, q, "生产场所", site_id, for_update=for_update)
    return row[0], row[1]


async def update_site(session: AsyncSession, rec, principal: Principal, site: ProductionSite, e: Enterprise, patch: SitePatch, request_id: str | None = None) -> dict:
    ensure_writer_covers(principal, e.region_code)
    changes = patch.model_dump(exclude_unset=True)
    if any(v is None for v in changes.values()):
        raise Problem(422, "validation", "输入数据校验失败", errors=[{"field": k, "message": "不能为空"} for k, v in changes.items() if v is None])
    if "region_code" in changes:
        ensure_writer_covers(principal, changes["region_code"])
    before = await full_state(session, e)
    for k, val in changes.items():
        setattr(site, k, val)
    site.version += 1
    await _touch(e)
    await _updated(session, rec, principal, e, before, "site.update", request_id, detail={"site_id": site.id})
    return site_dict(site)


async def remove_site(session: AsyncSession, rec, principal: Principal, site: ProductionSite, e: Enterprise, request_id: str | None = None) -> dict:
    ensure_writer_covers(principal, e.region_code)
    count = len((await session.execute(select(ProductionSite.id).where(ProductionSite.uscc == e.uscc))).all())
    if count <= 1:
        raise Problem(409, "last-site", "不能删除企业唯一的生产场所", errors=[{"field": "site_id", "message": "企业至少保留一个生产场所"}])
    before = await full_state(session, e)
    await session.delete(site)
    await _touch(e)
    return await _updated(session, rec, principal, e, before, "site.remove", request_id, detail={"site_id": site.id})


async def list_sites(session: AsyncSession, e: Enterprise) -> list[dict]:
    rows = (await session.execute(select(ProductionSite).where(ProductionSite.uscc == e.uscc).order_by(ProductionSite.id))).scalars().all()
    return [site_dict(s) for s in rows]
