"""Consumers of the sampling service's draw events (event-carried state, idempotent via the inbox)."""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.consumer import Consumer

from .draws import store_draw, store_replacement


class DrawCommittedConsumer(Consumer):
    name = "scheduling-draw-committed"
    subjects = ("sampling.draw.committed",)

    async def handle(self, session: AsyncSession, event: dict[str, Any]) -> None:
        await store_draw(session, event["data"], event["id"])


class ReplacementRecordedConsumer(Consumer):
    name = "scheduling-draw-replacement"
    subjects = ("sampling.draw.replacement_recorded",)

    async def handle(self, session: AsyncSession, event: dict[str, Any]) -> None:
        await store_replacement(session, event["data"], event["id"])
