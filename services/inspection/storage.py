"""Evidence storage: content-addressed (SHA-256), streamed to disk without holding the file in
memory, real type by magic bytes, size limits per type.

``EvidenceStore`` is the small interface; ``LocalStore`` keeps blobs under a directory
(``<root>/ab/cd/<sha256>``). An S3-compatible store is selected with ``storage_url = s3://bucket``;
it is not implemented in this build (see docs/architecture.md), and the service refuses to start
with such a setting rather than pretending."""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from shared.errors import Problem

MB = 1024 * 1024
# media type -> (extensions, size limit)
TYPES: dict[str, tuple[tuple[str, ...], int]] = {
    "image/jpeg": ((".jpg", ".jpeg"), 30 * MB),
    "image/png": ((".png",), 30 * MB),
    "image/webp": ((".webp",), 30 * MB),
    "application/pdf": ((".pdf",), 100 * MB),
    "video/mp4": ((".mp4", ".m4v"), 200 * MB),
}
TYPE_NAMES = {"image/jpeg": "JPEG 图片", "image/png": "PNG 图片", "image/webp": "WebP 图片", "application/pdf": "PDF 文档", "video/mp4": "MP4 视频"}
SNIFF_BYTES = 16


def sniff(head: bytes) -> str | None:
    """The real type of a file from its first bytes (not its name or Content-Type)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head[4:8] == b"ftyp" and head[8:12] in (b"isom", b"mp41", b"mp42", b"avc1", b"M4V ", b"iso2", b"MSNV"):
        return "video/mp4"
    return None


def declared_type(filename: str | None, content_type: str | None) -> str | None:
    """What the caller claims: by extension first, else by Content-Type."""
    if filename:
        ext = os.path.splitext(filename)[1].lower()
        for media, (exts, _) in TYPES.items():
            if ext in exts:
                return media
        if ext:
            return "unknown:" + ext
    ct = (content_type or "").split(";")[0].strip().lower()
    if ct in TYPES:
        return ct
    return None


def _refuse(status: int, slug: str, title: str, message: str, field: str = "file") -> Problem:
    return Problem(status, slug, title, detail=message, errors=[{"field": field, "message": message}])


class EvidenceStore:
    async def put(self, chunks: AsyncIterator[bytes], *, filename: str | None, content_type: str | None, max_bytes: int) -> tuple[str, int, str]:
        raise NotImplementedError

    def path(self, sha256: str) -> Path:
        raise NotImplementedError

    def exists(self, sha256: str) -> bool:
        raise NotImplementedError


class LocalStore(EvidenceStore):
    def __init__(self, root: Path | str):
        self.root = Path(root)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    async def put(self, chunks: AsyncIterator[bytes], *, filename: str | None, content_type: str | None, max_bytes: int) -> tuple[str, int, str]:
        """Stream ``chunks`` to a temporary file while hashing; check the real type on the first
        bytes and the size on every chunk. Returns (sha256, size, media_type)."""
        claimed = declared_type(filename, content_type)
        h = hashlib.sha256()
        size = 0
        head = b""
        media: str | None = None
        limit = max_bytes
        fd, tmp = tempfile.mkstemp(dir=self.root / "tmp")
        ok = False
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    if not chunk:
                        continue
                    if media is None:
                        head += chunk[: SNIFF_BYTES - len(head)]
                        if len(head) >= SNIFF_BYTES:
                            media = self._check_type(head, claimed)
                            limit = min(max_bytes, TYPES[media][1])
                    size += len(chunk)
                    if size > limit:
                        raise _refuse(413, "evidence-too-large", "证据文件过大",
                                      f"{TYPE_NAMES.get(media, '该类型')}文件不得超过 {limit // MB} MB")
                    h.update(chunk)
                    out.write(chunk)
            if size == 0:
                raise _refuse(422, "evidence-empty", "证据文件为空", "上传的文件没有内容")
            if media is None:
                media = self._check_type(head, claimed)
            sha = h.hexdigest()
            dest = self.path(sha)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.exists():
                os.unlink(tmp)
            else:
                os.replace(tmp, dest)
            ok = True
            return sha, size, media
        finally:
            if not ok and os.path.exists(tmp):
                os.unlink(tmp)

    @staticmethod
    def _check_type(head: bytes, claimed: str | None) -> str:
        real = sniff(head)
        allowed = "、".join(TYPE_NAMES.values())
        if real is None:
            raise _refuse(415, "evidence-type", "不支持的证据文件类型", f"文件内容不是允许的类型（{allowed}）")
        if claimed is not None and claimed != real:
            raise _refuse(415, "evidence-type-mismatch", "证据文件类型与声明不符",
                          f"文件名或 Content-Type 声称是 {TYPE_NAMES.get(claimed, claimed.removeprefix('unknown:'))}，实际内容是 {TYPE_NAMES[real]}")
        return real


def make_store(storage_url: str | None, default_root: Path) -> EvidenceStore:
    if not storage_url or storage_url.startswith("file://") or "://" not in storage_url:
        root = Path(storage_url.removeprefix("file://")) if storage_url else default_root
        return LocalStore(root)
    if storage_url.startswith("s3://"):
        raise RuntimeError("S3 兼容存储尚未实现：请使用本地目录（SPOTCHECK_INSPECTION_STORAGE_URL=file:///路径）")
    raise RuntimeError(f"未知的证据存储地址: {storage_url}")
