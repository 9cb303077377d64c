"""A registry app per test module on a fresh database (migrated), and helpers to build bodies."""
from __future__ import annotations

import datetime as dt
import itertools
import random

import pytest
from stdnum.cn import uscc as stdnum_uscc

from services.registry.app import create_app
from shared.auth import TokenVerifier
from shared.migrations import upgrade_async
from shared.settings import settings_for
from tests.conftest import delete_streams
from tests.helpers import running

_rnd = random.Random(7)
_serial = itertools.count(1)
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def make_uscc(county: str = "140105") -> str:
    base = "91" + county + "".join(_rnd.choice(ALPHABET) for _ in range(9))
    return base + stdnum_uscc.calc_check_digit(base)


def bad_check_digit(uscc: str) -> str:
    wrong = next(c for c in ALPHABET if c != uscc[-1])
    return uscc[:-1] + wrong


def licence_number(unit: str = "05") -> str:
    return f"(晋)XK{unit}-901-{next(_serial):05d}"


def enterprise_body(county: str = "140105", **over) -> dict:
    body = {
        "uscc": make_uscc(county),
        "name": "山西测试钢铁有限公司",
        "region_code": county,
        "address": "山西省测试路1号",
        "legal_representative": "张三",
        "contact_phone": "0351-1234567",
        "production_status": "在产",
        "licences": [{"number": licence_number(), "category": "rebar", "issue_date": "2021-03-01"}],
    }
    body.update(over)
    return body


class Registry:
    def __init__(self, client, app, url, keys):
        self.client, self.app, self.url, self.keys = client, app, url, keys
        self.ctx = app.state.ctx

    def h(self, roles=("province_admin",), region="140000", **kw) -> dict:
        return self.keys.headers(sub=kw.pop("sub", f"{roles[0]}-{region}"), roles=roles, region=region, **kw)

    async def create(self, body: dict, headers: dict | None = None):
        r = await self.client.post("/enterprises", json=body, headers=headers or self.h())
        assert r.status_code == 201, r.text
        return r.json()

    async def count(self, table) -> int:
        from sqlalchemy import func, select

        async with self.ctx.db.session() as s:
            return (await s.execute(select(func.count()).select_from(table))).scalar_one()


@pytest.fixture(scope="module")
async def registry(databases, nats_url, keys):
    prefix = f"treg{_rnd.randrange(16**8):08x}"
    url = await databases.create("registry")
    await upgrade_async("services.registry", url)
    app = create_app(
        settings_for("registry", database_url=url, nats_url=nats_url, events_prefix=prefix),
        verifier=TokenVerifier("spotcheck-gateway", "spotcheck", jwks=keys.jwks),
    )
    async with running(app) as client:
        yield Registry(client, app, url, keys)
    await delete_streams(nats_url, prefix)


TODAY = dt.date(2022, 6, 1)
