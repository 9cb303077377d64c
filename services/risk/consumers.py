"""Consumers: every event that feeds an indicator, an alert or the ledger. Each event is turned
into facts (``facts.interpret``), stored, and the enterprise's indicators, class and alerts are
recomputed — all in the consumer's transaction with its inbox row (idempotent)."""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.consumer import Consumer

from . import engine, facts


class RiskConsumer(Consumer):
    ctx = None  # the service context, set by create_app

    async def handle(self, session: AsyncSession, event: dict[str, Any]) -> None:
        fx = facts.interpret(event)
        await facts.apply(session, fx, event.get("id", ""))
        et = facts.event_type(event)
        if et == "registry.enterprise.imported" or self.ctx is None:
            return  # stubs only; the monthly batch classifies them
        cluster = event.get("data") if et.startswith("inspection.record.") else None
        await engine.refresh(session, self.ctx, fx.uscc, cause=et, event_data=cluster)


class RegistryConsumer(RiskConsumer):
    name = "risk-registry"
    subjects = ("registry.enterprise.>", "registry.licence.>")


class InspectionConsumer(RiskConsumer):
    name = "risk-inspection"
    subjects = ("inspection.record.submitted", "inspection.record.amended")


class RectificationConsumer(RiskConsumer):
    name = "risk-rectification"
    subjects = ("rectification.case.>", "rectification.outcome.decided")


class DisclosureConsumer(RiskConsumer):
    name = "risk-disclosure"
    subjects = ("disclosure.result.>",)


class SchedulingConsumer(RiskConsumer):
    name = "risk-scheduling"
    subjects = ("scheduling.task.dispatched",)


def all_consumers() -> list[RiskConsumer]:
    return [RegistryConsumer(), InspectionConsumer(), RectificationConsumer(), DisclosureConsumer(), SchedulingConsumer()]
