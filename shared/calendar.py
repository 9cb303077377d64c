"""Chinese working-day calendar: statutory holidays and make-up working days (调休).

Years 2004-2026 come from ``chinese-calendar``. Later years must be loaded as data (the State
Council publishes each year's schedule late in the year before); a date in a year with no
schedule raises ``CalendarYearMissing`` naming the year instead of guessing.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import chinese_calendar

from .errors import Problem

BUILTIN_FIRST, BUILTIN_LAST = 2004, 2026


class CalendarYearMissing(Problem):
    def __init__(self, year: int):
        self.year = year
        super().__init__(
            422,
            "calendar-year-missing",
            "缺少节假日安排数据",
            detail=f"{year} 年的法定节假日与调休安排尚未载入，无法计算工作日；请管理员先导入 {year} 年的安排。",
            year=year,
        )


@dataclass
class YearSchedule:
    year: int
    holidays: set[dt.date] = field(default_factory=set)  # weekdays that are days off
    makeup_workdays: set[dt.date] = field(default_factory=set)  # weekend days that are worked

    def is_workday(self, day: dt.date) -> bool:
        if day in self.makeup_workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    @classmethod
    def from_dict(cls, data: dict) -> YearSchedule:
        year = int(data["year"])
        hol = {dt.date.fromisoformat(d) for d in data.get("holidays", [])}
        mk = {dt.date.fromisoformat(d) for d in data.get("makeup_workdays", [])}
        for d in hol | mk:
            if d.year != year:
                raise ValueError(f"日期 {d} 不属于 {year} 年")
        if hol & mk:
            raise ValueError("同一天不能既是节假日又是调休工作日")
        return cls(year, hol, mk)

    def to_dict(self) -> dict:
        return {
            "year": self.year,
            "holidays": sorted(d.isoformat() for d in self.holidays),
            "makeup_workdays": sorted(d.isoformat() for d in self.makeup_workdays),
        }


class WorkCalendar:
    def __init__(self, extra: list[YearSchedule] | None = None):
        self._extra: dict[int, YearSchedule] = {}
        for s in extra or []:
            self.load(s)

    def load(self, schedule: YearSchedule) -> None:
        self._extra[schedule.year] = schedule

    def load_file(self, path: str | Path) -> None:
        self.load(YearSchedule.from_dict(json.loads(Path(path).read_text(encoding="utf-8"))))

    def known_years(self) -> list[int]:
        return sorted(set(range(BUILTIN_FIRST, BUILTIN_LAST + 1)) | set(self._extra))

    def is_workday(self, day: dt.date) -> bool:
        if day.year in self._extra:
            return self._extra[day.year].is_workday(day)
        if BUILTIN_FIRST <= day.year <= BUILTIN_LAST:
            return chinese_calendar.is_workday(day)
        raise CalendarYearMissing(day.year)

    def add_workdays(self, start: dt.date, n: int) -> dt.date:
        """The n-th working day after ``start`` (``start`` itself not counted); n >= 0."""
        if n < 0:
            raise ValueError("n must be >= 0")
        day = start
        while n > 0:
            day += dt.timedelta(days=1)
            if self.is_workday(day):
                n -= 1
        return day

    def workdays_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in (start, end]; negative when end < start."""
        if end < start:
            return -self.workdays_between(end, start)
        count, day = 0, start
        while day < end:
            day += dt.timedelta(days=1)
            if self.is_workday(day):
                count += 1
        return count

    def workdays_in(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """Working days in [start, end]."""
        out, day = [], start
        while day <= end:
            if self.is_workday(day):
                out.append(day)
            day += dt.timedelta(days=1)
        return out


def holidays_dir() -> Path:
    """Where admins keep the schedules of years chinese-calendar does not know
    (``SPOTCHECK_HOLIDAYS_DIR``, default ``var/holidays``), one ``<year>.json`` per year."""
    import os

    env = os.environ.get("SPOTCHECK_HOLIDAYS_DIR")
    return Path(env) if env else Path(os.environ.get("SPOTCHECK_VAR_DIR", "var")).resolve() / "holidays"


def load_dir(calendar: WorkCalendar, directory: Path) -> list[int]:
    """Load every ``*.json`` schedule in ``directory``; returns the years loaded."""
    years = []
    if directory.is_dir():
        for f in sorted(directory.glob("*.json")):
            calendar.load_file(f)
            years.append(int(json.loads(f.read_text(encoding="utf-8"))["year"]))
    return years


def _configured_calendar() -> WorkCalendar:
    cal = WorkCalendar()
    try:
        load_dir(cal, holidays_dir())
    except (OSError, ValueError, KeyError) as exc:  # a broken file must not stop a service; say so
        import logging

        logging.getLogger("spotcheck.calendar").error("节假日安排文件无法载入：%s", exc)
    return cal


default_calendar = _configured_calendar()


def add_workdays(start: dt.date, n: int) -> dt.date:
    return default_calendar.add_workdays(start, n)


def workdays_between(start: dt.date, end: dt.date) -> int:
    return default_calendar.workdays_between(start, end)
