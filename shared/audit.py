"""Append-only, hash-chained audit trail kept by each service in its own database.

entry.hash = SHA-256(canonical JSON of the entry's fields, including prev_hash). Editing,
deleting or reordering any entry breaks every hash after it, and ``verify`` names the first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from .canonical import canonical_json, digest, sha256_hex
from .db import utcnow
from .tables import KernelTables

GENESIS = "0" * 64
_FIELDS = ("seq", "at", "actor", "action", "entity_type", "entity_id", "before_digest", "after_digest", "detail", "request_id", "prev_hash")


def entry_hash(entry: dict[str, Any]) -> str:
    return sha256_hex(canonical_json({k: entry.get(k) for k in _FIELDS}))


async def _lock_head(session: AsyncSession, table) -> None:
    """Hold the chain's head until commit, so two writers never take the same ``seq``.
    PostgreSQL: a transaction-level advisory lock. SQLite: a write that changes nothing takes the
    database's write lock *before* the head is read (a plain SELECT would read it unlocked, and
    two connections of one process — or two processes on one file — could both append seq n+1)."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(7310001)"))
    elif session.bind.dialect.name == "sqlite":
        await session.execute(table.update().where(text("1 = 0")).values(seq=table.c.seq))


async def append(
    session: AsyncSession,
    kernel: KernelTables,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    before: Any = None,
    after: Any = None,
    detail: dict | None = None,
    request_id: str | None = None,
) -> dict:
    """Append one entry in the caller's transaction (so it commits or rolls back with the change)."""
    table = kernel.audit
    await _lock_head(session, table)
    last = (await session.execute(select(table.c.seq, table.c.hash).order_by(table.c.seq.desc()).limit(1))).first()
    seq = (last.seq + 1) if last else 1
    entry = {
        "seq": seq,
        "at": utcnow().isoformat(),
        "actor": actor,
        "action": action,
        "entity_type": entity_type,
        "entity_id": str(entity_id),
        "before_digest": digest(before) if before is not None else None,
        "after_digest": digest(after) if after is not None else None,
        "detail": detail,
        "request_id": request_id,
        "prev_hash": last.hash if last else GENESIS,
    }
    entry["hash"] = entry_hash(entry)
    row = dict(entry)
    from datetime import datetime

    row["at"] = datetime.fromisoformat(entry["at"])
    await session.execute(table.insert().values(**row))
    return entry


async def append_many(session: AsyncSession, kernel: KernelTables, entries: list[dict]) -> list[dict]:
    """Append several entries in the caller's transaction with one read of the chain's head and one
    multi-row insert (for sweeps that change many records at once). Each item has the keyword
    arguments of ``append`` (actor, action, entity_type, entity_id, before, after, detail, request_id)."""
    from datetime import datetime

    if not entries:
        return []
    table = kernel.audit
    await _lock_head(session, table)
    last = (await session.execute(select(table.c.seq, table.c.hash).order_by(table.c.seq.desc()).limit(1))).first()
    seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
    out, rows = [], []
    for e in entries:
        seq += 1
        entry = {
            "seq": seq,
            "at": utcnow().isoformat(),
            "actor": e["actor"],
            "action": e["action"],
            "entity_type": e["entity_type"],
            "entity_id": str(e["entity_id"]),
            "before_digest": digest(e["before"]) if e.get("before") is not None else None,
            "after_digest": digest(e["after"]) if e.get("after") is not None else None,
            "detail": e.get("detail"),
            "request_id": e.get("request_id"),
            "prev_hash": prev,
        }
        entry["hash"] = prev = entry_hash(entry)
        out.append(entry)
        rows.append({**entry, "at": datetime.fromisoformat(entry["at"])})
    await session.execute(table.insert(), rows)
    return out


def _row_to_entry(row) -> dict:
    d = dict(row._mapping)
    d["at"] = d["at"].isoformat()
    return d


@dataclass
class ChainReport:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str | None = None
    head_seq: int | None = None  # the last entry verified and its hash: the discipline group records them, so a
    head_hash: str | None = None  # later run that shows fewer entries or another head reveals deleted tail entries

    def as_dict(self) -> dict:
        return {"ok": self.ok, "entries": self.entries, "first_bad_seq": self.first_bad_seq, "reason": self.reason,
                "head_seq": self.head_seq, "head_hash": self.head_hash}


async def verify(session: AsyncSession, kernel: KernelTables, batch: int = 1000) -> ChainReport:
    """Walk the chain in seq order, in batches, and report the first broken entry."""
    table = kernel.audit
    prev_hash, expected_seq, count, after = GENESIS, 1, 0, 0
    while True:
        rows = (await session.execute(select(table).where(table.c.seq > after).order_by(table.c.seq).limit(batch))).all()
        if not rows:
            break
        for row in rows:
            entry = _row_to_entry(row)
            if entry["seq"] != expected_seq:
                return ChainReport(False, count, entry["seq"], f"序号不连续：期望 {expected_seq}")
            if entry["prev_hash"] != prev_hash:
                return ChainReport(False, count, entry["seq"], "前一条哈希不符")
            if entry_hash(entry) != entry["hash"]:
                return ChainReport(False, count, entry["seq"], "条目内容与哈希不符（已被篡改）")
            prev_hash, expected_seq, count = entry["hash"], expected_seq + 1, count + 1
            after = entry["seq"]
    return ChainReport(True, count, head_seq=after or None, head_hash=prev_hash if count else None)


async def list_entries(session: AsyncSession, kernel: KernelTables, *, after: int = 0, limit: int = 100, entity_id: str | None = None) -> list[dict]:
    table = kernel.audit
    q = select(table).where(table.c.seq > after)
    if entity_id:
        q = q.where(table.c.entity_id == entity_id)
    rows = (await session.execute(q.order_by(table.c.seq).limit(limit))).all()
    return [_row_to_entry(r) for r in rows]
