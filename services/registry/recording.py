"""Events and audit entries for code that runs outside a request (CLI import, demo loader).

``Recorder`` has the same ``emit``/``audit`` signatures as ``shared.service.ServiceContext``, so
domain functions take either and always write the change, its event and its audit entry in the
caller's one transaction."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared import audit as audit_chain
from shared.auth import Principal
from shared.events.outbox import emit as outbox_emit

from .models import kernel

SERVICE = "registry"


@dataclass
class Recorder:
    events_prefix: str = "spotcheck"

    async def emit(self, session: AsyncSession, entity: str, verb: str, data: dict, *, subject_id: str | None = None, request_id: str | None = None, actor: str | None = None) -> dict:
        return await outbox_emit(session, kernel, SERVICE, entity, verb, data, prefix=self.events_prefix, subject_id=subject_id, request_id=request_id, actor=actor)

    async def audit(self, session: AsyncSession, principal: Principal | str, action: str, entity_type: str, entity_id: str, *, before: Any = None, after: Any = None, detail: dict | None = None, request_id: str | None = None) -> dict:
        actor = principal if isinstance(principal, str) else principal.sub
        return await audit_chain.append(
            session, kernel, actor=actor, action=action, entity_type=entity_type, entity_id=entity_id,
            before=before, after=after, detail=detail, request_id=request_id,
        )
