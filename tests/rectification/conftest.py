"""A rectification app on a fresh database with an injectable clock, and the inspection's
``inspection.problem_summary.handed_over`` event built exactly per docs/events.md."""
from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
from sqlalchemy import select

from services.rectification.app import create_app, rectification_settings
from services.rectification.models import kernel
from shared.auth import TokenVerifier
from shared.calendar import WorkCalendar
from shared.events.consumer import process
from shared.events.envelope import make_event
from shared.migrations import upgrade_async
from tests.helpers import AUDIENCE, ISSUER, eventually, running

_n = itertools.count(1)
CHINA = dt.timezone(dt.timedelta(hours=8))
USCC_A = "91140105MA0K000001"
USCC_B = "91140106MA0K000002"
USCC_C = "91141002MA0K000003"
USCC_D = "91141002MA0K000004"


class Clock:
    """A settable clock: ``clock.on(date)`` moves it to 10:00 China time of that day."""

    def __init__(self, day: dt.date):
        self.on(day)

    def on(self, day: dt.date) -> None:
        self.value = dt.datetime.combine(day, dt.time(10, 0), CHINA)

    def __call__(self) -> dt.datetime:
        return self.value


def handed_over(uscc=USCC_A, county="140105", *, on=dt.date(2024, 9, 27), period=(10, "working_days"), problems=None,
                licences=None, name="山西测试水泥有限公司", summary_id=None) -> dict:
    """The data of ``inspection.problem_summary.handed_over`` (docs/events.md)."""
    n = next(_n)
    city = county[:4] + "00"
    return {
        "summary_id": summary_id or f"sum-{n}", "record_id": f"rec-{n}", "task_id": f"task-{n}", "plan_id": "plan-2024",
        "uscc": uscc, "enterprise_name": name, "site_id": f"site-{n}", "site_address": "山西省测试路1号",
        "region_code": county, "city_code": city, "county_code": county,
        "licences": licences if licences is not None else [{"number": f"(晋)XK13-001-{n:05d}", "category": "cement", "valid_until": "2027-03-01"}],
        "problems": problems if problems is not None else [
            {"no": 1, "item_code": "2.1", "text": "原材料进货查验记录不全", "fixed_on_site": False, "evidence": ["a" * 64]},
            {"no": 2, "item_code": "5.3", "text": "出厂检验记录缺少签字", "fixed_on_site": True, "evidence": ["b" * 64]},
            {"no": 3, "item_code": "7.1", "text": "计量器具未按期检定", "fixed_on_site": False, "evidence": []},
        ],
        "period": {"value": period[0], "unit": period[1]},
        "handed_over_at": dt.datetime.combine(on, dt.time(16, 0), CHINA).isoformat(), "handed_over_on": on.isoformat(),
    }


def event_of(data: dict) -> dict:
    return make_event("inspection", "problem_summary", "handed_over", data, subject_id=data["summary_id"])


class Svc:
    def __init__(self, app, client, keys, clock):
        self.app, self.client, self.keys, self.clock = app, client, keys, clock
        self.ctx = app.state.ctx

    async def feed(self, data: dict, event: dict | None = None) -> bool:
        ev = event or event_of(data)
        return await process(self.ctx.db, self.ctx.kernel, self.consumer, ev,
                             "spotcheck.inspection.problem_summary.handed_over")

    @property
    def consumer(self):
        return self.ctx.runner.consumers["rectification-problem-summary"]

    async def open_case(self, **kw) -> dict:
        data = handed_over(**kw)
        assert await self.feed(data)
        return await self.case_by_summary(data["summary_id"])

    async def case_by_summary(self, summary_id: str) -> dict:
        from services.rectification.models import Case

        async with self.ctx.db.session() as s:
            c = (await s.execute(select(Case).where(Case.summary_id == summary_id))).scalars().one()
        r = await self.client.get(f"/cases/{c.id}", headers=self.province())
        assert r.status_code == 200, r.text
        return r.json()

    async def events(self, subject_suffix: str) -> list[dict]:
        async with self.ctx.db.session() as s:
            rows = (await s.execute(select(kernel.outbox.c.payload).where(kernel.outbox.c.subject.endswith(subject_suffix))
                                    .order_by(kernel.outbox.c.seq))).scalars().all()
        return [json.loads(p) for p in rows]

    async def sweep(self) -> dict | None:
        return await self.ctx.extras["sweeper"].run_once()

    # identities
    def h(self, sub, roles, region, **kw) -> dict:
        return self.keys.headers(sub=sub, roles=roles, region=region, **kw)

    def province(self, sub="prov-1") -> dict:
        return self.h(sub, ["province_admin"], "140000", name=f"省局{sub}")

    def city(self, region="140100", sub=None) -> dict:
        return self.h(sub or f"city-{region}", ["city_admin"], region, name="市局")

    def county(self, region="140105", sub=None) -> dict:
        return self.h(sub or f"county-{region}", ["county_admin"], region, name="县局")

    def enterprise(self, uscc=USCC_A, region="140105") -> dict:
        return self.h(f"enterprise:{uscc}", ["enterprise"], region, uscc=uscc)


async def make_app(url, keys, clock, nats_url, events_prefix, tmp_path, calendar=None, **settings):
    return create_app(
        rectification_settings(database_url=url, nats_url=nats_url, events_prefix=events_prefix, relay_interval_seconds=0.2,
                               evidence_dir=str(tmp_path / "evidence"), **{"sweep_interval_seconds": 3600, **settings}),
        clock=clock, calendar=calendar, verifier=TokenVerifier(ISSUER, AUDIENCE, jwks=keys.jwks),
    )


@pytest.fixture
async def rect_url(databases):
    url = await databases.create("rectification")
    await upgrade_async("services.rectification", url)
    return url


@pytest.fixture
async def svc(rect_url, keys, nats_url, events_prefix, tmp_path):
    clock = Clock(dt.date(2024, 9, 27))
    app = await make_app(rect_url, keys, clock, nats_url, events_prefix, tmp_path, calendar=WorkCalendar())
    async with running(app) as client:
        await eventually(lambda: _swept(app))  # the start-up sweep has run: tests move the clock themselves
        yield Svc(app, client, keys, clock)


async def _swept(app) -> bool:
    return app.state.ctx.extras["sweeper"].runs >= 1
