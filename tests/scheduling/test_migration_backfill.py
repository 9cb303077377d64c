"""Scheduling's migration cedd602b14e0 (an inspector draw abandoned and drawn again no longer leaves the
plan stuck) on a database that holds formations, not an empty one: formations on an abandoned draw are
voided from that draw's abandonment, the others stay in effect; the partial unique index then lets a
superseding formation in; the downgrade refuses while both exist and deletes nothing, and goes through
once they no longer do. Both backends."""
from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa
from alembic import command

from shared.db import make_engine
from shared.migrations import alembic_config, upgrade_async

PACKAGE = "services.scheduling"
BEFORE, AFTER = "846a99b1b780", "cedd602b14e0"
T0 = dt.datetime(2026, 5, 20, 2, 0, tzinfo=dt.timezone.utc)
ABANDONED = dt.datetime(2026, 5, 21, 8, 30, tzinfo=dt.timezone.utc)


def _draw(draw_id: str, kind: str, abandoned: dt.datetime | None = None, reason: str | None = None) -> dict:
    return {"draw_id": draw_id, "plan_id": "plan-1", "owner_region": "140000", "kind": kind, "payload_digest": "d" * 64,
            "payload": "{}", "event_id": f"ev-{draw_id}", "received_at": T0, "abandoned_at": abandoned, "abandon_reason": reason}


def _formation(fid: str, enterprise_draw: str, inspector_draw: str) -> dict:
    return {"id": fid, "plan_id": "plan-1", "owner_region": "140000", "enterprise_draw_id": enterprise_draw,
            "inspector_draw_id": inspector_draw, "replacement_ids": "[]", "input_digest": "i" * 64, "result_digest": "r" * 64,
            "result": "{}", "algorithm_version": "1", "team_count": 2, "task_count": 7, "created_by": "demo_province", "created_at": T0}


async def _rows(engine, sql: str, **params) -> list:
    async with engine.connect() as c:
        return list((await c.execute(sa.text(sql), params)).all())


async def _insert(engine, table: str, rows: list[dict]) -> None:
    cols = list(rows[0])
    async with engine.begin() as c:
        await c.execute(sa.text(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + k for k in cols)})"), rows)


async def test_backfill_voids_formations_on_abandoned_draws_and_the_downgrade_refuses_to_drop_either(databases):
    url = await databases.create("sched_backfill")
    await upgrade_async(PACKAGE, url, BEFORE)
    engine = make_engine(url)
    try:
        await _insert(engine, "draw", [
            _draw("ent-1", "enterprise"), _draw("insp-1", "inspector", ABANDONED, "抽取时名录未更新，经另一名省局工作人员确认作废"),
            _draw("ent-2", "enterprise"), _draw("insp-2", "inspector"),
            _draw("ent-3", "enterprise", ABANDONED, "企业名录有误"), _draw("insp-3", "inspector"),
        ])
        await _insert(engine, "assignment", [_formation("f-1", "ent-1", "insp-1"), _formation("f-2", "ent-2", "insp-2"),
                                             _formation("f-3", "ent-3", "insp-3")])

        await upgrade_async(PACKAGE, url, AFTER)
        rows = {r[0]: r[1:] for r in await _rows(engine, "SELECT id, voided_at, void_reason, voided_draw_id FROM assignment")}
        voided_at = rows["f-1"][0]
        if isinstance(voided_at, str):  # SQLite gives the stored text back through a plain SELECT
            voided_at = dt.datetime.fromisoformat(voided_at)
        assert voided_at.replace(tzinfo=voided_at.tzinfo or dt.timezone.utc) == ABANDONED
        assert rows["f-1"][1:] == ("抽取时名录未更新，经另一名省局工作人员确认作废", "insp-1")
        assert rows["f-2"] == (None, None, None)  # in effect: nothing was abandoned under it
        assert rows["f-3"][1:] == ("企业名录有误", "ent-3")  # an abandoned enterprise draw voids it too

        # the enterprise draw of the voided formation is formed again: allowed beside the voided one ...
        await _insert(engine, "assignment", [{**_formation("f-1b", "ent-1", "insp-1b"), "supersedes": "f-1"}])
        # ... but never a second formation in effect on one enterprise draw
        with pytest.raises(sa.exc.IntegrityError):
            await _insert(engine, "assignment", [_formation("f-2b", "ent-2", "insp-2b")])

        cfg = alembic_config(PACKAGE, url)
        with pytest.raises(RuntimeError, match="ent-1"):
            await asyncio.to_thread(command.downgrade, cfg, BEFORE)
        assert len(await _rows(engine, "SELECT id FROM assignment")) == 4  # nothing deleted
        async with engine.connect() as c:
            cols = {col["name"] for col in await c.run_sync(lambda sc: sa.inspect(sc).get_columns("assignment"))}
        assert {"voided_at", "supersedes"} <= cols  # still at the new revision

        async with engine.begin() as c:  # without the superseding formation the old constraint holds again
            await c.execute(sa.text("DELETE FROM assignment WHERE id = 'f-1b'"))
        await asyncio.to_thread(command.downgrade, cfg, BEFORE)
        assert sorted(r[0] for r in await _rows(engine, "SELECT id FROM assignment")) == ["f-1", "f-2", "f-3"]
        with pytest.raises(sa.exc.IntegrityError):
            await _insert(engine, "assignment", [_formation("f-1c", "ent-1", "insp-1c")])
    finally:
        await engine.dispose()
