"""Tables every service carries in its own database: outbox, inbox, parked messages,
audit trail and idempotency keys. Added to the service's MetaData by ``KernelTables``."""
from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Integer, MetaData, String, Table, Text, UniqueConstraint

from .db import UTCDateTime


class KernelTables:
    def __init__(self, metadata: MetaData):
        self.outbox = Table(
            "outbox",
            metadata,
            Column("id", String(64), primary_key=True),  # the CloudEvent id
            Column("seq", BigInteger, nullable=False, index=True),
            Column("subject", String(200), nullable=False),
            Column("payload", Text, nullable=False),  # the serialised CloudEvent
            Column("created_at", UTCDateTime(), nullable=False),
            Column("sent_at", UTCDateTime(), nullable=True, index=True),
            Column("attempts", Integer, nullable=False, default=0),
            Column("last_error", Text, nullable=True),
        )
        self.inbox = Table(
            "inbox",
            metadata,
            Column("event_id", String(64), primary_key=True),
            Column("consumer", String(100), primary_key=True),
            Column("subject", String(200), nullable=False),
            Column("processed_at", UTCDateTime(), nullable=False),
        )
        self.parked = Table(
            "parked_message",
            metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("event_id", String(64), nullable=False, index=True),
            Column("consumer", String(100), nullable=False),
            Column("subject", String(200), nullable=False),
            Column("payload", Text, nullable=False),
            Column("error", Text, nullable=False),
            Column("deliveries", Integer, nullable=False),
            Column("parked_at", UTCDateTime(), nullable=False),
            Column("replayed_at", UTCDateTime(), nullable=True),
        )
        self.audit = Table(
            "audit_entry",
            metadata,
            Column("seq", Integer, primary_key=True, autoincrement=False),
            Column("at", UTCDateTime(), nullable=False),
            Column("actor", String(100), nullable=False),
            Column("action", String(100), nullable=False),
            Column("entity_type", String(60), nullable=False),
            Column("entity_id", String(100), nullable=False, index=True),
            Column("before_digest", String(64), nullable=True),
            Column("after_digest", String(64), nullable=True),
            Column("detail", JSON, nullable=True),
            Column("request_id", String(64), nullable=True),
            Column("prev_hash", String(64), nullable=False),
            Column("hash", String(64), nullable=False),
        )
        self.idempotency = Table(
            "idempotency_key",
            metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("key", String(200), nullable=False),
            Column("principal", String(100), nullable=False),
            Column("scope", String(200), nullable=False),
            Column("request_hash", String(64), nullable=False),
            Column("status_code", Integer, nullable=False),
            Column("response", Text, nullable=False),
            Column("created_at", UTCDateTime(), nullable=False),
            UniqueConstraint("key", "principal", "scope"),
        )
