"""Two transactions that add facts about the same new enterprise at once (two consumers, or two
replicas of one): both succeed, neither's licence merge is lost."""
from __future__ import annotations

import asyncio

from sqlalchemy import select

from services.risk import facts
from services.risk.models import RiskEnterprise
from shared.db import Database
from shared.migrations import upgrade_async


def _licence(uscc: str, lid: str) -> facts.Effects:
    return facts.Effects(uscc={uscc}, licence={"id": lid, "name": "企业甲", "state": {
        "number": f"(晋)XK13-{lid}", "category": "cement", "status": "有效", "region_code": "140100"}})


async def test_concurrent_first_rows_and_licence_merges_both_land(databases):
    url = await databases.create("risk")
    await upgrade_async("services.risk", url)
    db = Database(url)
    uscc = "91140100MA0K000001"
    first_in = asyncio.Event()
    try:
        async def one(lid: str, hold: bool):
            async with db.transaction() as s:
                await facts.apply(s, _licence(uscc, lid), f"ev-{lid}")
                if hold:  # keep the transaction open while the other one starts on the same enterprise
                    first_in.set()
                    await asyncio.sleep(0.5)

        async def second():
            await first_in.wait()
            await one("L2", False)

        await asyncio.gather(one("L1", True), second())
        for rnd in range(3):  # and again on the existing row, both at once
            await asyncio.gather(one(f"A{rnd}", False), one(f"B{rnd}", False))
        async with db.session() as s:
            ent = (await s.execute(select(RiskEnterprise).where(RiskEnterprise.uscc == uscc))).scalar_one()
        assert set(ent.licences) == {"L1", "L2", "A0", "B0", "A1", "B1", "A2", "B2"}
        assert ent.name == "企业甲"
    finally:
        await db.dispose()
