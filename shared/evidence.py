"""Evidence files (照片、扫描件、视频): ONE store for every service that keeps evidence (inspection,
rectification). Uploads are streamed (never held whole in memory), content-addressed by SHA-256,
their type decided by the file's first bytes (never by its name or the client's Content-Type),
their size bounded while they are read.

    store = EvidenceStore(FileBackend(root), max_bytes=15_000_000)      # or store_from_settings(settings, default_root)
    stored = await store.save_upload(upload)              # fastapi UploadFile (multipart)
    stored = await store.save_stream(request.stream(), filename=..., content_type=...)
    stored.sha256, stored.media_type, stored.size, stored.created
    await store.exists(sha256); await store.response(sha256, media_type, headers)   # None when absent

Two backends behind one small interface (``Backend``):

* ``FileBackend`` — a directory (``<root>/ab/cd/<sha256>``), the default (``var/evidence…``).
  A partial upload lives in ``<root>/tmp`` and is removed on any failure; the final name appears
  only by an atomic rename of a complete, fsynced file.
* ``S3Backend`` — any S3-compatible store (MinIO, Ceph RGW, cloud object storage), selected by
  ``evidence_url = s3://bucket/prefix``. Small files (below one part) are hashed first, then
  checked for existence and written once under their final key; larger ones go up as a multipart
  upload under ``<prefix>/tmp/…`` (one part buffered at a time), then are copied server-side to
  their content address unless it already exists, and the temporary object is deleted. A failed
  upload is aborted: no object ever appears under a content address that is not complete.

When the store cannot write, the upload answers problem+json: 507 ``evidence-store-full`` (no
space, a quota reached: ENOSPC/EDQUOT on disk, MinIO's XMinioStorageFull, QuotaExceeded, HTTP 507
from the store, or this store's own ``quota_bytes``) or 503 ``evidence-store-unavailable`` (the
store unreachable, read-only, or refusing for another reason). Nothing is half-written and the
service goes on answering everything else; once space is back, uploads work again.
"""
from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import re
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import Field, model_validator

from .errors import Problem
from .settings import ServiceSettings

log = logging.getLogger("spotcheck.evidence")

CHUNK = 64 * 1024
MB = 1024 * 1024
SNIFF_BYTES = 16
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

# media type -> Chinese label; what is accepted as evidence unless a service narrows it
MEDIA_TYPES: dict[str, str] = {
    "image/jpeg": "JPEG 图片",
    "image/png": "PNG 图片",
    "image/webp": "WebP 图片",
    "application/pdf": "PDF 文件",
    "video/mp4": "MP4 视频",
}
# media type -> the file name extensions that claim it (a claim is checked against the bytes)
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "image/webp": (".webp",),
    "application/pdf": (".pdf",),
    "video/mp4": (".mp4", ".m4v"),
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
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in (b"isom", b"mp41", b"mp42", b"avc1", b"M4V ", b"iso2", b"MSNV"):
        return "video/mp4"
    return None


def declared_type(filename: str | None, content_type: str | None) -> str | None:
    """What the caller claims: by extension first, else by Content-Type (None: no claim)."""
    if filename:
        ext = os.path.splitext(filename)[1].lower()
        for media, exts in EXTENSIONS.items():
            if ext in exts:
                return media
        if ext:
            return "unknown:" + ext
    ct = (content_type or "").split(";")[0].strip().lower()
    return ct if ct in MEDIA_TYPES else None


def is_sha256(value: str) -> bool:
    return bool(SHA256_RE.match(value or ""))


def _size_text(n: int) -> str:
    return f"{n // MB} MB" if n % MB == 0 else f"{n // 1_000_000} MB"


def _refuse(status: int, slug: str, title: str, message: str) -> Problem:
    return Problem(status, slug, title, detail=message, errors=[{"field": "file", "message": message}])


# ---------------------------------------------------------------- store failures
def store_full(reason: str) -> Problem:
    return Problem(507, "evidence-store-full", "证据存储空间已满",
                   detail=f"证据存储已满或达到配额，本次上传未保存（{reason}）。其他功能不受影响，请稍后重试或联系运维扩容。",
                   headers={"Retry-After": "60"})


def store_unavailable(reason: str) -> Problem:
    return Problem(503, "evidence-store-unavailable", "证据存储暂不可用",
                   detail=f"证据存储暂时无法写入或读取，本次操作未保存（{reason}）。其他功能不受影响，请稍后重试。",
                   headers={"Retry-After": "30"})


FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def problem_for_os_error(exc: OSError) -> Problem:
    if exc.errno in FULL_ERRNOS:
        return store_full(os.strerror(exc.errno))
    return store_unavailable(os.strerror(exc.errno) if exc.errno else type(exc).__name__)


# ---------------------------------------------------------------- the backend interface
class Writer(Protocol):
    async def write(self, block: bytes) -> None: ...
    async def commit(self, sha256: str) -> bool: ...  # True when the bytes were new
    async def abort(self) -> None: ...


class Backend(Protocol):
    kind: str

    def describe(self) -> str: ...
    async def open_writer(self) -> Writer: ...
    async def exists(self, sha256: str) -> bool: ...
    async def size(self, sha256: str) -> int | None: ...
    def read(self, sha256: str) -> AsyncIterator[bytes]: ...
    async def check(self) -> None: ...  # raises when the store cannot be reached


@dataclass(frozen=True)
class StoredEvidence:
    sha256: str
    media_type: str
    size: int
    created: bool  # False when the same bytes were already stored


# ---------------------------------------------------------------- filesystem
class _FileWriter:
    def __init__(self, backend: "FileBackend"):
        self.b = backend
        self.tmp = backend.root / "tmp" / f"{secrets.token_hex(12)}.part"
        self.fh = None
        self.written = 0

    async def _open(self) -> None:
        def go():
            self.tmp.parent.mkdir(parents=True, exist_ok=True)
            return open(self.tmp, "wb")

        self.fh = await asyncio.to_thread(go)

    async def write(self, block: bytes) -> None:
        self.written += len(block)
        if self.b.quota_bytes is not None and self.b.used_bytes() + self.written > self.b.quota_bytes:
            raise store_full(f"超过证据存储配额 {_size_text(self.b.quota_bytes)}")
        try:
            await asyncio.to_thread(self.fh.write, block)
        except OSError as exc:
            raise problem_for_os_error(exc) from exc

    async def commit(self, sha256: str) -> bool:
        final = self.b.path(sha256)

        def go() -> bool:
            self.fh.flush()
            os.fsync(self.fh.fileno())
            self.fh.close()
            if final.exists():
                self.tmp.unlink(missing_ok=True)
                return False
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.tmp, final)
            return True

        try:
            created = await asyncio.to_thread(go)
        except OSError as exc:
            await self.abort()
            raise problem_for_os_error(exc) from exc
        if created:
            self.b._add_used(self.written)
        return created

    async def abort(self) -> None:
        def go():
            try:
                if self.fh is not None and not self.fh.closed:
                    self.fh.close()
            except OSError:
                pass  # ENOSPC again while flushing the buffer: the file goes anyway
            self.tmp.unlink(missing_ok=True)

        await asyncio.to_thread(go)


class FileBackend:
    """Blobs under a directory: ``<root>/ab/cd/<sha256>``, partial uploads under ``<root>/tmp``.
    ``quota_bytes`` (optional) bounds what the store may hold, counted from the files present
    when the process starts plus what it stores since (per process: replicas sharing a volume
    should rely on the volume's own quota, which answers ENOSPC/EDQUOT and is handled the same)."""

    kind = "file"

    def __init__(self, root: str | Path, quota_bytes: int | None = None):
        self.root = Path(root)
        self.quota_bytes = quota_bytes
        self._used: int | None = None

    def describe(self) -> str:
        return f"file://{self.root}"

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def path_of(self, sha256: str) -> Path | None:
        if not is_sha256(sha256):
            return None
        p = self.path(sha256)
        return p if p.is_file() else None

    def used_bytes(self) -> int:
        if self._used is None:
            total = 0
            for dirpath, dirnames, files in os.walk(self.root):
                if Path(dirpath) == self.root:
                    dirnames[:] = [d for d in dirnames if d != "tmp"]
                for f in files:
                    try:
                        total += os.stat(os.path.join(dirpath, f)).st_size
                    except OSError:
                        pass
            self._used = total
        return self._used

    def _add_used(self, n: int) -> None:
        if self._used is not None:
            self._used += n

    async def open_writer(self) -> _FileWriter:
        w = _FileWriter(self)
        try:
            await w._open()
        except OSError as exc:
            raise problem_for_os_error(exc) from exc
        return w

    async def exists(self, sha256: str) -> bool:
        return self.path_of(sha256) is not None

    async def size(self, sha256: str) -> int | None:
        p = self.path_of(sha256)
        return p.stat().st_size if p else None

    async def read(self, sha256: str) -> AsyncIterator[bytes]:
        fh = await asyncio.to_thread(open, self.path(sha256), "rb")
        try:
            while block := await asyncio.to_thread(fh.read, CHUNK):
                yield block
        finally:
            fh.close()

    async def check(self) -> None:
        def go():
            (self.root / "tmp").mkdir(parents=True, exist_ok=True)
            if not os.access(self.root / "tmp", os.W_OK):
                raise PermissionError(errno.EACCES, "证据目录不可写")

        await asyncio.to_thread(go)


# ---------------------------------------------------------------- S3-compatible
FULL_S3_CODES = {"XMinioStorageFull", "QuotaExceeded", "XMinioAdminBucketQuotaExceeded", "EntityTooLarge", "InsufficientStorage"}


def problem_for_s3_error(exc: Exception) -> Problem:
    """A botocore error as the problem the client gets (507 when the store is full, else 503)."""
    code, status = "", None
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code") or ""
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    if code in FULL_S3_CODES or status == 507:
        return store_full(f"对象存储：{code or status}")
    return store_unavailable(f"对象存储：{code or status or type(exc).__name__}")


class _S3Writer:
    def __init__(self, backend: "S3Backend"):
        self.b = backend
        self.buf = bytearray()
        self.upload_id: str | None = None
        self.tmp_key: str | None = None
        self.parts: list[dict] = []

    async def _call(self, fn: Callable, **kw) -> Any:
        return await self.b._call(fn, **kw)

    async def write(self, block: bytes) -> None:
        self.buf += block
        if len(self.buf) >= self.b.part_bytes:
            await self._flush_part()

    async def _flush_part(self) -> None:
        c = self.b.client
        if self.upload_id is None:
            self.tmp_key = self.b.key(f"tmp/{secrets.token_hex(12)}")
            r = await self._call(c.create_multipart_upload, Bucket=self.b.bucket, Key=self.tmp_key)
            self.upload_id = r["UploadId"]
        body, self.buf = bytes(self.buf), bytearray()
        n = len(self.parts) + 1
        r = await self._call(c.upload_part, Bucket=self.b.bucket, Key=self.tmp_key, UploadId=self.upload_id, PartNumber=n, Body=body)
        self.parts.append({"ETag": r["ETag"], "PartNumber": n})

    async def commit(self, sha256: str) -> bool:
        c, key = self.b.client, self.b.key(sha256)
        try:
            if self.upload_id is None:  # a small file: whole in one buffer below the part size
                if await self.b.exists(sha256):
                    return False
                await self._call(c.put_object, Bucket=self.b.bucket, Key=key, Body=bytes(self.buf))
                return True
            if self.buf:
                await self._flush_part()
            await self._call(c.complete_multipart_upload, Bucket=self.b.bucket, Key=self.tmp_key, UploadId=self.upload_id,
                             MultipartUpload={"Parts": self.parts})
            self.upload_id = None  # complete: what is left to clean is the temporary object
            created = not await self.b.exists(sha256)
            if created:
                await self._call(c.copy_object, Bucket=self.b.bucket, Key=key, CopySource={"Bucket": self.b.bucket, "Key": self.tmp_key})
            await self._call(c.delete_object, Bucket=self.b.bucket, Key=self.tmp_key)
            self.tmp_key = None
            return created
        except BaseException:
            await self.abort()
            raise

    async def abort(self) -> None:
        c = self.b.client
        self.buf = bytearray()
        try:
            if self.upload_id is not None:
                await self._call(c.abort_multipart_upload, Bucket=self.b.bucket, Key=self.tmp_key, UploadId=self.upload_id)
                self.upload_id = None
            elif self.tmp_key is not None:
                await self._call(c.delete_object, Bucket=self.b.bucket, Key=self.tmp_key)
            self.tmp_key = None
        except Problem:
            # the store is gone: the bucket's lifecycle rule (AbortIncompleteMultipartUpload, expire tmp/)
            # removes what is left; nothing was written under a content address
            log.warning("evidence: could not clean up upload %s (%s)", self.upload_id, self.tmp_key)


class S3Backend:
    """An S3-compatible bucket; objects at ``<prefix>/ab/cd/<sha256>``. botocore is synchronous: its
    calls run in worker threads, one part (``part_bytes``, ≥ 5 MiB as S3 requires) in memory at a
    time per upload, downloads streamed in ``CHUNK`` blocks."""

    kind = "s3"

    def __init__(self, url: str, *, endpoint_url: str | None = None, region: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None, part_bytes: int = 8 * MB,
                 connect_timeout: float = 5, read_timeout: float = 30, max_attempts: int = 2):
        import boto3
        from botocore.config import Config

        rest = url.removeprefix("s3://")
        self.bucket, _, prefix = rest.partition("/")
        if not self.bucket:
            raise ValueError(f"证据存储地址缺少桶名: {url}")
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.part_bytes = max(part_bytes, 5 * MB)
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or "us-east-1",
            aws_access_key_id=access_key or None, aws_secret_access_key=secret_key or None,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, connect_timeout=connect_timeout,
                          read_timeout=read_timeout, retries={"max_attempts": max_attempts, "mode": "standard"},
                          max_pool_connections=20))

    def describe(self) -> str:
        where = f" @ {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{where}".replace("//@", "/@")

    def key(self, name: str) -> str:
        if is_sha256(name):
            name = f"{name[:2]}/{name[2:4]}/{name}"
        return f"{self.prefix}/{name}" if self.prefix else name

    async def _call(self, fn: Callable, **kw) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return await asyncio.to_thread(fn, **kw)
        except (ClientError, BotoCoreError) as exc:
            raise problem_for_s3_error(exc) from exc

    async def open_writer(self) -> _S3Writer:
        return _S3Writer(self)

    async def _head(self, sha256: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404 or exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise problem_for_s3_error(exc) from exc
        except Exception as exc:  # BotoCoreError: connection refused, timeouts
            raise problem_for_s3_error(exc) from exc

    async def exists(self, sha256: str) -> bool:
        return is_sha256(sha256) and await self._head(sha256) is not None

    async def size(self, sha256: str) -> int | None:
        if not is_sha256(sha256):
            return None
        head = await self._head(sha256)
        return None if head is None else int(head["ContentLength"])

    async def read(self, sha256: str) -> AsyncIterator[bytes]:
        r = await self._call(self.client.get_object, Bucket=self.bucket, Key=self.key(sha256))
        body = r["Body"]
        try:
            while block := await asyncio.to_thread(body.read, CHUNK):
                yield block
        finally:
            body.close()

    async def check(self) -> None:
        await self._call(self.client.head_bucket, Bucket=self.bucket)

    async def ensure_bucket(self) -> None:
        """Create the bucket when it is missing (demo, tests, compose); production buckets are provisioned."""
        from botocore.exceptions import ClientError

        try:
            await asyncio.to_thread(self.client.head_bucket, Bucket=self.bucket)
        except ClientError:
            await self._call(self.client.create_bucket, Bucket=self.bucket)


# ---------------------------------------------------------------- the store: checks in front of a backend
class EvidenceStore:
    """Type, size and content address in front of a backend.

    ``max_bytes`` bounds every file; ``type_limits`` (media type → bytes) bounds some types more
    tightly; ``allowed`` narrows the accepted types."""

    def __init__(self, backend: Backend | str | Path, max_bytes: int = 15_000_000, allowed: set[str] | None = None,
                 type_limits: dict[str, int] | None = None):
        self.backend: Backend = FileBackend(backend) if isinstance(backend, (str, Path)) else backend
        self.max_bytes = max_bytes
        self.allowed = set(allowed or MEDIA_TYPES)
        self.type_limits = dict(type_limits or {})

    @property
    def kind(self) -> str:
        return self.backend.kind

    # -- compatibility with the filesystem-only store
    @property
    def root(self) -> Path | None:
        return getattr(self.backend, "root", None)

    def path_of(self, sha256: str) -> Path | None:
        """Where the bytes are on disk (filesystem backend only; None when absent or on S3)."""
        fn = getattr(self.backend, "path_of", None)
        return fn(sha256) if fn else None

    async def exists(self, sha256: str) -> bool:
        return await self.backend.exists(sha256)

    async def save_upload(self, upload, *, check_claim: bool = False) -> StoredEvidence:
        """Store a fastapi ``UploadFile`` (read in chunks, never whole)."""

        async def chunks() -> AsyncIterator[bytes]:
            while True:
                block = await upload.read(CHUNK)
                if not block:
                    return
                yield block

        if check_claim:
            return await self.save_stream(chunks(), filename=upload.filename, content_type=upload.content_type)
        return await self.save_stream(chunks())

    async def save_stream(self, chunks: AsyncIterator[bytes], *, filename: str | None = None, content_type: str | None = None,
                          max_bytes: int | None = None) -> StoredEvidence:
        """Hash, type and bound ``chunks`` while streaming them to the backend. ``filename`` /
        ``content_type``, when given, are a claim the bytes must match (415 otherwise)."""
        claimed = declared_type(filename, content_type) if (filename or content_type) else None
        limit = min(self.max_bytes, max_bytes) if max_bytes else self.max_bytes
        h = hashlib.sha256()
        size = 0
        head = b""
        media: str | None = None
        writer: Writer | None = None
        try:
            async for block in chunks:
                if not block:
                    continue
                if media is None:
                    head += block[: SNIFF_BYTES - len(head)]
                    if len(head) >= SNIFF_BYTES:
                        media = self._check_type(head, claimed)
                        limit = min(limit, self.type_limits.get(media, limit))
                size += len(block)
                if size > limit:
                    what = f"{MEDIA_TYPES[media]}文件" if media and media in self.type_limits else "单个证据文件"
                    raise _refuse(413, "evidence-too-large", "证据文件过大", f"{what}不得超过 {_size_text(limit)}")
                h.update(block)
                if writer is None:
                    writer = await self.backend.open_writer()
                await writer.write(block)
            if size == 0:
                raise _refuse(422, "evidence-empty", "证据文件为空", "上传的文件没有内容")
            if media is None:
                media = self._check_type(head, claimed)
                if size > self.type_limits.get(media, limit):
                    raise _refuse(413, "evidence-too-large", "证据文件过大",
                                  f"{MEDIA_TYPES[media]}文件不得超过 {_size_text(self.type_limits[media])}")
            digest = h.hexdigest()
            created = await writer.commit(digest)
            writer = None
            return StoredEvidence(digest, media, size, created)
        except BaseException:
            if writer is not None:
                await writer.abort()
            raise

    def _check_type(self, head: bytes, claimed: str | None) -> str:
        real = sniff(head)
        if real is None or real not in self.allowed:
            names = "、".join(MEDIA_TYPES[m] for m in sorted(self.allowed) if m in MEDIA_TYPES)
            raise _refuse(415, "evidence-type", "证据文件类型不受支持", f"按文件内容识别的类型不受支持；可上传：{names}")
        if claimed is not None and claimed != real:
            said = MEDIA_TYPES.get(claimed, claimed.removeprefix("unknown:"))
            raise _refuse(415, "evidence-type-mismatch", "证据文件类型与声明不符",
                          f"文件名或 Content-Type 声称是 {said}，实际内容是 {MEDIA_TYPES[real]}")
        return real

    def read_small(self, sha256: str, limit: int = 5 * MB) -> bytes | None:
        """The whole content of a small file (a signature image for a printed form), read
        synchronously (call it from a worker thread); None when absent, unreadable or larger than ``limit``."""
        if not is_sha256(sha256):
            return None
        try:
            path = self.path_of(sha256)
            if path is not None:
                return path.read_bytes() if path.stat().st_size <= limit else None
            if self.backend.kind != "s3":
                return None
            b: Any = self.backend
            r = b.client.get_object(Bucket=b.bucket, Key=b.key(sha256))
            if int(r.get("ContentLength") or 0) > limit:
                r["Body"].close()
                return None
            return r["Body"].read()
        except Exception:  # noqa: BLE001 — a form prints without the image rather than failing
            return None

    async def response(self, sha256: str, media_type: str, headers: dict[str, str] | None = None):
        """A streamed download response for ``sha256`` (FileResponse on disk, chunks from S3), or
        None when the store does not have it."""
        from fastapi.responses import FileResponse, StreamingResponse

        path = self.path_of(sha256)
        if path is not None:
            return FileResponse(path, media_type=media_type, headers=headers)
        if self.backend.kind == "file" or not is_sha256(sha256):
            return None
        size = await self.backend.size(sha256)
        if size is None:
            return None
        return StreamingResponse(self.backend.read(sha256), media_type=media_type,
                                 headers={**(headers or {}), "Content-Length": str(size)})

    async def readiness(self) -> dict:
        """What /ready reports about the store (never fails the probe: the rest of the service works without it)."""
        try:
            await asyncio.wait_for(self.backend.check(), 10)
            return {"backend": self.backend.kind, "location": self.backend.describe(), "ok": True}
        except Exception as exc:  # noqa: BLE001 — reported, not raised
            reason = exc.detail if isinstance(exc, Problem) else f"{type(exc).__name__}: {exc}"
            return {"backend": self.backend.kind, "location": self.backend.describe(), "ok": False, "error": reason}


# ---------------------------------------------------------------- settings
def _read_secret(value: str | None, file: str | None) -> str | None:
    if value:
        return value
    if file:
        return Path(file).read_text(encoding="utf-8").strip()
    return None


class EvidenceSettings(ServiceSettings):
    """Evidence store settings of a service (``SPOTCHECK_<SERVICE>_EVIDENCE_*``); each also read
    without the service prefix (``SPOTCHECK_EVIDENCE_*``) so one set serves every service."""

    evidence_url: str | None = Field(None, description="证据存储：目录路径或 file:///目录（缺省 var/evidence…），或 s3://桶/前缀")
    evidence_s3_endpoint_url: str | None = Field(None, description="S3 兼容存储地址（MinIO 等），缺省为 AWS")
    evidence_s3_region: str | None = None
    evidence_s3_access_key: str | None = None
    evidence_s3_access_key_file: str | None = None
    evidence_s3_secret_key: str | None = None
    evidence_s3_secret_key_file: str | None = Field(None, description="密钥文件（Kubernetes Secret 挂载）")
    evidence_s3_part_bytes: int = Field(8 * MB, ge=5 * MB, le=512 * MB)
    evidence_s3_create_bucket: bool = Field(False, description="桶不存在时创建（演示、compose）")
    evidence_quota_bytes: int | None = Field(None, ge=1, description="文件系统存储的容量上限（字节），达到即按存储已满拒绝")

    @model_validator(mode="before")
    @classmethod
    def _common_env(cls, values: Any) -> Any:
        if isinstance(values, dict):
            prefix = cls.model_config.get("env_prefix", "")
            for name in cls.model_fields:
                if name.startswith("evidence_") and name not in values and f"{prefix}{name.upper()}" not in os.environ:
                    common = os.environ.get(f"SPOTCHECK_{name.upper()}")
                    if common is not None:
                        values[name] = common
        return values


def store_from_settings(settings: Any, default_root: Path, *, url: str | None = None, **store_kw) -> EvidenceStore:
    """The service's store from its settings (``url`` overrides ``evidence_url``)."""
    url = url or getattr(settings, "evidence_url", None)
    if url and url.startswith("s3://"):
        backend: Backend = S3Backend(
            url, endpoint_url=getattr(settings, "evidence_s3_endpoint_url", None), region=getattr(settings, "evidence_s3_region", None),
            access_key=_read_secret(getattr(settings, "evidence_s3_access_key", None), getattr(settings, "evidence_s3_access_key_file", None)),
            secret_key=_read_secret(getattr(settings, "evidence_s3_secret_key", None), getattr(settings, "evidence_s3_secret_key_file", None)),
            part_bytes=getattr(settings, "evidence_s3_part_bytes", 8 * MB))
        if getattr(settings, "evidence_s3_create_bucket", False):
            backend.create_bucket_on_start = True  # type: ignore[attr-defined]
    elif not url or url.startswith("file://") or "://" not in url:
        root = Path(url.removeprefix("file://")) if url else default_root
        backend = FileBackend(root, quota_bytes=getattr(settings, "evidence_quota_bytes", None))
    else:
        raise RuntimeError(f"未知的证据存储地址: {url}（应为目录、file:///目录 或 s3://桶/前缀）")
    return EvidenceStore(backend, **store_kw)


async def on_start(store: EvidenceStore) -> None:
    """At service start: create the bucket when asked to (compose/demo); never fails the start."""
    b = store.backend
    if getattr(b, "create_bucket_on_start", False):
        try:
            await b.ensure_bucket()  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 — the store may come later; /ready reports it
            log.warning("evidence: bucket not created: %s", exc)


def attach(app, store: EvidenceStore) -> EvidenceStore:
    """Give a service app its store: reported by /ready, its bucket created at start when asked."""
    from contextlib import asynccontextmanager

    app.state.ctx.extras["evidence_store"] = store
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a):
        await on_start(store)
        async with inner(a) as state:
            yield state

    app.router.lifespan_context = lifespan
    return store
