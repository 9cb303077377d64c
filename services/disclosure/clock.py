"""The clock of the webhook retry schedule. Real time in production; a faster one when the
``webhook_clock_rate`` setting says so (the fault suite lets an hour of receiver outage pass in
seconds against the real schedule: 5 s, 5 min, 30 min, 2 h …). Claims and leases stay on real
time: they are about processes being alive, not about the schedule."""
from __future__ import annotations

import datetime as dt
import time

from shared.db import utcnow


class Clock:
    def __init__(self, rate: float = 1.0):
        if rate <= 0:
            raise ValueError("clock rate must be positive")
        self.rate = rate
        self._start = utcnow()
        self._mono = time.monotonic()

    def now(self) -> dt.datetime:
        if self.rate == 1.0:
            return utcnow()
        return self._start + dt.timedelta(seconds=(time.monotonic() - self._mono) * self.rate)
