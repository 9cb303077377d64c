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


class RegistryEnterpriseConsumer(RiskConsumer):
    name = "risk-registry-enterprise"
    subjects = ("registry.enterprise.>",)


class RegistryLicenceConsumer(RiskConsumer):
    name = "risk-registry-licence"
    subjects = ("registry.licence.>",)


class InspectionConsumer(RiskConsumer):
    name = "risk-inspection"
    subjects = ("inspection.record.*",)


class RectificationCaseConsumer(RiskConsumer):
    name = "risk-rectification-case"
    subjects = ("rectification.case.>",)


class RectificationOutcomeConsumer(RiskConsumer):
    name = "risk-rectification-outcome"
    subjects = ("rectification.outcome.decided",)


class DisclosureConsumer(RiskConsumer):
    name = "risk-disclosure"
    subjects = ("disclosure.result.>",)


class SchedulingConsumer(RiskConsumer):
    name = "risk-scheduling"
    subjects = ("scheduling.task.dispatched",)


# one subject per consumer (a single filter subject; see docs/architecture.md)
RegistryConsumer = RegistryEnterpriseConsumer
RectificationConsumer = RectificationCaseConsumer


def all_consumers() -> list[RiskConsumer]:
    return [RegistryEnterpriseConsumer(), RegistryLicenceConsumer(), InspectionConsumer(), RectificationCaseConsumer(),
            RectificationOutcomeConsumer(), DisclosureConsumer(), SchedulingConsumer()]
