"""The registry's consumer of ``rectification.outcome.decided`` (through the consumer path): 注销 and
撤销 applied once with the case on the history row; referrals change nothing; a licence already in a
final state or unknown is left alone and the skip is audited."""
from __future__ import annotations

import json

from sqlalchemy import select

from services.registry.consumers import OutcomeDecidedConsumer
from services.registry.models import LicenceStatusChange, kernel
from shared.events.consumer import process
from shared.events.envelope import make_event
from tests.registry.conftest import enterprise_body


def _decided(kind: str, uscc: str, numbers: list[str], case_id: str = "case-1", outcome_id: str = "out-1") -> dict:
    return make_event("rectification", "outcome", "decided", {
        "case_id": case_id, "outcome_id": outcome_id, "kind": kind, "uscc": uscc, "decided_by": "prov-2",
        "licences": [{"licence_id": None, "number": n} for n in numbers], "legal_basis": "不再从事相关产品生产：条例第三十一条"})


async def _feed(registry, event: dict) -> bool:
    ctx = registry.ctx
    return await process(ctx.db, ctx.kernel, OutcomeDecidedConsumer(ctx.settings.events_prefix), event,
                         "spotcheck.rectification.outcome.decided")


async def test_outcomes_apply_once_and_skips_are_audited(registry):
    body = enterprise_body(county="140105")
    await registry.create(body)
    number = body["licences"][0]["number"]
    lic = (await registry.client.get(f"/enterprises/{body['uscc']}/licences", headers=registry.h())).json()["items"][0]

    # a referral changes nothing in the registry
    assert await _feed(registry, _decided("file_case", body["uscc"], []))
    assert (await registry.client.get(f"/licences/{lic['id']}", headers=registry.h())).json()["status"] == "有效"

    # 注销: applied, the history row names the case and the decision
    assert await _feed(registry, _decided("cancel", body["uscc"], [number], "case-9", "out-9"))
    assert (await registry.client.get(f"/licences/{lic['id']}", headers=registry.h())).json()["status"] == "注销"
    hist = (await registry.client.get(f"/licences/{lic['id']}/history", headers=registry.h())).json()["items"]
    assert hist[-1]["to"] == "注销" and "case-9" in hist[-1]["reason"] and "out-9" in hist[-1]["reason"]
    assert hist[-1]["actor"] == "rectification:prov-2"

    # the same decision under another event id: nothing more; a later 撤销 of a cancelled licence: skipped
    assert await _feed(registry, _decided("cancel", body["uscc"], [number], "case-9", "out-9"))
    assert await _feed(registry, _decided("revoke", body["uscc"], [number], "case-10", "out-10"))
    async with registry.ctx.db.session() as s:
        rows = (await s.execute(select(LicenceStatusChange).where(LicenceStatusChange.licence_id == lic["id"]))).scalars().all()
        assert [r.to_status for r in rows].count("注销") == 1 and "撤销" not in [r.to_status for r in rows]
        events = [json.loads(p) for p in (await s.execute(select(kernel.outbox.c.payload).where(
            kernel.outbox.c.subject.endswith("licence.status_changed")))).scalars()]
        mine = [e for e in events if e["data"].get("licence_id") == lic["id"]]
        assert len(mine) == 1 and mine[0]["data"]["source"] == {"service": "rectification", "case_id": "case-9", "outcome_id": "out-9"}
        skipped = (await s.execute(select(kernel.audit.c.detail).where(kernel.audit.c.action == "licence.status_change_skipped"))).scalars().all()
        assert any(d["outcome_id"] == "out-10" for d in skipped)

    # a licence number the enterprise does not hold: skipped, audited, nothing else
    other = enterprise_body(county="140106")
    await registry.create(other)
    assert await _feed(registry, _decided("revoke", other["uscc"], [number], "case-11", "out-11"))
    assert (await registry.client.get(f"/licences/{lic['id']}", headers=registry.h())).json()["status"] == "注销"
