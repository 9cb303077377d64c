"""Issue 7 points 11 and 13 (and the audit part of point 1): forged cursors, huge integers and
lax dates answer 400/422 problems on every list, never 500; audit trails are province-only;
a city discipline account sees its own region in scheduling."""
from __future__ import annotations

import base64
import json

import pytest

from services.registry.app import create_app as registry_app
from services.sampling.app import create_app as sampling_app
from services.sampling.population import StaticPopulation
from services.scheduling.app import create_app as scheduling_app
from services.scheduling.consumers import DrawCommittedConsumer
from shared.auth import TokenVerifier
from shared.migrations import upgrade_async
from shared.settings import settings_for
from tests.helpers import running
from tests.sampling import population
from tests.scheduling.factory import SETTINGS, committed, enterprise, enterprise_draw, generous_pools, inspector_draw
from tests.scheduling.test_api import SELECTED, feed


def b64(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


FORGED = [
    "W251bGxd",  # [null]
    b64([[1, [2]]]),  # nested lists
    b64([2**64]),  # beyond 64 bits
    b64([-(2**70)]),
    b64([1]),  # a number where the key is text
    b64({"a": 1}),
    b64([]),
    b64([True]),
    b64(["x" * 5000]),
    "!!!not-base64!!!",
    "A" * 5000,
]


def verifier(keys):
    return TokenVerifier("spotcheck-gateway", "spotcheck", jwks=keys.jwks)


def assert_problem(resp, statuses=(400, 422)):
    assert resp.status_code in statuses, (resp.request.url, resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith("application/problem+json")


async def _forge_all(client, paths, headers):
    for path in paths:
        for cursor in FORGED:
            assert_problem(await client.get(path, params={"cursor": cursor}, headers=headers))


async def _audit_and_parked(client, keys):
    prov = keys.headers(sub="prov", roles=("province_admin",), region="140000")
    for after in ("9223372036854775808", "2147483648", str(10**30), "-1", "abc"):
        assert_problem(await client.get("/audit", params={"after": after}, headers=prov))
    assert (await client.get("/audit", params={"after": "2147483647"}, headers=prov)).status_code == 200
    for pid in ("9223372036854775808", "2147483648", str(10**40), "0"):
        assert_problem(await client.post(f"/admin/parked/{pid}/replay", headers=prov))
    # the audit trail covers the whole province: a city discipline account may not read it
    city_disc = keys.headers(sub="ty-disc", roles=("discipline",), region="140100")
    for path in ("/audit", "/audit/verify"):
        r = await client.get(path, headers=city_disc)
        assert r.status_code == 403 and r.json()["type"].endswith("out-of-jurisdiction")
    prov_disc = keys.headers(sub="disc", roles=("discipline",), region="140000")
    assert (await client.get("/audit", headers=prov_disc)).status_code == 200


async def test_registry_and_sampling_refuse_forged_cursors(databases, nats_url, events_prefix, keys):
    prov = keys.headers(sub="prov", roles=("province_admin",), region="140000")
    url = await databases.create("registry")
    await upgrade_async("services.registry", url)
    app = registry_app(settings_for("registry", database_url=url, nats_url=nats_url, events_prefix=events_prefix), verifier=verifier(keys))
    async with running(app) as c:
        await _forge_all(c, ["/enterprises", "/inspectors", "/experts", "/conflicts", "/population/enterprises", "/population/people"], prov)
        await _audit_and_parked(c, keys)
    url = await databases.create("sampling")
    await upgrade_async("services.sampling", url)
    app = sampling_app(settings_for("sampling", database_url=url, nats_url=nats_url, events_prefix=events_prefix),
                       population_source=StaticPopulation(population.enterprises(10), population.people()), verifier=verifier(keys))
    async with running(app) as c:
        await _forge_all(c, ["/plans", "/draws"], prov)
        await _audit_and_parked(c, keys)


@pytest.fixture
async def scheduling(databases, keys, nats_url, events_prefix):
    url = await databases.create("scheduling")
    await upgrade_async("services.scheduling", url)
    app = scheduling_app(settings_for("scheduling", database_url=url, nats_url=nats_url, events_prefix=events_prefix), verifier=verifier(keys))
    async with running(app) as client:
        yield app, client


async def _formed(app, client, keys):
    import datetime as dt

    app.state.ctx.extras["today"] = lambda: dt.date(2022, 6, 1)  # dispatched before the window opens
    selected = SELECTED + [enterprise(7, "140200", "140202", ["cement"])]
    ent = enterprise_draw("ent-1", "plan-1", selected, dict(SETTINGS, load_per_team=2))
    insp = inspector_draw("insp-1", "plan-1", "ent-1", generous_pools(), settings=dict(SETTINGS, load_per_team=2))
    assert await feed(app, committed(ent), DrawCommittedConsumer())
    assert await feed(app, committed(insp), DrawCommittedConsumer())
    prov = keys.headers(sub="prov", roles=("province_admin",), region="140000")
    r = await client.post("/plans/plan-1/assignments", json={"enterprise_draw_id": "ent-1", "inspector_draw_id": "insp-1"}, headers=prov)
    assert r.status_code == 201, r.text
    return prov


async def _all(client, path, headers) -> list[dict]:
    items, cursor = [], None
    while True:
        r = await client.get(path, params={"limit": 500, **({"cursor": cursor} if cursor else {})}, headers=headers)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return items


async def test_scheduling_scopes_discipline_and_validates_input(scheduling, keys):
    app, c = scheduling
    prov = await _formed(app, c, keys)
    all_tasks = await _all(c, "/tasks", prov)
    assert {t["region_code"][:4] for t in all_tasks} >= {"1401", "1410", "1402"}

    # a city discipline group (纪检) reads its own city's tasks, visits and teams, nothing else
    ty_disc = keys.headers(sub="ty-disc", roles=("discipline",), region="140100")
    tasks = await _all(c, "/tasks", ty_disc)
    assert tasks and {t["region_code"][:4] for t in tasks} == {"1401"}
    visits = await _all(c, "/visits", ty_disc)
    assert visits and {v["region_code"][:4] for v in visits} == {"1401"}
    teams = await _all(c, "/teams", ty_disc)
    assert teams and len(teams) < len(await _all(c, "/teams", prov))
    foreign = next(t for t in all_tasks if not t["region_code"].startswith("1401"))
    assert (await c.get(f"/tasks/{foreign['id']}", headers=ty_disc)).status_code == 404
    assert (await c.get("/assignments", headers=ty_disc)).status_code == 403
    # the province's discipline group sees everything, read-only
    prov_disc = keys.headers(sub="disc", roles=("discipline",), region="140000")
    assert len(await _all(c, "/tasks", prov_disc)) == len(all_tasks)
    assert (await c.get("/assignments", headers=prov_disc)).status_code == 200

    # documented dates are YYYY-MM-DD, not Unix timestamps
    for bad in ("0", "1700000000", "2022-13-01", "2022-06-10T00:00:00"):
        r = await c.get("/visits", params={"date_to": bad}, headers=prov)
        assert_problem(r, (422,))
        assert r.json()["errors"][0]["field"] == "date_to"
    assert (await c.get("/visits", params={"date_from": "2022-06-10", "date_to": "2022-11-10"}, headers=prov)).status_code == 200

    await _forge_all(c, ["/tasks", "/teams", "/visits", "/assignments"], prov)
    await _audit_and_parked(c, keys)
