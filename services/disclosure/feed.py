"""The feed: every publication, correction and withdrawal in one total order (``seq``), and the
webhook messages and deliveries it fans out to, written in the publishing transaction.

``seq`` comes from one counter row updated under a row lock, so publishing transactions commit
in ``seq`` order: a reader that has seen seq n never later finds an uncommitted n-1 appearing
behind its cursor (a plain autoincrement would allow that under concurrency on PostgreSQL)."""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import new_id
from shared.errors import Problem
from shared.pagination import decode_cursor, encode_cursor

from .models import Delivery, FeedCounter, Message, ResultVersion, Subscription

EVENT_TYPES = {
    "published": "inspection_result.published",
    "corrected": "inspection_result.corrected",
    "withdrawn": "inspection_result.withdrawn",
}


async def next_seq(s: AsyncSession) -> int:
    """One statement: the row lock it takes is held until the publishing transaction commits."""
    seq = (await s.execute(update(FeedCounter).where(FeedCounter.id == 1).values(last_seq=FeedCounter.last_seq + 1)
                           .returning(FeedCounter.last_seq))).scalar_one_or_none()
    if seq is None:  # the migration seeds the row; kept for safety
        s.add(FeedCounter(id=1, last_seq=1))
        await s.flush()
        return 1
    return seq


def message_body(type_: str, at: dt.datetime, data: dict) -> str:
    return json.dumps({"type": type_, "timestamp": at.isoformat().replace("+00:00", "Z"), "data": data},
                      ensure_ascii=False, separators=(",", ":"), sort_keys=True)


async def append(ctx, s: AsyncSession, result_id: str, version: int, kind: str, content: dict, reason: str | None,
                 actor: str, at: dt.datetime) -> tuple[int, list[tuple[str, str]]]:
    """The feed entry, its message and one delivery per subscription. With a dispatcher running
    in this process the deliveries are written already claimed by it and handed over after the
    commit (no polling, no second write); if the process dies first, the claim expires and any
    replica sends them. Returns (seq, [(delivery_id, subscription_id, what to send)])."""
    # reads and the publishing row's own update first; the counter's row lock (held until commit) last
    subs = (await s.execute(select(Subscription).where(Subscription.active.is_(True)))).scalars().all()
    await s.flush()
    seq = await next_seq(s)
    s.add(ResultVersion(seq=seq, result_id=result_id, version=version, kind=kind, content=content, reason=reason, actor=actor, at=at))
    type_ = EVENT_TYPES[kind]
    msg = Message(id="msg_" + new_id(), seq=seq, type=type_, body=message_body(type_, at, {**content, "seq": seq}), created_at=at)
    s.add(msg)
    dispatcher = ctx.extras.get("dispatcher")
    claim = dispatcher.claim_for_handover(at) if dispatcher is not None else {}
    handed = []
    for sub in subs:
        if type_ in (sub.event_types or []):
            d = Delivery(subscription_id=sub.id, message_id=msg.id, status="pending", next_attempt_at=at, created_at=at, **claim)
            s.add(d)
            # what the attempt needs, as committed: no second read before sending
            handed.append((d.id, sub.id, (msg.id, msg.body, sub.url, list(sub.secrets or []))))
    await s.flush()
    return seq, (handed if claim else [])


def entry_out(v: ResultVersion) -> dict:
    return {"seq": v.seq, "cursor": encode_cursor([v.seq]), "type": EVENT_TYPES[v.kind], "result_id": v.result_id,
            "version": v.version, "occurred_at": v.at, "data": v.content}


def parse_after(after: str | None) -> int:
    if not after:
        return 0
    if after.isdigit():
        return int(after)
    values = decode_cursor(after)
    if len(values) != 1 or not isinstance(values[0], int):
        raise Problem(400, "bad-cursor", "分页游标无效", errors=[{"field": "after", "message": "游标格式错误"}])
    return values[0]


async def read(ctx, after: str | None, limit: int) -> dict:
    start = parse_after(after)
    async with ctx.db.session() as s:
        rows = (await s.execute(select(ResultVersion).where(ResultVersion.seq > start).order_by(ResultVersion.seq).limit(limit))).scalars().all()
    items = [entry_out(v) for v in rows]
    last = rows[-1].seq if rows else start
    # the cursor to resume from is always given, also on an empty page (poll it later)
    return {"items": items, "next_cursor": encode_cursor([last]), "has_more": len(rows) == limit, "limit": limit}
