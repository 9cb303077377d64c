"""执法检查人员名录库 (inspectors) and the expert directory, with declared conflicts of interest.

People are scoped by region like enterprises: a city admin sees and edits the people of its
city and counties. A person holding a law-enforcement certificate counts as 执法人员.
Changes emit ``inspector.changed`` / ``expert.changed`` (carrying the person) and
``conflict.declared`` / ``conflict.withdrawn``."""
from __future__ import annotations

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal, region_prefix
from shared.db import first_or_404, utcnow
from shared.errors import Problem, not_found
from shared.pagination import PageParams, keyset, page_of

from .jurisdiction import ensure_writer_covers, region_filter
from .models import Conflict, Person, PersonSpecialty
from .schemas import ConflictIn, PersonIn, PersonPatch

ID_PREFIX = {"inspector": "insp", "expert": "exp"}
KIND_NAME = {"inspector": "执法检查人员", "expert": "技术专家"}


def person_dict(p: Person, specialties: list[str], conflicts: list[dict] | None = None) -> dict:
    d = {
        "id": p.id, "kind": p.kind, "name": p.name, "level": p.level, "region_code": p.region_code,
        "organisation": p.organisation, "unit": p.unit, "business_line": p.business_line, "division_cadre": p.division_cadre,
        "certificate_no": p.certificate_no, "law_enforcement_officer": bool(p.certificate_no),
        "specialties": sorted(specialties), "active": p.active, "version": p.version,
    }
    if conflicts is not None:
        d["conflicts"] = conflicts
    return d


def conflict_dict(c: Conflict) -> dict:
    return {"id": c.id, "person_id": c.person_id, "uscc": c.uscc, "reason": c.reason, "declared_by": c.declared_by, "declared_at": c.declared_at.isoformat()}


async def specialties_of(session: AsyncSession, ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {i: [] for i in ids}
    for chunk in _chunks(ids):
        rows = (await session.execute(select(PersonSpecialty).where(PersonSpecialty.person_id.in_(chunk)))).scalars().all()
        for r in rows:
            out[r.person_id].append(r.category)
    return out


async def conflicts_of(session: AsyncSession, ids: list[str]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {i: [] for i in ids}
    for chunk in _chunks(ids):
        rows = (await session.execute(select(Conflict).where(Conflict.person_id.in_(chunk)).order_by(Conflict.uscc))).scalars().all()
        for c in rows:
            out[c.person_id].append({"uscc": c.uscc, "reason": c.reason})
    return out


def _chunks(xs: list, n: int = 900):
    for i in range(0, len(xs), n):
        yield xs[i : i + n]


async def state(session: AsyncSession, p: Person) -> dict:
    spec = await specialties_of(session, [p.id])
    conf = await conflicts_of(session, [p.id])
    return person_dict(p, spec[p.id], conf[p.id])


def person_filter(principal: Principal):
    return region_filter(principal, Person.region_code)


async def get_visible(session: AsyncSession, principal: Principal, kind: str, person_id: str, *, for_update: bool = False) -> Person:
    q = select(Person).where(Person.id == person_id, Person.kind == kind, person_filter(principal))
    return (await first_or_404(session, q, KIND_NAME[kind], person_id, for_update=for_update))[0]


async def list_people(
    session: AsyncSession, principal: Principal, kind: str, params: PageParams, *,
    region: str | None = None, level: str | None = None, active: bool | None = None, division_cadre: bool | None = None,
    business_line: str | None = None, certified: bool | None = None, specialty: str | None = None, q: str | None = None,
    unit: str | None = None,
) -> dict:
    query = select(Person).where(Person.kind == kind, person_filter(principal))
    if region:
        query = query.where(Person.region_code.startswith(region_prefix(region), autoescape=True))
    if level:
        query = query.where(Person.level == level)
    if active is not None:
        query = query.where(Person.active == active)
    if division_cadre is not None:
        query = query.where(Person.division_cadre == division_cadre)
    if business_line:
        query = query.where(Person.business_line == business_line)
    if unit:
        query = query.where(Person.unit == unit)
    if certified is not None:
        query = query.where(Person.certificate_no.is_not(None) if certified else Person.certificate_no.is_(None))
    if specialty:
        query = query.where(Person.id.in_(select(PersonSpecialty.person_id).where(PersonSpecialty.category == specialty)))
    if q:
        query = query.where(or_(Person.name.contains(q, autoescape=True), Person.organisation.contains(q, autoescape=True), Person.id == q))
    rows = list((await session.execute(keyset(query, [Person.id], params))).scalars().all())
    page = page_of(rows, params, lambda p: [p.id])
    ids = [p.id for p in page["rows"]]
    spec = await specialties_of(session, ids)
    return {"items": [person_dict(p, spec[p.id]) for p in page["rows"]], "next_cursor": page["next_cursor"], "limit": params.limit}


async def next_ids(session: AsyncSession, kind: str, count: int) -> list[str]:
    prefix = ID_PREFIX[kind] + "-"
    ids = (await session.execute(select(Person.id).where(Person.kind == kind))).scalars().all()
    top = max((int(i[len(prefix):]) for i in ids if i.startswith(prefix) and i[len(prefix):].isdigit()), default=0)
    return [f"{prefix}{top + k:04d}" for k in range(1, count + 1)]


def _changed(kind: str) -> tuple[str, str]:
    return kind, "changed"


async def create(session: AsyncSession, rec, principal: Principal, kind: str, body: PersonIn, request_id: str | None = None) -> dict:
    ensure_writer_covers(principal, body.region_code)
    if body.id and not body.id.startswith(ID_PREFIX[kind] + "-"):
        raise Problem(422, "validation", "输入数据校验失败", errors=[{"field": "id", "message": f"编号应以 {ID_PREFIX[kind]}- 开头"}])
    if kind == "inspector" and body.specialties:
        raise Problem(422, "validation", "输入数据校验失败", errors=[{"field": "specialties", "message": "专业领域仅适用于技术专家"}])
    pid = body.id or (await next_ids(session, kind, 1))[0]
    if (await session.get(Person, pid)) is not None:
        # ids are unique province-wide: a taken id is one neutral answer, the same in the caller's
        # region and elsewhere, naming nothing of the other record (which stays 404) — threat model
        raise Problem(409, "person-id-taken", "人员编号不可用", detail=f"编号 {pid} 已被使用（编号全省唯一），请换一个编号或留空由系统分配",
                      errors=[{"field": "id", "message": f"编号 {pid} 已被使用，请换一个编号或留空由系统分配"}])
    p = Person(
        id=pid, kind=kind, name=body.name, level=body.level, region_code=body.region_code, organisation=body.organisation, unit=body.unit,
        business_line=body.business_line, division_cadre=body.division_cadre, certificate_no=body.certificate_no or None, active=body.active,
    )
    session.add(p)
    await session.flush()
    for c in body.specialties:
        session.add(PersonSpecialty(person_id=pid, category=c))
    await session.flush()
    st = await state(session, p)
    await rec.emit(session, *_changed(kind), {**st, "change": "created"}, subject_id=pid, request_id=request_id, actor=principal.sub)
    await rec.audit(session, principal, f"{kind}.create", kind, pid, after=st, request_id=request_id)
    return st


async def update(session: AsyncSession, rec, principal: Principal, p: Person, patch: PersonPatch, request_id: str | None = None) -> dict:
    ensure_writer_covers(principal, p.region_code)
    changes = patch.model_dump(exclude_unset=True)
    for field in ("name", "organisation", "division_cadre", "active", "specialties"):
        if field in changes and changes[field] is None:
            raise Problem(422, "validation", "输入数据校验失败", errors=[{"field": field, "message": "不能为空"}])
    if p.kind == "inspector" and changes.get("specialties"):
        raise Problem(422, "validation", "输入数据校验失败", errors=[{"field": "specialties", "message": "专业领域仅适用于技术专家"}])
    before = await state(session, p)
    specialties = changes.pop("specialties", None)
    for k, val in changes.items():
        setattr(p, k, val or None if k == "certificate_no" else val)
    if specialties is not None:
        await session.execute(delete(PersonSpecialty).where(PersonSpecialty.person_id == p.id))
        for c in specialties:
            session.add(PersonSpecialty(person_id=p.id, category=c))
    p.version += 1
    p.updated_at = utcnow()
    await session.flush()
    st = await state(session, p)
    await rec.emit(session, *_changed(p.kind), {**st, "change": "updated"}, subject_id=p.id, request_id=request_id, actor=principal.sub)
    await rec.audit(session, principal, f"{p.kind}.update", p.kind, p.id, before=before, after=st, request_id=request_id)
    return st


# ---------------------------------------------------------------- conflicts (回避)
async def declare_conflict(session: AsyncSession, rec, principal: Principal | str, body: ConflictIn, request_id: str | None = None) -> dict:
    """An admin covering the person, or the person themself (token ``person_id``), declares a conflict."""
    from shared.db import new_id

    actor = principal if isinstance(principal, str) else principal.sub
    person = await session.get(Person, body.person_id)
    if not isinstance(principal, str):
        own = principal.person_id is not None and principal.person_id == body.person_id
        if person is None or not (own or (principal.has("province_admin", "city_admin", "county_admin") and principal.covers(person.region_code))):
            raise not_found("人员", body.person_id)
    elif person is None:
        raise not_found("人员", body.person_id)
    exists = (await session.execute(select(Conflict.id).where(Conflict.person_id == body.person_id, Conflict.uscc == body.uscc))).first()
    if exists:
        raise Problem(409, "conflict-exists", "该回避关系已申报", errors=[{"field": "uscc", "message": "该人员与该企业的回避关系已存在"}])
    c = Conflict(id=new_id(), person_id=body.person_id, uscc=body.uscc, reason=body.reason, declared_by=actor)
    session.add(c)
    await session.flush()
    d = conflict_dict(c)
    await rec.emit(session, "conflict", "declared", {**d, "person_kind": person.kind, "person_name": person.name}, subject_id=c.id, request_id=request_id, actor=actor)
    await rec.audit(session, principal, "conflict.declare", "conflict", c.id, after=d, request_id=request_id)
    return d


def conflict_scope(principal: Principal):
    """Conflicts of people the caller covers; an inspector/expert account sees its own."""
    if principal.has("province_admin", "city_admin", "county_admin", "discipline"):
        return Conflict.person_id.in_(select(Person.id).where(person_filter(principal)))
    if principal.person_id:
        return Conflict.person_id == principal.person_id
    from sqlalchemy import false

    return false()


async def list_conflicts(session: AsyncSession, principal: Principal, params: PageParams, *, person_id: str | None = None, uscc: str | None = None) -> dict:
    query = select(Conflict).where(conflict_scope(principal))
    if person_id:
        query = query.where(Conflict.person_id == person_id)
    if uscc:
        query = query.where(Conflict.uscc == uscc)
    rows = list((await session.execute(keyset(query, [Conflict.id], params))).scalars().all())
    page = page_of(rows, params, lambda c: [c.id])
    return {"items": [conflict_dict(c) for c in page["rows"]], "next_cursor": page["next_cursor"], "limit": params.limit}


async def withdraw_conflict(session: AsyncSession, rec, principal: Principal, conflict_id: str, reason: str | None, request_id: str | None = None) -> dict:
    c = (await session.execute(select(Conflict).where(Conflict.id == conflict_id, conflict_scope(principal)))).scalar_one_or_none()
    if c is None:
        raise not_found("回避申报", conflict_id)
    person = await session.get(Person, c.person_id)
    if not (principal.has("province_admin", "city_admin", "county_admin") and principal.covers(person.region_code)):
        raise Problem(403, "forbidden", "无权执行此操作", detail="撤回回避申报需由管辖该人员的管理员办理")
    d = conflict_dict(c)
    await session.delete(c)
    await session.flush()
    await rec.emit(session, "conflict", "withdrawn", {**d, "withdraw_reason": reason}, subject_id=c.id, request_id=request_id, actor=principal.sub)
    await rec.audit(session, principal, "conflict.withdraw", "conflict", c.id, before=d, detail={"reason": reason}, request_id=request_id)
    return d


async def count(session: AsyncSession, kind: str) -> int:
    return (await session.execute(select(func.count()).select_from(Person).where(Person.kind == kind))).scalar_one()
