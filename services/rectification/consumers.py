"""Consumer of the inspection service's hand-over of the problem summary (event-carried state,
idempotent via the inbox and the unique summary id)."""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.consumer import Consumer

from .cases import open_from_event


class ProblemSummaryConsumer(Consumer):
    name = "rectification-problem-summary"
    subjects = ("inspection.problem_summary.handed_over",)

    def __init__(self):
        self.ctx = None  # the service context, set by create_app

    async def handle(self, session: AsyncSession, event: dict[str, Any]) -> None:
        await open_from_event(self.ctx, session, event["data"], event["id"])
