"""Evidence files (照片、扫描件): streamed to disk, content-addressed by SHA-256, the type decided by
the file's first bytes (never by its name or the client's Content-Type), the size bounded while it
is read. One small module so every service that keeps evidence (inspection, rectification) keeps it
the same way.

    store = EvidenceStore(root, max_bytes=15_000_000)
    stored = await store.save_upload(upload)       # fastapi UploadFile (multipart) or any async byte iterator
    stored.sha256, stored.media_type, stored.size
    store.path_of(sha256)                          # where the bytes are (None when absent)
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from .errors import Problem

CHUNK = 64 * 1024
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

# media type -> Chinese label; what is accepted as evidence unless a service narrows it
MEDIA_TYPES: dict[str, str] = {
    "image/jpeg": "JPEG 图片",
    "image/png": "PNG 图片",
    "image/webp": "WebP 图片",
    "application/pdf": "PDF 文件",
    "video/mp4": "MP4 视频",
}


def sniff(head: bytes) -> str | None:
    """The media type from the first bytes of a file, or None when it is none of ``MEDIA_TYPES``."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in (b"isom", b"mp41", b"mp42", b"avc1", b"iso2", b"MSNV"):
        return "video/mp4"
    return None


def is_sha256(value: str) -> bool:
    return bool(SHA256_RE.match(value or ""))


@dataclass(frozen=True)
class StoredEvidence:
    sha256: str
    media_type: str
    size: int
    created: bool  # False when the same bytes were already stored


class EvidenceStore:
    def __init__(self, root: str | Path, max_bytes: int = 15_000_000, allowed: set[str] | None = None):
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.allowed = set(allowed or MEDIA_TYPES)

    def path_of(self, sha256: str) -> Path | None:
        if not is_sha256(sha256):
            return None
        p = self.root / sha256[:2] / sha256[2:4] / sha256
        return p if p.exists() else None

    async def save_upload(self, upload) -> StoredEvidence:
        """Store a fastapi ``UploadFile`` (read in chunks, never whole)."""

        async def chunks() -> AsyncIterator[bytes]:
            while True:
                block = await upload.read(CHUNK)
                if not block:
                    return
                yield block

        return await self.save_stream(chunks())

    async def save_stream(self, chunks: AsyncIterator[bytes]) -> StoredEvidence:
        tmp_dir = self.root / "tmp"
        await asyncio.to_thread(tmp_dir.mkdir, parents=True, exist_ok=True)
        tmp = tmp_dir / f"{secrets.token_hex(12)}.part"
        h = hashlib.sha256()
        size = 0
        head = b""
        media_type: str | None = None
        fh = await asyncio.to_thread(open, tmp, "wb")
        try:
            async for block in chunks:
                size += len(block)
                if size > self.max_bytes:
                    raise Problem(413, "evidence-too-large", "证据文件过大",
                                  errors=[{"field": "file", "message": f"单个证据文件不得超过 {self.max_bytes // 1_000_000} MB"}])
                if media_type is None:
                    head += block[:16]
                    if len(head) >= 12:
                        media_type = self._check_type(head)
                h.update(block)
                await asyncio.to_thread(fh.write, block)
        except BaseException:
            await asyncio.to_thread(fh.close)
            tmp.unlink(missing_ok=True)
            raise
        await asyncio.to_thread(fh.close)
        if size == 0:
            tmp.unlink(missing_ok=True)
            raise Problem(422, "evidence-empty", "证据文件为空", errors=[{"field": "file", "message": "文件内容为空"}])
        if media_type is None:
            try:
                media_type = self._check_type(head)
            except Problem:
                tmp.unlink(missing_ok=True)
                raise
        digest = h.hexdigest()
        final = self.root / digest[:2] / digest[2:4] / digest
        created = not final.exists()
        if created:
            await asyncio.to_thread(final.parent.mkdir, parents=True, exist_ok=True)
            os.replace(tmp, final)
        else:
            tmp.unlink(missing_ok=True)
        return StoredEvidence(digest, media_type, size, created)

    def _check_type(self, head: bytes) -> str:
        kind = sniff(head)
        if kind is None or kind not in self.allowed:
            names = "、".join(MEDIA_TYPES[m] for m in sorted(self.allowed) if m in MEDIA_TYPES)
            raise Problem(415, "evidence-type", "证据文件类型不受支持",
                          errors=[{"field": "file", "message": f"按文件内容识别的类型不受支持；可上传：{names}"}])
        return kind
