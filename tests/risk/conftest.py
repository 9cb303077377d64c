from __future__ import annotations

import datetime as dt

import pytest

from services.risk.app import create_app
from shared.auth import TokenVerifier
from shared.events.envelope import make_event
from shared.migrations import upgrade_async
from shared.settings import settings_for

TODAY = dt.date(2026, 11, 30)


@pytest.fixture
async def make_risk(databases, nats_url, events_prefix, keys):
    async def make(url=None, **kw):
        if url is None:
            url = await databases.create("risk")
            await upgrade_async("services.risk", url)
        app = create_app(settings_for("risk", database_url=url, nats_url=nats_url, events_prefix=events_prefix),
                         verifier=TokenVerifier("spotcheck-gateway", "spotcheck", jwks=keys.jwks), batch_interval=None, **kw)
        app.state.ctx.extras["today"] = lambda: TODAY
        return app, url
    return make


def ev(service: str, entity: str, verb: str, data: dict) -> dict:
    return make_event(service, entity, verb, data)


def registered(uscc: str, region: str, *, national=False, category="cement", issued="2015-03-01", expiry="2030-03-01", name=None):
    return ev("registry", "enterprise", "registered", {
        "uscc": uscc, "name": name or f"企业{uscc[-4:]}", "region_code": region, "production_status": "在产",
        "flags": {"national_fail_5y": national, "provincial_fail_2021": False},
        "flag_details": {"national_fail_5y": {"source": "国抽", "date": "2024-05-01"} if national else None, "provincial_fail_2021": None},
        "licences": [{"id": f"L-{uscc}", "number": f"(晋)XK13-{uscc[-5:]}", "uscc": uscc, "category": category,
                      "issue_date": issued, "expiry_date": expiry, "status": "有效"}]})


def record(uscc: str, region: str, rid: str, on: str, items=(), category="cement", inspected=True):
    return ev("inspection", "record", "submitted", {
        "record_id": rid, "task_id": f"T-{rid}", "plan_id": "P1", "team_id": "TM", "uscc": uscc, "enterprise_name": f"企业{uscc[-4:]}",
        "site_id": "S1", "region_code": region, "city_code": region[:4] + "00", "county_code": region,
        "product_categories": [category], "completed_on": on, "inspected": inspected,
        "outcome": {"categories": ["problem_pending" if items else "no_problem"], "follow_up": "order_correction"},
        "findings": [{"no": i + 1, "item_code": code, "text": "不符合", "fixed_on_site": False} for i, code in enumerate(items)]})


def overdue(uscc: str, region: str, case_id: str, deadline: str):
    return ev("rectification", "case", "overdue", {"case_id": case_id, "uscc": uscc, "region_code": region,
                                                    "city_code": region[:4] + "00", "county_code": region, "deadline": deadline})
