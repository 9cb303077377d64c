"""The demo campaign step of disclosure against the real service and the real demo receiver (both
served over HTTP on local ports): it subscribes the receiver, publishes the pending results
through the service's own API, the receiver verifies every signature, and a second run changes
nothing. Without the inspection service it says so and publishes nothing."""
from __future__ import annotations

import asyncio
import json

import httpx
import uvicorn

from services.disclosure import demo_campaign
from services.disclosure import receiver as demo_receiver
from shared.demo_campaign import CampaignClient
from shared.natsproc import free_port
from tests.helpers import eventually, running

from .conftest import feed, make_app, record_event


class _Prefix:
    """What the gateway does for this test: /api/v1/disclosure/… → the service."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            scope = dict(scope, path=scope["path"].removeprefix("/api/v1/disclosure"),
                         raw_path=scope["raw_path"].removeprefix(b"/api/v1/disclosure"))
        await self.app(scope, receive, send)


async def _serve(app, port):
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", interface="asgi3"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    return server, task


async def test_demo_step_subscribes_the_receiver_and_publishes(db_url, keys, nats_url, events_prefix, tmp_path, monkeypatch):
    monkeypatch.setenv("SPOTCHECK_VAR_DIR", str(tmp_path))
    port = free_port()
    monkeypatch.setenv("SPOTCHECK_WEBHOOK_RECEIVER_PORT", str(port))
    rserver, rtask = await _serve(demo_receiver.create_app(), port)
    app = make_app(db_url, keys, nats_url, events_prefix)
    try:
        async with running(app):
            for _ in range(4):
                await feed(app, record_event(categories=["problem_corrected"], follow_up="order_correction"))
            await feed(app, record_event(region="140202"))
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_Prefix(app)), base_url="http://gw") as http:
                c = CampaignClient(http, tmp_path / "demo-campaign.json", keys.private_pem, log=lambda _: None)

                async def login(_user):
                    return keys.headers(sub="demo_province", roles=["province_admin"], region="140000")

                c.login = login
                monkeypatch.setattr(demo_campaign, "enabled_services", lambda: ["disclosure"])
                skipped = await demo_campaign.run(c)
                assert "检查服务未部署" in skipped and "订阅" in skipped
                monkeypatch.setattr(demo_campaign, "enabled_services", lambda: ["inspection", "disclosure"])
                summary = await demo_campaign.run(c)
                assert "本次公示 4 条" in summary and "留 1 条待录入" in summary, summary
                again = await demo_campaign.run(c)
                assert "本次公示 0 条，累计已公示 4 条" in again and "留 1 条待录入" in again, again

            async def received():
                async with httpx.AsyncClient() as h:
                    got = (await h.get(f"http://127.0.0.1:{port}/")).json()
                return got if got["received"] >= 4 else None

            got = await eventually(received, timeout=20)
            assert all(d["verified"] for d in got["deliveries"]) and {d["type"] for d in got["deliveries"]} == {"inspection_result.published"}
            lines = (tmp_path / "webhook-receiver" / "received.jsonl").read_text(encoding="utf-8").splitlines()
            assert len(lines) == 4 and json.loads(lines[0])["verified"] is True
            # a forged delivery is refused by the receiver
            async with httpx.AsyncClient() as h:
                bad = await h.post(f"http://127.0.0.1:{port}/webhooks", content=b'{"type":"x"}',
                                   headers={"webhook-id": "msg_x", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"})
            assert bad.status_code == 401
    finally:
        rserver.should_exit = True
        await rtask
