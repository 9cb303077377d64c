from __future__ import annotations

import pytest

from services.inspection.app import create_app, inspection_settings
from services.inspection.consumers import CONSUMERS
from shared.auth import TokenVerifier
from shared.events.consumer import process
from shared.migrations import upgrade_async
from tests.helpers import running

from . import factory as f


class Svc:
    def __init__(self, app, client, keys):
        self.app, self.client, self.keys = app, client, keys

    async def feed(self, event: dict) -> bool:
        ctx = self.app.state.ctx
        subject = event["type"].split(".", 1)[1]
        for c in CONSUMERS:
            if subject in c.subjects:
                return await process(ctx.db, ctx.kernel, c(), event, f"spotcheck.{subject}")
        raise AssertionError(subject)

    def person(self, pid: str, kind: str = "inspector"):
        return self.keys.headers(sub=f"person:{pid}", roles=[kind], region="140000", person_id=pid)

    def enterprise(self, uscc: str, region: str = "140105"):
        return self.keys.headers(sub=f"enterprise:{uscc}", roles=["enterprise"], region=region, uscc=uscc)

    def admin(self, role="province_admin", region="140000"):
        return self.keys.headers(sub=f"{role}:{region}", roles=[role], region=region)


@pytest.fixture
async def svc(databases, keys, nats_url, events_prefix, tmp_path):
    url = await databases.create("inspection")
    await upgrade_async("services.inspection", url)
    settings = inspection_settings(database_url=url, nats_url=nats_url, events_prefix=events_prefix, storage_url=f"file://{tmp_path / 'evidence'}")
    app = create_app(settings, verifier=TokenVerifier("spotcheck-gateway", "spotcheck", jwks=keys.jwks))
    async with running(app) as client:
        s = Svc(app, client, keys)
        assert await s.feed(f.team_formed())
        for tid, uscc, cats in (("t-food", f.USCC_FOOD, ["food_related"]), ("t-wire", f.USCC_WIRE, ["wire_cable"]),
                                ("t-cement", f.USCC_CEMENT, ["cement"])):
            assert await s.feed(f.dispatched(tid, uscc, cats))
        yield s
