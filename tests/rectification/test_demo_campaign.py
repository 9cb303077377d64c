"""The demo campaign step drives the service over HTTP (through a /api/v1/rectification mount, as the
gateway would) into every state; without the inspection service it says why it skips."""
from __future__ import annotations

import datetime as dt

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

import services.rectification.demo_campaign as demo
from shared.demo_campaign import CampaignClient

from .conftest import USCC_A, USCC_B, USCC_C


class _Client(CampaignClient):
    def __init__(self, http, keys):
        super().__init__(http, None, keys.private_pem, log=lambda _: None)
        self.keys = keys

    async def login(self, username: str) -> dict:
        return self.keys.headers(sub=username, roles=["province_admin"], region="140000", name=username)


async def test_demo_step_skips_without_inspection(svc, monkeypatch):
    monkeypatch.setattr(demo, "enabled_services", lambda: ["registry", "rectification"])
    async with httpx.AsyncClient(base_url="http://gw") as http:
        out = await demo.run(_Client(http, svc.keys))
    assert "跳过" in out


async def test_demo_step_puts_cases_in_every_state(svc, monkeypatch):
    monkeypatch.setattr(demo, "enabled_services", lambda: ["inspection", "rectification"])
    for i, uscc in enumerate([USCC_A, USCC_B, USCC_C, "91140105MA0K000004"]):
        await svc.open_case(uscc=uscc, county="140105" if uscc != USCC_C else "141002", name=f"在期企业{i}")
    for i, uscc in enumerate(["91140105MA0K000005", "91140105MA0K000006"]):
        await svc.open_case(uscc=uscc, county="140105", name=f"逾期企业{i}", on=dt.date(2024, 9, 2), period=(5, "working_days"))
    svc.clock.on(dt.date(2024, 9, 30))
    await svc.sweep()
    gw = Starlette(routes=[Mount("/api/v1/rectification", app=svc.app)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gw), base_url="http://gw") as http:
        c = _Client(http, svc.keys)
        out = await demo.run(c)
        assert "撤销许可证" in out and "立案查处" in out and "复查合格结案" in out, out
        again = await demo.run(c)
        assert "沿用" in again
    items = (await svc.client.get("/cases", headers=svc.province())).json()["items"]
    states = {(x["status"], x["resolution"], x["overdue"]) for x in items}
    assert ("open", None, False) in states
    assert ("reported", None, False) in states
    assert ("closed", "rectified", False) in states
    assert ("closed", "licence_revoked", True) in states
    assert ("closed", "case_filed", True) in states
