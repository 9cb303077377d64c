"""Timers that must run once per cluster, not once per replica: every replica runs them, only the
leader (``shared.leader``: a PostgreSQL advisory lock; on SQLite the only process) does the work."""
from __future__ import annotations

from shared.leader import LeaderTimer

from . import results


class DeadlineTimer(LeaderTimer):
    """Flags overdue results (``disclosure.result.overdue``) and fills in due dates of newly
    loaded years, every ``timer_interval_seconds``, on the replica leading ``disclosure.deadline-timer``."""

    leadership = "disclosure.deadline-timer"

    def __init__(self, ctx):
        interval = ctx.settings.timer_interval_seconds
        super().__init__(ctx.db, self.leadership, lambda: results.flag_overdue(ctx), interval, first_delay=interval)
        self.ctx = ctx
