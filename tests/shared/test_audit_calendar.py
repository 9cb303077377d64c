"""Audit chain tamper detection and the working-day calendar."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from services.registry.models import kernel
from shared import audit
from shared.calendar import CalendarYearMissing, WorkCalendar, YearSchedule, add_workdays, workdays_between
from shared.db import Database
from shared.migrations import upgrade_async


async def test_audit_chain_detects_edit_delete_and_verifies_clean(databases):
    url = await databases.create("audit")
    await upgrade_async("services.registry", url)
    db = Database(url)
    for i in range(5):
        async with db.transaction() as s:
            await audit.append(s, kernel, actor="u1", action="enterprise.update", entity_type="enterprise",
                               entity_id=f"e{i}", before={"name": "甲"}, after={"name": f"乙{i}"})
    async with db.session() as s:
        report = await audit.verify(s, kernel)
        last = (await audit.list_entries(s, kernel))[-1]
    assert report.ok and report.entries == 5
    # the head (last seq and hash) is reported: whoever records it sees a later deletion of the newest entries,
    # which the chain itself cannot show (an outside audit deleted the last entry and the chain still verified)
    assert (report.head_seq, report.head_hash) == (5, last["hash"]) and report.as_dict()["head_hash"] == last["hash"]
    async with db.transaction() as s:
        raw = dict((await s.execute(kernel.audit.select().where(kernel.audit.c.seq == 5))).first()._mapping)
        await s.execute(kernel.audit.delete().where(kernel.audit.c.seq == 5))
    async with db.session() as s:
        cut = await audit.verify(s, kernel)
    assert cut.ok and (cut.entries, cut.head_seq) == (4, 4) and cut.head_hash != report.head_hash
    async with db.transaction() as s:
        await s.execute(kernel.audit.insert().values(**raw))  # put back for the rest of the test

    async with db.transaction() as s:
        await s.execute(update(kernel.audit).where(kernel.audit.c.seq == 3).values(actor="someone-else"))
    async with db.session() as s:
        report = await audit.verify(s, kernel)
    assert not report.ok and report.first_bad_seq == 3 and "篡改" in report.reason

    # a rolled-back change leaves no audit entry behind
    with pytest.raises(RuntimeError):
        async with db.transaction() as s:
            await audit.append(s, kernel, actor="u1", action="x", entity_type="t", entity_id="z")
            raise RuntimeError("fail after audit")
    async with db.session() as s:
        assert len(await audit.list_entries(s, kernel)) == 5
    await db.dispose()


def test_add_workdays_crosses_national_day_holiday():
    # 2022-09-30 (Fri) + 1 working day: 10-01..10-07 are holidays, 10-08/10-09 are make-up working days
    assert add_workdays(dt.date(2022, 9, 30), 1) == dt.date(2022, 10, 8)
    assert add_workdays(dt.date(2022, 11, 10), 20) == dt.date(2022, 12, 8)
    assert workdays_between(dt.date(2022, 11, 10), dt.date(2022, 12, 8)) == 20
    assert workdays_between(dt.date(2022, 12, 8), dt.date(2022, 11, 10)) == -20


def test_year_without_schedule_is_named_not_guessed():
    cal = WorkCalendar()
    with pytest.raises(CalendarYearMissing) as err:
        cal.add_workdays(dt.date(2026, 12, 20), 20)
    assert err.value.year == 2027 and "2027" in err.value.detail


def test_loaded_year_schedule_is_used():
    cal = WorkCalendar()
    cal.load(YearSchedule.from_dict({
        "year": 2027,
        "holidays": ["2027-01-01"],
        "makeup_workdays": ["2027-01-09"],
    }))
    assert not cal.is_workday(dt.date(2027, 1, 1))
    assert cal.is_workday(dt.date(2027, 1, 9))  # a Saturday worked
    assert cal.add_workdays(dt.date(2026, 12, 31), 1) == dt.date(2027, 1, 4)
    with pytest.raises(ValueError):
        YearSchedule.from_dict({"year": 2027, "holidays": ["2026-12-31"]})


def test_admin_imports_a_later_year_and_services_load_it(tmp_path, monkeypatch):
    import json

    from shared.calendar import _configured_calendar
    from shared.cli import main as spotcheck

    monkeypatch.setenv("SPOTCHECK_HOLIDAYS_DIR", str(tmp_path / "holidays"))
    good = tmp_path / "2027.json"
    good.write_text(json.dumps({"year": 2027, "holidays": ["2027-01-01"], "makeup_workdays": []}))
    assert spotcheck(["holidays", "import", str(good)]) == 0
    cal = _configured_calendar()  # what a service builds at start
    assert 2027 in cal.known_years() and not cal.is_workday(dt.date(2027, 1, 1))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"year": 2028, "holidays": ["2027-05-01"]}))
    assert spotcheck(["holidays", "import", str(bad)]) == 2  # a date outside its year is refused
    builtin = tmp_path / "2025.json"
    builtin.write_text(json.dumps({"year": 2025, "holidays": []}))
    assert spotcheck(["holidays", "import", str(builtin)]) == 2  # built-in years are not overwritten by accident
