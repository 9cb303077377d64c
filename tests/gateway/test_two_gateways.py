"""Two gateway replicas on one database (PostgreSQL when TEST_DATABASE_URL is set, else one
SQLite file): the login throttle is one budget for both, and a revoked login (deactivated user,
password reset) is refused by both."""
from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest
from sqlalchemy import select

from gateway.app import create_app
from gateway.models import LoginThrottleRow
from gateway.settings import gateway_settings
from shared.migrations import upgrade_async
from tests.helpers import eventually, running

from .conftest import DEMO_PASSWORD, auth_headers, token_for

PASSWORD = "Str0ng-passw0rd"


@pytest.fixture
async def two_gateways(databases, nats_url, events_prefix, keys):
    """``await two_gateways(**settings)`` → (first, second): two apps, one database, one event stream."""
    async with AsyncExitStack() as stack:

        async def make(**overrides):
            url = await databases.create("gateway")
            await upgrade_async("gateway", url)
            clients = []
            for _ in range(2):
                settings = gateway_settings(database_url=url, nats_url=nats_url, events_prefix=events_prefix, **overrides)
                app = create_app(settings, private_pem=keys.private_pem, seed=True)
                clients.append(await stack.enter_async_context(running(app)))
            return clients

        yield make


def _wrong(username: str) -> dict:
    return {"grant_type": "password", "username": username, "password": "wrong-password-1"}


async def test_failures_on_one_replica_count_on_the_other(two_gateways):
    a, b = await two_gateways(login_attempts_per_user=3, login_attempts_per_ip=100)
    assert (await a.post("/auth/token", data=_wrong("demo_datong"))).status_code == 400
    assert (await b.post("/auth/token", data=_wrong("demo_datong"))).status_code == 400
    assert (await a.post("/auth/token", data=_wrong("demo_datong"))).status_code == 400
    for client in (b, a):  # the third failure was on the first replica: the second refuses too
        r = await client.post("/auth/token", data={**_wrong("demo_datong"), "password": DEMO_PASSWORD})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    # a success on one replica clears the account's count for both
    await token_for(a, "demo_xiaodian")
    assert (await b.post("/auth/token", data=_wrong("demo_xiaodian"))).status_code == 400
    await token_for(b, "demo_xiaodian")


async def test_a_burst_over_both_replicas_gets_one_budget(two_gateways):
    a, b = await two_gateways(login_attempts_per_user=5, login_attempts_per_ip=1000)
    burst = await asyncio.gather(*(c.post("/auth/token", data=_wrong("demo_expert")) for c in [a, b] * 10))
    statuses = sorted(r.status_code for r in burst)
    assert statuses == [400] * 5 + [429] * 15  # 5 guesses in all, not 5 per replica (nor more in a race)


async def test_address_budget_is_shared_and_a_success_gives_its_attempt_back(two_gateways):
    a, b = await two_gateways(login_attempts_per_user=100, login_attempts_per_ip=4)
    for i in range(2):
        await token_for(a if i % 2 else b, "demo_discipline")  # successes leave the address's budget whole
    for i, client in enumerate([a, b, a]):
        assert (await client.post("/auth/token", data=_wrong(f"nobody{i}"))).status_code == 400
    await token_for(b, "demo_discipline")  # the fourth attempt, given back
    assert (await a.post("/auth/token", data=_wrong("nobody9"))).status_code == 400
    assert (await b.post("/auth/token", data=_wrong("nobody10"))).status_code == 429


async def test_expired_rows_are_purged(two_gateways):
    a, _ = await two_gateways(login_attempts_per_user=3, login_window_seconds=1)
    await a.post("/auth/token", data=_wrong("demo_datong"))
    app = a._transport.app
    db = app.state.ctx.db
    async with db.session() as s:
        assert len((await s.execute(select(LoginThrottleRow))).scalars().all()) == 2  # account and address
    throttle = app.state.tokens.throttle
    import datetime as dt

    later = throttle.clock() + dt.timedelta(seconds=2)
    throttle.clock = lambda: later
    assert await throttle.purge() == 2
    async with db.session() as s:
        assert (await s.execute(select(LoginThrottleRow))).scalars().all() == []


async def test_revocations_reach_both_replicas(two_gateways):
    a, b = await two_gateways()
    prov = await auth_headers(a, "demo_province")
    users = {}
    for name in ("ty_leaver", "ty_reset"):
        created = await a.post("/admin/users", headers=prov, json={"username": name, "display_name": f"测试{name}", "roles": ["city_admin"],
                                                                   "region_code": "140100", "password": PASSWORD})
        assert created.status_code == 201, created.text
        users[name] = created.json()
    leaver, resetter = await token_for(a, "ty_leaver", PASSWORD), await token_for(a, "ty_reset", PASSWORD)

    async def me(client, login) -> int:
        return (await client.get("/auth/me", headers={"Authorization": f"Bearer {login['access_token']}"})).status_code

    assert await me(b, leaver) == 200 and await me(b, resetter) == 200
    # deactivated on the first replica ...
    got = await a.get(f"/admin/users/{users['ty_leaver']['id']}", headers=prov)
    assert (await a.post(f"/admin/users/{got.json()['id']}/deactivate", headers={**prov, "If-Match": got.headers["etag"]})).status_code == 200
    # ... its password reset on the second
    got = await b.get(f"/admin/users/{users['ty_reset']['id']}", headers=prov)
    assert (await b.post(f"/admin/users/{got.json()['id']}/reset-password", headers={**prov, "If-Match": got.headers["etag"]}, json={})).status_code == 200

    async def refused_everywhere() -> bool:
        return all([await me(c, login) == 401 for c in (a, b) for login in (leaver, resetter)])

    await eventually(refused_everywhere, timeout=10)  # access tokens: the revocation event, followed by every replica
    for c in (a, b):  # refresh tokens: revoked rows in the shared database
        for login in (leaver, resetter):
            r = await c.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": login["refresh_token"]})
            assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert await me(b, {"access_token": (await token_for(b, "demo_province"))["access_token"]}) == 200  # others unaffected
