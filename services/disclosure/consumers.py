"""Consumers: results from the inspection service's records, changes from rectification
(event-carried state, idempotent via the inbox). ``ctx`` is set by ``create_app``."""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.consumer import Consumer

from . import results


class _WithCtx(Consumer):
    ctx = None

    def calendar(self):
        return results.calendar(self.ctx) if self.ctx is not None else results.default_calendar


class RecordConsumer(_WithCtx):
    """``inspection.record.submitted``: a result per inspected site. (One subject per consumer:
    the kernel's multi-subject durable consumers were seen receiving the whole stream.)"""

    name = "disclosure-inspection-submitted"
    subjects = ("inspection.record.submitted",)

    async def handle(self, session: AsyncSession, event: dict[str, Any]) -> None:
        verb = event.get("type", "").rsplit(".", 1)[-1]
        data = event["data"]
        source = f"inspection record {verb}" + (f" v{data.get('version')}" if verb == "amended" else "")
        await results.ingest_record(session, self.calendar(), data, source, actor=f"event:{event['id']}")


class RecordAmendedConsumer(RecordConsumer):
    """``inspection.record.amended``: the result takes the new outcome (or needs a correction)."""

    name = "disclosure-inspection-amended"
    subjects = ("inspection.record.amended",)


class CaseClosedConsumer(_WithCtx):
    """``rectification.case.closed``: what the result should now say."""

    name = "disclosure-rectification-closed"
    subjects = ("rectification.case.closed",)

    async def handle(self, session: AsyncSession, event: dict[str, Any]) -> None:
        await results.take_case_closed(session, event["data"], actor=f"event:{event['id']}")
