"""Consumers of the sampling service's draw events (event-carried state, idempotent via the inbox)."""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.consumer import Consumer

from .amendments import apply_replacement, void_for_abandoned_draw
from .draws import mark_abandoned, store_draw, store_replacement


class DrawCommittedConsumer(Consumer):
    name = "scheduling-draw-committed"
    subjects = ("sampling.draw.committed",)

    async def handle(self, session: AsyncSession, event: dict[str, Any]) -> None:
        await store_draw(session, event["data"], event["id"])


class ReplacementRecordedConsumer(Consumer):
    """Keeps the replacement; when the teams are already formed, applies it as an amendment
    (cancel the replaced enterprise's tasks, dispatch the replacement's) in the same transaction.
    ``ctx`` (the service context, for events and audit) is set by ``create_app``."""

    name = "scheduling-draw-replacement"
    subjects = ("sampling.draw.replacement_recorded",)
    ctx = None

    async def handle(self, session: AsyncSession, event: dict[str, Any]) -> None:
        row = await store_replacement(session, event["data"], event["id"])
        if self.ctx is not None:
            await apply_replacement(self.ctx, session, row, f"sampling:{event.get('actor') or event['data'].get('recorded_by') or 'replacement'}")


class DrawAbandonedConsumer(Consumer):
    """Marks the draw abandoned; a formation built on it has its open tasks cancelled (``ctx`` set by create_app)."""

    name = "scheduling-draw-abandoned"
    subjects = ("sampling.draw.abandoned",)
    ctx = None

    async def handle(self, session: AsyncSession, event: dict[str, Any]) -> None:
        await mark_abandoned(session, event["data"])
        if self.ctx is not None:
            await void_for_abandoned_draw(self.ctx, session, event["data"]["draw_id"], event["data"]["reason"],
                                          f"sampling:{event['data'].get('abandoned_by') or 'abandon'}")
