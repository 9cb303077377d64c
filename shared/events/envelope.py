"""CloudEvents 1.0 JSON envelopes. Subject and type: ``<prefix>.<service>.<entity>.<verb>``."""
from __future__ import annotations

from typing import Any

from ..db import new_id, utcnow


def subject_for(prefix: str, service: str, entity: str, verb: str) -> str:
    return f"{prefix}.{service}.{entity}.{verb}"


def stream_name(prefix: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in prefix).upper()


def make_event(
    service: str,
    entity: str,
    verb: str,
    data: dict[str, Any],
    *,
    subject_id: str | None = None,
    request_id: str | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    event = {
        "specversion": "1.0",
        "id": new_id(),
        "source": f"/spotcheck/{service}",
        "type": f"spotcheck.{service}.{entity}.{verb}",
        "time": utcnow().isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": data,
    }
    if subject_id is not None:
        event["subject"] = str(subject_id)
    if request_id:
        event["requestid"] = request_id  # CloudEvents extension attribute (lower-case alnum)
    if actor:
        event["actor"] = actor
    return event
