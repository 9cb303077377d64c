"""The feed: every publication, correction and withdrawal in one total order (``seq``), and the
webhook messages and deliveries it fans out to, written in the publishing transaction.

``seq`` comes from one counter row updated under a row lock, so publishing transactions commit
in ``seq`` order (a batch of publications reserves a run of positions at once): a reader that has seen seq n never later finds an uncommitted n-1 appearing
behind its cursor (a plain autoincrement would allow that under concurrency on PostgreSQL)."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from sqlalchemy import insert, select, update
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


async def next_seqs(s: AsyncSession, n: int) -> int:
    """Reserve ``n`` consecutive feed positions and return the first. One statement: the row lock
    it takes is held until the publishing transaction commits, so transactions commit in ``seq``
    order. A batch of publications takes it once (group commit: see ``publication.py``)."""
    last = (await s.execute(update(FeedCounter).where(FeedCounter.id == 1).values(last_seq=FeedCounter.last_seq + n)
                            .returning(FeedCounter.last_seq))).scalar_one_or_none()
    if last is None:  # the migration seeds the row; kept for safety
        s.add(FeedCounter(id=1, last_seq=n))
        await s.flush()
        last = n
    return last - n + 1


async def next_seq(s: AsyncSession) -> int:
    return await next_seqs(s, 1)


def message_body(type_: str, at: dt.datetime, data: dict) -> str:
    return json.dumps({"type": type_, "timestamp": at.isoformat().replace("+00:00", "Z"), "data": data},
                      ensure_ascii=False, separators=(",", ":"), sort_keys=True)


@dataclass
class Entry:
    """One feed entry to write: a publication, correction or withdrawal of a result."""

    result_id: str
    version: int
    kind: str  # published | corrected | withdrawn
    content: dict
    reason: str | None
    actor: str
    at: dt.datetime
    seq: int = 0
    handed: list = field(default_factory=list)  # [(delivery id, subscription id, what to send)] for the dispatcher


async def append_many(ctx, s: AsyncSession, entries: list[Entry]) -> None:
    """The feed entries, their messages and one delivery per subscription, in the caller's
    transaction; ``seq`` is set on each entry. With a dispatcher running in this process the
    deliveries are written already claimed by it and handed over after the commit (no polling, no
    second write); if the process dies first, the claim expires and any replica sends them."""
    if not entries:
        return
    # reads and the publishing rows' own updates first; the counter's row lock (held until commit) last
    subs = (await s.execute(select(Subscription).where(Subscription.active.is_(True)))).scalars().all()
    await s.flush()
    first = await next_seqs(s, len(entries))
    dispatcher = ctx.extras.get("dispatcher")
    versions, messages, deliveries = [], [], []  # multi-row inserts (Core: a batch holds up to 64 of each)
    for i, e in enumerate(entries):
        e.seq = seq = first + i
        versions.append({"seq": seq, "result_id": e.result_id, "version": e.version, "kind": e.kind, "content": e.content,
                         "reason": e.reason, "actor": e.actor, "at": e.at})
        type_ = EVENT_TYPES[e.kind]
        msg_id, body = "msg_" + new_id(), message_body(type_, e.at, {**e.content, "seq": seq})
        messages.append({"id": msg_id, "seq": seq, "type": type_, "body": body, "created_at": e.at})
        claim = dispatcher.claim_for_handover(e.at) if dispatcher is not None else {}
        for sub in subs:
            if type_ in (sub.event_types or []):
                did = new_id()
                deliveries.append({"id": did, "subscription_id": sub.id, "message_id": msg_id, "status": "pending", "attempts": 0,
                                   "next_attempt_at": e.at, "created_at": e.at, "claimed_by": claim.get("claimed_by"),
                                   "claimed_until": claim.get("claimed_until")})
                if claim:  # what the attempt needs, as committed: no second read before sending
                    e.handed.append((did, sub.id, (msg_id, body, sub.url, list(sub.secrets or []))))
    await s.execute(insert(ResultVersion), versions)
    await s.execute(insert(Message), messages)
    if deliveries:
        await s.execute(insert(Delivery), deliveries)


async def append(ctx, s: AsyncSession, result_id: str, version: int, kind: str, content: dict, reason: str | None,
                 actor: str, at: dt.datetime) -> tuple[int, list[tuple[str, str]]]:
    """One entry (see ``append_many``). Returns (seq, [(delivery_id, subscription_id, what to send)])."""
    e = Entry(result_id, version, kind, content, reason, actor, at)
    await append_many(ctx, s, [e])
    return e.seq, e.handed


def entry_out(v: ResultVersion) -> dict:
    return {"seq": v.seq, "cursor": encode_cursor([v.seq]), "type": EVENT_TYPES[v.kind], "result_id": v.result_id,
            "version": v.version, "occurred_at": v.at, "data": v.content}


def parse_after(after: str | None) -> int:
    if not after:
        return 0
    bad = Problem(400, "bad-cursor", "分页游标无效", errors=[{"field": "after", "message": "游标格式错误：序号或上一页的 next_cursor"}])
    if after.isascii() and after.isdigit():  # a plain sequence number ('²'.isdigit() is true too, int() refuses it)
        value = int(after) if len(after) <= 19 else None
    else:
        try:
            values = decode_cursor(after)
        except Problem:
            raise bad from None
        value = values[0] if len(values) == 1 and isinstance(values[0], int) and not isinstance(values[0], bool) else None
    if value is None or not 0 <= value < 2**63:  # beyond the column's range: no database can compare it
        raise bad
    return value


async def read(ctx, after: str | None, limit: int) -> dict:
    start = parse_after(after)
    async with ctx.db.session() as s:
        rows = (await s.execute(select(ResultVersion).where(ResultVersion.seq > start).order_by(ResultVersion.seq).limit(limit))).scalars().all()
    items = [entry_out(v) for v in rows]
    last = rows[-1].seq if rows else start
    # the cursor to resume from is always given, also on an empty page (poll it later)
    return {"items": items, "next_cursor": encode_cursor([last]), "has_more": len(rows) == limit, "limit": limit}
