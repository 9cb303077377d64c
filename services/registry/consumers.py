"""Consumers of other services' events in the registry.

``rectification.outcome.decided`` (kinds revoke 撤销, revoke_penalty 吊销, cancel 注销): the licence
status changes once, its history row points at the rectification case and the outcome (in the
row's reason and actor, no schema change), and ``registry.licence.status_changed`` carries
``source = {"service": "rectification", "case_id", "outcome_id"}``. Exactly once: the inbox skips
a redelivered event, and the history row's id is derived from (outcome, licence), so a second event
about the same decision finds the row and changes nothing."""
from __future__ import annotations

import hashlib
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import utcnow
from shared.events.consumer import Consumer

from .licences import ALLOWED, licence_dict
from .models import Enterprise, Licence, LicenceStatusChange
from .recording import Recorder

log = logging.getLogger("spotcheck.registry.consumers")
STATUS_OF = {"revoke": "撤销", "revoke_penalty": "吊销", "cancel": "注销"}
KIND_LABEL = {"revoke": "撤销生产许可证", "revoke_penalty": "吊销生产许可证", "cancel": "注销生产许可证"}


def change_id(outcome_id: str, licence_id: str) -> str:
    return hashlib.sha256(f"rectification:{outcome_id}:{licence_id}".encode()).hexdigest()[:32]


class OutcomeDecidedConsumer(Consumer):
    name = "registry-rectification-outcome"
    subjects = ("rectification.outcome.decided",)

    def __init__(self, events_prefix: str = "spotcheck"):
        self.rec = Recorder(events_prefix)

    async def handle(self, session: AsyncSession, event: dict[str, Any]) -> None:
        data = event["data"]
        to = STATUS_OF.get(data.get("kind"))
        if to is None:  # 立案查处, 移送, 抄告: nothing changes in the registry
            return
        case_id, outcome_id, uscc = str(data["case_id"]), str(data["outcome_id"]), str(data["uscc"])
        actor = f"rectification:{data.get('decided_by') or 'unknown'}"[:100]
        for item in data.get("licences") or []:
            q = select(Licence).where(Licence.uscc == uscc)
            q = q.where(Licence.id == item["licence_id"]) if item.get("licence_id") else q.where(Licence.number == item.get("number"))
            lic = (await session.execute(q.with_for_update())).scalars().first()
            if lic is None:
                log.warning("outcome %s: licence %s of %s not in the registry", outcome_id, item, uscc)
                await self.rec.audit(session, actor, "licence.status_change_skipped", "licence", str(item.get("number")),
                                     detail={"reason": "licence not found", "case_id": case_id, "outcome_id": outcome_id})
                continue
            cid = change_id(outcome_id, lic.id)
            if await session.get(LicenceStatusChange, cid) is not None:
                continue  # this decision was applied already
            if to not in ALLOWED.get(lic.status, set()):
                await self.rec.audit(session, actor, "licence.status_change_skipped", "licence", lic.id,
                                     detail={"reason": f"status {lic.status} cannot become {to}", "case_id": case_id, "outcome_id": outcome_id})
                continue
            e = await session.get(Enterprise, uscc)
            before = licence_dict(lic)
            reason = f"整改案件 {case_id} 处理决定 {outcome_id}：{KIND_LABEL[data['kind']]}；依据：{data.get('legal_basis') or ''}"[:500]
            session.add(LicenceStatusChange(id=cid, licence_id=lic.id, from_status=lic.status, to_status=to, reason=reason, actor=actor))
            lic.status = to
            lic.version += 1
            lic.updated_at = utcnow()
            await session.flush()
            state = licence_dict(lic)
            source = {"service": "rectification", "case_id": case_id, "outcome_id": outcome_id}
            payload = {**state, "licence_id": lic.id, "from": before["status"], "to": to, "reason": reason, "source": source,
                       "enterprise_name": e.name if e else None, "region_code": e.region_code if e else None}
            await self.rec.emit(session, "licence", "status_changed", payload, subject_id=lic.id, actor=actor)
            await self.rec.audit(session, actor, "licence.status_change", "licence", lic.id, before=before, after=state,
                                 detail={"from": before["status"], "to": to, "source": source, "event_id": event.get("id")})
