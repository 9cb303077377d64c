"""The inspection service's evidence policy on the one shared store (``shared.evidence``): which
types a record accepts and how large each may be. The store itself (streaming, SHA-256 content
address, type by bytes, filesystem or S3-compatible backend) is ``shared.evidence.EvidenceStore``."""
from __future__ import annotations

from pathlib import Path

from shared.evidence import MB, MEDIA_TYPES, EvidenceStore, store_from_settings

# media type -> size limit (a photo or scan is small; a site video may be long)
TYPE_LIMITS: dict[str, int] = {
    "image/jpeg": 30 * MB,
    "image/png": 30 * MB,
    "image/webp": 30 * MB,
    "application/pdf": 100 * MB,
    "video/mp4": 200 * MB,
}
TYPES = tuple(MEDIA_TYPES)  # what a download may be served as


def make_store(settings, default_root: Path) -> EvidenceStore:
    """``storage_url`` (the service's older name) or ``evidence_url``: a directory, ``file:///dir`` or ``s3://bucket/prefix``."""
    url = getattr(settings, "storage_url", None) or getattr(settings, "evidence_url", None)
    return store_from_settings(settings, default_root, url=url, max_bytes=max(TYPE_LIMITS.values()), type_limits=TYPE_LIMITS)
