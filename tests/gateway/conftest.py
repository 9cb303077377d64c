"""Gateway test fixtures: a migrated gateway database and the app running in-process."""
from __future__ import annotations

from contextlib import AsyncExitStack
from types import SimpleNamespace

import pytest

from gateway.app import create_app
from gateway.settings import gateway_settings
from shared.migrations import upgrade_async
from tests.helpers import running

DEMO_PASSWORD = "spotcheck-demo"


@pytest.fixture
async def make_gateway(databases, nats_url, events_prefix, keys):
    """``await make_gateway(transports=..., **settings)`` → namespace(app, client, url)."""
    async with AsyncExitStack() as stack:

        async def make(transports=None, **overrides):
            url = await databases.create("gateway")
            await upgrade_async("gateway", url)
            settings = gateway_settings(database_url=url, nats_url=nats_url, events_prefix=events_prefix, **overrides)
            app = create_app(settings, private_pem=keys.private_pem, transports=transports)
            client = await stack.enter_async_context(running(app))
            return SimpleNamespace(app=app, client=client, url=url, settings=settings)

        yield make


# what the fake registry behind ``gw`` knows: person id -> region (enterprises: the region in the USCC)
DIRECTORY = {"insp-0042": "140100"}


def fake_registry():
    """A registry answering the gateway's binding checks (accounts bound to people or USCCs) from
    DIRECTORY, so user-administration tests never reach a real port."""
    from fastapi import FastAPI, HTTPException

    app = FastAPI()

    @app.get("/enterprises/{uscc}")
    async def enterprise(uscc: str):
        return {"uscc": uscc, "region_code": uscc[2:8]}

    @app.get("/{kind}s/{person_id}")
    async def person(kind: str, person_id: str):
        if person_id not in DIRECTORY:
            raise HTTPException(404)
        return {"id": person_id, "kind": kind, "region_code": DIRECTORY[person_id]}

    return app


@pytest.fixture
async def gw(make_gateway):
    import httpx

    return await make_gateway(transports={"registry": httpx.ASGITransport(app=fake_registry())})


async def token_for(client, username: str, password: str = DEMO_PASSWORD) -> dict:
    resp = await client.post("/auth/token", data={"grant_type": "password", "username": username, "password": password})
    assert resp.status_code == 200, resp.text
    return resp.json()


async def auth_headers(client, username: str, password: str = DEMO_PASSWORD) -> dict:
    return {"Authorization": f"Bearer {(await token_for(client, username, password))['access_token']}"}
