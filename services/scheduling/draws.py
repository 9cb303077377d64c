"""Committed sampling draws as received from events, and the inputs of team formation."""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.canonical import canonical_json, digest
from shared.db import utcnow

from .models import Draw, Replacement


class DrawPayloadError(ValueError):
    """A draw event that does not follow the contract (parked by the consumer for an operator)."""


def _require(data: dict, keys: tuple[str, ...], where: str) -> None:
    missing = [k for k in keys if data.get(k) in (None, "")]
    if missing:
        raise DrawPayloadError(f"{where} 缺少字段: {', '.join(missing)}")


def validate_draw(data: dict[str, Any]) -> None:
    _require(data, ("draw_id", "plan_id", "owner_region", "kind"), "draw.committed")
    if data["kind"] == "enterprise":
        if not isinstance(data.get("selected"), list):
            raise DrawPayloadError("企业抽取事件缺少 selected 列表")
        for i, e in enumerate(data["selected"]):
            _require(e, ("uscc", "region_code"), f"selected[{i}]")
            if not isinstance(e.get("categories", []), list) or not isinstance(e.get("sites", []), list):
                raise DrawPayloadError(f"selected[{i}] 的 categories/sites 应为列表")
    elif data["kind"] == "inspector":
        _require(data, ("enterprise_draw_id",), "inspector draw")
        if not isinstance(data.get("pools"), dict):
            raise DrawPayloadError("人员抽取事件缺少 pools")
        for name, people in data["pools"].items():
            for i, p in enumerate(people):
                _require(p, ("id", "ticket"), f"pools.{name}[{i}]")
    else:
        raise DrawPayloadError(f"未知的抽取类型 {data['kind']!r}")


async def store_draw(session: AsyncSession, data: dict, event_id: str) -> bool:
    """Keep a committed draw. A draw never changes: the same id with other content is refused."""
    validate_draw(data)
    payload_digest = digest(data)
    existing = await session.get(Draw, data["draw_id"])
    if existing is not None:
        if existing.payload_digest != payload_digest:
            raise DrawPayloadError(f"抽取 {data['draw_id']} 已存在且内容不同（已提交的抽取不得改变）")
        return False
    session.add(Draw(
        draw_id=data["draw_id"], plan_id=data["plan_id"], plan_name=data.get("plan_name"), batch=str(data.get("batch") or "") or None,
        owner_region=data["owner_region"], kind=data["kind"], enterprise_draw_id=data.get("enterprise_draw_id"),
        population_digest=data.get("population_digest"), payload_digest=payload_digest, payload=canonical_json(data),
        event_id=event_id, received_at=utcnow(),
    ))
    await session.flush()
    return True


async def store_replacement(session: AsyncSession, data: dict, event_id: str) -> Replacement:
    _require(data, ("draw_id", "replaced_uscc", "replacement"), "draw.replacement_recorded")
    _require(data["replacement"], ("uscc", "region_code"), "replacement")
    row = Replacement(
        event_id=event_id, draw_id=data["draw_id"], replaced_uscc=data["replaced_uscc"],
        replacement=data["replacement"], reason=data.get("reason"), received_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row


async def mark_abandoned(session: AsyncSession, data: dict) -> None:
    """``sampling.draw.abandoned``: keep the draw (it was published) but never form teams from it."""
    _require(data, ("draw_id", "reason"), "draw.abandoned")
    row = await session.get(Draw, data["draw_id"])
    if row is not None and row.abandoned_at is None:
        row.abandoned_at, row.abandon_reason = utcnow(), data["reason"]
        await session.flush()


async def load_draw(session: AsyncSession, draw_id: str) -> tuple[Draw, dict] | None:
    row = await session.get(Draw, draw_id)
    return (row, json.loads(row.payload)) if row else None


async def inspector_draw_for(session: AsyncSession, enterprise_draw_id: str) -> Draw | None:
    q = select(Draw).where(Draw.kind == "inspector", Draw.enterprise_draw_id == enterprise_draw_id).order_by(Draw.received_at.desc(), Draw.draw_id)
    return (await session.execute(q)).scalars().first()


async def replacements_for(session: AsyncSession, draw_id: str, ids: list[int] | None = None) -> list[Replacement]:
    q = select(Replacement).where(Replacement.draw_id == draw_id)
    if ids is not None:
        q = q.where(Replacement.id.in_(ids or [-1]))
    return list((await session.execute(q.order_by(Replacement.id))).scalars())


def apply_replacements(enterprise_draw: dict, replacements: list[Replacement]) -> dict:
    """The enterprise draw with recorded replacements applied in the order they were recorded."""
    selected = list(enterprise_draw.get("selected") or [])
    for r in replacements:
        selected = [r.replacement if e["uscc"] == r.replaced_uscc else e for e in selected]
    return {**enterprise_draw, "selected": selected}


def assignment_input(enterprise_draw: dict, inspector_draw: dict, replacements: list[Replacement]) -> dict:
    """Everything the pure function reads, as one document whose digest the assignment keeps."""
    effective = apply_replacements(enterprise_draw, replacements)
    return {
        "enterprise_draw": {k: effective.get(k) for k in ("draw_id", "plan_id", "selected", "plan_settings")},
        "inspector_draw": {k: inspector_draw.get(k) for k in ("draw_id", "pools", "excluded")},
        "plan_settings": enterprise_draw.get("plan_settings") or {},
        "replacements": [{"id": r.id, "replaced_uscc": r.replaced_uscc, "uscc": r.replacement.get("uscc")} for r in replacements],
    }
