"""Publication by group commit: approvals arriving together share transactions (one feed-counter
lock and one audit-chain read per batch), yet each keeps its own answer — a refusal fails that
request only — the feed stays gap-free in commit order and the audit chain verifies."""
from __future__ import annotations

import asyncio

from sqlalchemy import select

from services.disclosure.models import Result, ResultVersion, kernel
from shared.db import new_id, utcnow
from tests.helpers import running

from .conftest import COUNTY, COUNTY2, CREDIT, DISCIPLINE, OTHER_CITY, make_app


async def _submitted(app, n: int, entered_by: str = "xiaodian-1") -> list[str]:
    import datetime as dt

    ids = []
    async with app.state.ctx.db.transaction() as s:
        for i in range(n):
            rid = new_id()
            ids.append(rid)
            s.add(Result(id=rid, record_id=f"gc-{rid}", plan_id="p", plan_name="计划", uscc=f"91140100GC{i:08d}", enterprise_name=f"企业{i}",
                         region_code="140105", city_code="140100", county_code="140105", bureau_code="140105", bureau_name="小店区市场监督管理局",
                         completed_on=dt.date(2024, 9, 27), suggested={"categories": ["no_problem"], "follow_up": "none_needed"},
                         suggestion_source="test", categories=["no_problem"], follow_up="none_needed", status="submitted",
                         entered_by=entered_by, entered_at=utcnow(), version=2, created_at=utcnow()))
    return ids


async def test_concurrent_approvals_share_transactions_and_keep_their_own_answers(db_url, keys, nats_url, events_prefix):
    app = make_app(db_url, keys, nats_url, events_prefix)
    async with running(app) as c:
        ids = await _submitted(app, 40)
        mine = (await _submitted(app, 1, entered_by="xiaodian-2"))[0]  # entered by the reviewer himself: refused
        ids_all = ids + [mine]

        async def approve(rid, who=COUNTY2, etag='"v2"'):
            return await c.post(f"/results/{rid}/review", headers={**keys.headers(**who), "If-Match": etag}, json={"decision": "approve"})

        answers = await asyncio.gather(*(approve(rid) for rid in ids_all), approve(ids[0]), approve(ids[1], who=OTHER_CITY),
                                       approve(ids[2], etag='"v9"'))
        by = [a.status_code for a in answers]
        assert by[1:40] == [200] * 39, [a.text for a in answers if a.status_code != 200][:3]
        assert by[40] == 403 and answers[40].json()["type"].endswith("reviewer-is-enterer")
        # the same result twice: one publication (the other sees it published or its ETag stale; which of the
        # two requests comes first is the scheduler's choice), another city: 404
        assert by[0] == 200 and by[41] in (409, 412) or by[41] == 200 and by[0] in (409, 412), (by[0], by[41])
        assert by[42] == 404
        publisher = app.state.ctx.extras["publisher"]
        assert publisher.largest > 1 and publisher.batches < 40  # shared transactions

        async with app.state.ctx.db.session() as s:
            seqs = [v.seq for v in (await s.execute(select(ResultVersion).order_by(ResultVersion.seq))).scalars()]
            events = list((await s.execute(select(kernel.outbox.c.payload).where(kernel.outbox.c.subject.like("%.disclosure.result.published")))).scalars())
        assert seqs == list(range(1, 41))  # gap-free, one entry per publication
        assert len(events) == 40 and all('"actor":"xiaodian-2"' in e for e in events)
        fd = (await c.get("/feed", headers=keys.headers(**CREDIT), params={"limit": 1000})).json()["items"]
        assert sorted(i["result_id"] for i in fd) == sorted(ids)
        assert (await c.get("/audit/verify", headers=keys.headers(**DISCIPLINE))).json()["ok"] is True
        assert (await c.get(f"/results/{mine}", headers=keys.headers(**COUNTY))).json()["status"] == "submitted"


async def test_an_unexpected_error_fails_only_its_own_publication(db_url, keys, nats_url, events_prefix, monkeypatch):
    from services.disclosure import results as rd

    app = make_app(db_url, keys, nats_url, events_prefix)
    async with running(app) as c:
        ids = await _submitted(app, 6)
        bad = ids[3]
        plain = rd._check_review

        def failing(p, r):
            if r.id == bad:
                raise RuntimeError("boom")  # not a refusal: the batch's transaction fails
            plain(p, r)

        monkeypatch.setattr(rd, "_check_review", failing)
        answers = await asyncio.gather(*(c.post(f"/results/{rid}/review", headers={**keys.headers(**COUNTY2), "If-Match": '"v2"'},
                                                json={"decision": "approve"}) for rid in ids), return_exceptions=True)
        by_id = dict(zip(ids, answers))
        assert all(not isinstance(a, Exception) and a.status_code == 200 for rid, a in by_id.items() if rid != bad), answers
        assert isinstance(by_id[bad], Exception) or by_id[bad].status_code == 500
        async with app.state.ctx.db.session() as s:
            states = dict((await s.execute(select(Result.id, Result.status))).all())
            seqs = [v.seq for v in (await s.execute(select(ResultVersion).order_by(ResultVersion.seq))).scalars()]
        assert states[bad] == "submitted" and [states[i] for i in ids if i != bad] == ["published"] * 5
        assert seqs == list(range(1, 6))  # the failed batch left no gap: its transaction rolled back
        assert (await c.get("/audit/verify", headers=keys.headers(**DISCIPLINE))).json()["ok"] is True
