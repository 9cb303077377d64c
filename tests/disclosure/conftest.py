"""Fixtures of the disclosure tests: the service on a fresh database (migrations), events fed
through the consumer code path (or published to NATS), tokens, and a fixed 'today'."""
from __future__ import annotations

import datetime as dt
import itertools
import secrets

import pytest

from services.disclosure.app import create_app
from services.disclosure.consumers import CaseClosedConsumer, RecordConsumer
from services.disclosure.settings import disclosure_settings
from shared.auth import TokenVerifier
from shared.db import new_id
from shared.events.consumer import process
from shared.migrations import upgrade_async

_n = itertools.count(1)

COUNTY = dict(sub="xiaodian-1", roles=["county_admin"], region="140105")
COUNTY2 = dict(sub="xiaodian-2", roles=["county_admin"], region="140105")
CITY = dict(sub="taiyuan-1", roles=["city_admin"], region="140100")
OTHER_CITY = dict(sub="datong-1", roles=["city_admin"], region="140200")
PROVINCE = dict(sub="prov-1", roles=["province_admin"], region="140000")
DISCIPLINE = dict(sub="jiwei-1", roles=["discipline"], region="140000")
CREDIT = dict(sub="client:credit", roles=["credit_system"], region="140000")
FAST_RETRIES = "0,0.2,0.4,0.6,0.8,1,1,1,1,1"


def settings(url, nats_url, events_prefix, **kw):
    base = dict(database_url=url, nats_url=nats_url, events_prefix=events_prefix, webhook_allow_hosts="127.0.0.1",
                webhook_retry_schedule=FAST_RETRIES, webhook_poll_seconds=0.1, timer_interval_seconds=3600,
                webhook_timeout_seconds=30)
    base.update(kw)
    return disclosure_settings(**base)


def make_app(url, keys, nats_url, events_prefix, *, today=None, calendar=None, **kw):
    app = create_app(settings(url, nats_url, events_prefix, **kw), verifier=TokenVerifier("spotcheck-gateway", "spotcheck", jwks=keys.jwks))
    if today is not None:
        app.state.ctx.extras["today"] = lambda: today
    if calendar is not None:
        app.state.ctx.extras["calendar"] = calendar
    return app


@pytest.fixture
async def db_url(databases):
    url = await databases.create("disclosure")
    await upgrade_async("services.disclosure", url)
    return url


def record_event(*, verb="submitted", uscc=None, name=None, region="140105", completed_on="2024-09-27", categories=("no_problem",),
                 follow_up="none_needed", record_id=None, plan_id="plan-2024", version=None, **extra) -> dict:
    n = next(_n)
    data = {
        "record_id": record_id or f"rec-{n}-{secrets.token_hex(3)}", "task_id": f"task-{n}", "plan_id": plan_id,
        "plan_name": "2024年工业产品生产许可证获证企业“双随机、一公开”监督检查", "team_id": "team-1",
        "uscc": uscc or f"91140100MA0{n:06d}X"[:18], "enterprise_name": name or f"山西测试企业{n}有限公司", "site_id": f"site-{n}",
        "site_address": "太原市小店区某路1号", "region_code": region, "city_code": region[:4] + "00",
        "county_code": region if not region.endswith("00") else None,
        "bureau": {"region_code": region, "name": "小店区市场监督管理局" if region == "140105" else f"{region}市场监督管理局"},
        "product_categories": ["cement"], "completed_on": completed_on, "inspected": True,
        "outcome": {"categories": list(categories), "follow_up": follow_up},
        "findings": [{"no": 1, "item_code": "1.1", "text": "检查员张三发现问题", "fixed_on_site": True}], "content_hash": "0" * 64,
    }
    if verb == "amended":
        data.update(amendment_id=f"am-{n}", reason="更正", version=version or 2)
    data.update(extra)
    return {"specversion": "1.0", "id": new_id(), "source": "/spotcheck/inspection", "type": f"spotcheck.inspection.record.{verb}",
            "time": dt.datetime.now(dt.UTC).isoformat(), "data": data}


def case_closed_event(record_id: str, categories=("problem_corrected",), follow_up="order_correction") -> dict:
    return {"specversion": "1.0", "id": new_id(), "source": "/spotcheck/rectification", "type": "spotcheck.rectification.case.closed",
            "time": dt.datetime.now(dt.UTC).isoformat(),
            "data": {"case_id": "case-" + secrets.token_hex(3), "record_id": record_id, "task_id": "t", "uscc": "x", "region_code": "140105",
                     "closed_on": "2024-10-20", "resolution": "passed", "disclosure": {"categories": list(categories), "follow_up": follow_up}}}


async def feed(app, event: dict) -> bool:
    ctx = app.state.ctx
    consumer = CaseClosedConsumer() if "rectification" in event["type"] else RecordConsumer()
    consumer.ctx = ctx
    return await process(ctx.db, ctx.kernel, consumer, event, event["type"])


async def result_for(client, keys, record_id: str) -> dict:
    r = await client.get("/results", headers=keys.headers(**PROVINCE), params={"limit": 500})
    for item in r.json()["items"]:
        if item["record_id"] == record_id:
            return item
    raise AssertionError(f"no result for {record_id}")


async def publish(client, keys, app, **event_kw) -> dict:
    """A result through the whole path: event → entry by one county official → review by another."""
    ev = record_event(**event_kw)
    assert await feed(app, ev)
    res = await result_for(client, keys, ev["data"]["record_id"])
    r = await client.put(f"/results/{res['id']}/entry", headers={**keys.headers(**COUNTY), "If-Match": f'"v{res["version"]}"'},
                         json={"categories": ev["data"]["outcome"]["categories"], "follow_up": ev["data"]["outcome"]["follow_up"]})
    assert r.status_code == 200, r.text
    r = await client.post(f"/results/{res['id']}/review", headers={**keys.headers(**COUNTY2), "If-Match": r.headers["etag"]},
                          json={"decision": "approve"})
    assert r.status_code == 200, r.text
    return r.json()
