"""Rectification deadlines on the shared working-day calendar.

- ``working_days``: the n-th working day after the hand-over day (statutory holidays and 调休 make-up
  days from ``shared.calendar``).
- ``days`` (calendar days): hand-over day + n; when that last day is not a working day the period
  ends on the next working day (the usual rule for periods: 期间届满的最后一日是法定节假日的，以节假日后的第一日为期间届满的日期).
- The reminder goes out ``REMIND_WORKDAYS`` working days before the deadline.

A year whose holiday schedule is not loaded is never guessed: ``compute`` answers the reason
instead of a date, the case keeps it on the record, and the sweep tries again once an admin has
imported the year (``spotcheck holidays import``)."""
from __future__ import annotations

import datetime as dt

from shared.calendar import CalendarYearMissing, WorkCalendar, default_calendar

REMIND_WORKDAYS = 3


def calendar_of(ctx) -> WorkCalendar:
    return ctx.extras.get("calendar") or default_calendar


def deadline_for(cal: WorkCalendar, handed_over_on: dt.date, value: int, unit: str) -> dt.date:
    if unit == "working_days":
        return cal.add_workdays(handed_over_on, value)
    day = handed_over_on + dt.timedelta(days=value)
    while not cal.is_workday(day):
        day += dt.timedelta(days=1)
    return day


def remind_on_for(cal: WorkCalendar, handed_over_on: dt.date, deadline: dt.date) -> dt.date:
    day, left = deadline, REMIND_WORKDAYS
    while left > 0 and day > handed_over_on:
        day -= dt.timedelta(days=1)
        if cal.is_workday(day):
            left -= 1
    return max(day, handed_over_on)


def compute(cal: WorkCalendar, handed_over_on: dt.date, value: int, unit: str) -> tuple[dt.date | None, dt.date | None, str | None]:
    """(deadline, remind_on, problem) — problem names the missing calendar year."""
    try:
        deadline = deadline_for(cal, handed_over_on, value, unit)
        return deadline, remind_on_for(cal, handed_over_on, deadline), None
    except CalendarYearMissing as exc:
        return None, None, exc.detail
