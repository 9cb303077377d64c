"""Production licences (生产许可证) and their status history.

Status transitions: 有效 <-> 暂停; 有效/暂停 -> 撤销/吊销/注销. 撤销, 吊销 and 注销 are final.
Every change keeps a history row (who, when, from -> to, reason), an event and an audit entry."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal
from shared.db import first_or_404, new_id, utcnow
from shared.errors import Problem

from . import catalogue
from .jurisdiction import enterprise_filter, ensure_writer_covers
from .models import Enterprise, Licence, LicenceStatusChange
from .schemas import LicenceIn, LicencePatch, LicenceStatusIn

FINAL = {"撤销", "吊销", "注销"}
ALLOWED = {
    "有效": {"暂停", "撤销", "吊销", "注销"},
    "暂停": {"有效", "撤销", "吊销", "注销"},
}


def licence_dict(x: Licence) -> dict:
    return {
        "id": x.id,
        "number": x.number,
        "uscc": x.uscc,
        "category": x.category,
        "category_name": catalogue.name_of(x.category) if catalogue.is_code(x.category) else None,
        "product_description": x.product_description,
        "issue_date": x.issue_date.isoformat(),
        "expiry_date": x.expiry_date.isoformat(),
        "status": x.status,
        "version": x.version,
    }


def change_dict(c: LicenceStatusChange) -> dict:
    return {"id": c.id, "licence_id": c.licence_id, "from": c.from_status, "to": c.to_status, "reason": c.reason, "actor": c.actor, "at": c.at.isoformat()}


async def _number_taken(session: AsyncSession, number: str) -> bool:
    return (await session.execute(select(Licence.id).where(Licence.number == number))).first() is not None


async def insert_licence(session: AsyncSession, rec, principal: Principal, e: Enterprise, body: LicenceIn, request_id: str | None = None) -> dict:
    if await _number_taken(session, body.number):
        raise Problem(409, "licence-exists", "许可证编号已存在", errors=[{"field": "number", "message": f"许可证编号 {body.number} 已登记"}])
    lic = Licence(
        id=new_id(), number=body.number, uscc=e.uscc, category=body.category, product_description=body.product_description,
        issue_date=body.issue_date, expiry_date=body.expiry_date, status=body.status,
    )
    session.add(lic)
    session.add(LicenceStatusChange(id=new_id(), licence_id=lic.id, from_status=None, to_status=lic.status, reason="发证登记", actor=principal.sub))
    try:
        await session.flush()
    except IntegrityError:
        raise Problem(409, "licence-exists", "许可证编号已存在", errors=[{"field": "number", "message": f"许可证编号 {body.number} 已登记"}]) from None
    state = licence_dict(lic)
    await rec.emit(session, "licence", "issued", {**state, "enterprise_name": e.name, "region_code": e.region_code}, subject_id=lic.id, request_id=request_id, actor=principal.sub)
    await rec.audit(session, principal, "licence.issue", "licence", lic.id, after=state, request_id=request_id)
    return state


async def get_visible(session: AsyncSession, principal: Principal, licence_id: str, *, for_update: bool = False) -> tuple[Licence, Enterprise]:
    q = (
        select(Licence, Enterprise)
        .join(Enterprise, Enterprise.uscc == Licence.uscc)
        .where(Licence.id == licence_id, enterprise_filter(principal, Enterprise.uscc, Enterprise.region_code))
    )
    row = await first_or_404(session, q, "许可证", licence_id, for_update=for_update)
    return row[0], row[1]


async def list_for(session: AsyncSession, e: Enterprise) -> list[dict]:
    rows = (await session.execute(select(Licence).where(Licence.uscc == e.uscc).order_by(Licence.number))).scalars().all()
    return [licence_dict(x) for x in rows]


async def update(session: AsyncSession, rec, principal: Principal, lic: Licence, e: Enterprise, patch: LicencePatch, request_id: str | None = None) -> dict:
    ensure_writer_covers(principal, e.region_code)
    changes = patch.model_dump(exclude_unset=True)
    if "expiry_date" in changes:
        if changes["expiry_date"] is None:
            raise Problem(422, "validation", "输入数据校验失败", errors=[{"field": "expiry_date", "message": "不能为空"}])
        if changes["expiry_date"] <= lic.issue_date:
            raise Problem(422, "validation", "输入数据校验失败", errors=[{"field": "expiry_date", "message": "有效期至必须晚于发证日期"}])
    before = licence_dict(lic)
    for k, val in changes.items():
        setattr(lic, k, val)
    lic.version += 1
    lic.updated_at = utcnow()
    await session.flush()
    state = licence_dict(lic)
    await rec.emit(session, "licence", "updated", {**state, "enterprise_name": e.name, "region_code": e.region_code}, subject_id=lic.id, request_id=request_id, actor=principal.sub)
    await rec.audit(session, principal, "licence.update", "licence", lic.id, before=before, after=state, request_id=request_id)
    return state


async def change_status(session: AsyncSession, rec, principal: Principal, lic: Licence, e: Enterprise, body: LicenceStatusIn, request_id: str | None = None) -> dict:
    ensure_writer_covers(principal, e.region_code)
    if body.status == lic.status:
        raise Problem(409, "status-unchanged", "许可证已是该状态", errors=[{"field": "status", "message": f"当前状态已为{lic.status}"}])
    if body.status not in ALLOWED.get(lic.status, set()):
        raise Problem(409, "status-transition", "不允许的状态变更", errors=[{"field": "status", "message": f"许可证状态{lic.status}不能变更为{body.status}"}])
    before = licence_dict(lic)
    change = LicenceStatusChange(id=new_id(), licence_id=lic.id, from_status=lic.status, to_status=body.status, reason=body.reason, actor=principal.sub)
    session.add(change)
    lic.status = body.status
    lic.version += 1
    lic.updated_at = utcnow()
    await session.flush()
    state = licence_dict(lic)
    data = {**state, "from": before["status"], "to": body.status, "reason": body.reason, "enterprise_name": e.name, "region_code": e.region_code}
    await rec.emit(session, "licence", "status_changed", data, subject_id=lic.id, request_id=request_id, actor=principal.sub)
    await rec.audit(session, principal, "licence.status_change", "licence", lic.id, before=before, after=state, detail={"from": before["status"], "to": body.status, "reason": body.reason}, request_id=request_id)
    return state


async def history(session: AsyncSession, lic: Licence) -> list[dict]:
    rows = (await session.execute(select(LicenceStatusChange).where(LicenceStatusChange.licence_id == lic.id).order_by(LicenceStatusChange.at, LicenceStatusChange.id))).scalars().all()
    return [change_dict(c) for c in rows]
