"""The one evidence store (shared.evidence) on both backends: the filesystem, and S3 for real
against an in-process S3 server (moto over HTTP): content addressing, de-duplication by an
existence check, multipart upload of a large file streamed in small chunks, streamed download,
nothing left behind by a refused or failed upload, and the store full (ENOSPC from the kernel via
/dev/full, a quota, a full MinIO's 507) or gone answering 507/503 until it is back."""
from __future__ import annotations

import hashlib
import os

import pytest

from shared.errors import Problem
from shared.evidence import MB, EvidenceSettings, EvidenceStore, FileBackend, S3Backend, _FileWriter, store_from_settings
from shared.settings import settings_for
from tests.s3server import S3Server

PDF_HEAD = b"%PDF-1.7\n"


async def _chunks(data: bytes, size: int = 64 * 1024):
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def _generated(total: int, seed: bytes = b"x", size: int = 256 * 1024):
    """``total`` bytes of a PDF made on the fly (never held whole), and its SHA-256 computed alongside."""
    yield PDF_HEAD
    left = total - len(PDF_HEAD)
    block = (seed * size)[:size]
    while left > 0:
        yield block[:left]
        left -= len(block)


def _sha_of_generated(total: int, seed: bytes = b"x", size: int = 256 * 1024) -> str:
    h = hashlib.sha256(PDF_HEAD)
    left = total - len(PDF_HEAD)
    block = (seed * size)[:size]
    while left > 0:
        h.update(block[:left])
        left -= len(block)
    return h.hexdigest()


@pytest.fixture(scope="module")
def s3():
    with S3Server() as server:
        yield server


def _s3_store(s3: S3Server, bucket: str, **kw) -> EvidenceStore:
    s3.make_bucket(bucket)
    backend = S3Backend(f"s3://{bucket}/evidence", endpoint_url=s3.endpoint, region="us-east-1", access_key="test",
                        secret_key="test-secret", part_bytes=5 * MB)
    return EvidenceStore(backend, **kw)


async def _body(response) -> bytes:
    out = b""
    async for block in response.body_iterator:
        out += block
    return out


# ---------------------------------------------------------------- filesystem
async def test_file_claims_and_type_limits(tmp_path):
    store = EvidenceStore(FileBackend(tmp_path), max_bytes=10_000, type_limits={"image/png": 100})
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 200
    with pytest.raises(Problem) as lying:
        await store.save_stream(_chunks(PDF_HEAD + b"x" * 40), filename="photo.jpg")
    assert lying.value.status == 415 and lying.value.slug == "evidence-type-mismatch"
    with pytest.raises(Problem) as big:
        await store.save_stream(_chunks(png, 7))
    assert big.value.status == 413 and "PNG" in big.value.detail
    ok = await store.save_stream(_chunks(PDF_HEAD + b"y" * 500), filename="scan.pdf", content_type="application/pdf")
    assert ok.media_type == "application/pdf" and await store.exists(ok.sha256)
    assert store.read_small(ok.sha256) == PDF_HEAD + b"y" * 500
    assert list((tmp_path / "tmp").iterdir()) == []


async def test_file_enospc_is_507_nothing_left_and_recovers(tmp_path, monkeypatch):
    store = EvidenceStore(FileBackend(tmp_path))
    real_open = _FileWriter._open

    async def disk_full(self):
        await real_open(self)  # the partial file exists ...
        self.fh.close()
        self.fh = open("/dev/full", "wb", buffering=0)  # ... and every write gets ENOSPC from the kernel

    monkeypatch.setattr(_FileWriter, "_open", disk_full)
    data = PDF_HEAD + os.urandom(300_000)
    with pytest.raises(Problem) as full:
        await store.save_stream(_chunks(data))
    assert full.value.status == 507 and full.value.slug == "evidence-store-full" and "Retry-After" in full.value.headers
    assert list((tmp_path / "tmp").iterdir()) == []  # the partial file is gone
    assert not await store.exists(hashlib.sha256(data).hexdigest())
    monkeypatch.setattr(_FileWriter, "_open", real_open)  # space is back
    stored = await store.save_stream(_chunks(data))
    assert stored.created and store.path_of(stored.sha256).read_bytes() == data


async def test_file_quota_is_507_and_counts_what_is_there(tmp_path):
    first = EvidenceStore(FileBackend(tmp_path))
    await first.save_stream(_chunks(PDF_HEAD + b"a" * 591))  # 600 bytes already in the store
    store = EvidenceStore(FileBackend(tmp_path, quota_bytes=1000))
    with pytest.raises(Problem) as full:
        await store.save_stream(_chunks(PDF_HEAD + b"b" * 491))  # 600 + 500 > 1000
    assert full.value.status == 507
    assert list((tmp_path / "tmp").iterdir()) == []
    assert (await store.save_stream(_chunks(PDF_HEAD + b"c" * 291))).created  # 600 + 300 fits


def test_settings_select_the_backend(tmp_path, monkeypatch):
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t\n")
    monkeypatch.setenv("SPOTCHECK_EVIDENCE_URL", "s3://common-bucket/x")  # without the service prefix: every service
    monkeypatch.setenv("SPOTCHECK_EVIDENCE_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SPOTCHECK_DEMOSVC_EVIDENCE_S3_SECRET_KEY_FILE", str(secret))
    monkeypatch.setenv("SPOTCHECK_DEMOSVC_EVIDENCE_S3_ACCESS_KEY", "ak")
    settings = settings_for("demosvc", EvidenceSettings)
    store = store_from_settings(settings, tmp_path / "default")
    assert store.kind == "s3" and store.backend.bucket == "common-bucket" and store.backend.prefix == "x"
    creds = store.backend.client._request_signer._credentials
    assert (creds.access_key, creds.secret_key) == ("ak", "s3cr3t")
    monkeypatch.setenv("SPOTCHECK_DEMOSVC_EVIDENCE_URL", str(tmp_path / "dir"))  # the service's own setting wins
    store = store_from_settings(settings_for("demosvc", EvidenceSettings), tmp_path / "default")
    assert store.kind == "file" and store.root == tmp_path / "dir"
    with pytest.raises(RuntimeError):
        store_from_settings(settings, tmp_path, url="ftp://nope")


# ---------------------------------------------------------------- S3
async def test_s3_small_file_content_addressed_and_deduplicated(s3):
    store = _s3_store(s3, "small")
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(10_000)
    a = await store.save_stream(_chunks(data, 1000), filename="p.png")
    sha = hashlib.sha256(data).hexdigest()
    assert a.sha256 == sha and a.created and a.media_type == "image/png"
    assert s3.keys("small") == [f"evidence/{sha[:2]}/{sha[2:4]}/{sha}"]
    b = await store.save_stream(_chunks(data, 333))
    assert b.sha256 == sha and not b.created  # the existence check: not written twice
    resp = await store.response(sha, "image/png", {"X-Test": "1"})
    assert resp.headers["content-length"] == str(len(data)) and resp.headers["x-test"] == "1"
    assert await _body(resp) == data
    assert store.read_small(sha) == data
    assert await store.response("0" * 64, "image/png") is None
    assert (await store.readiness())["ok"] is True


async def test_s3_large_file_multipart_streamed(s3):
    store = _s3_store(s3, "large", max_bytes=100 * MB)
    total = 17 * MB + 123  # four parts of 5 MiB (the last short), never in memory whole
    stored = await store.save_stream(_generated(total))
    assert stored.sha256 == _sha_of_generated(total) and stored.size == total and stored.created
    # the temporary multipart object is gone; only the content address remains
    assert s3.keys("large") == [store.backend.key(stored.sha256)] and s3.open_uploads("large") == []
    assert (await store.backend.size(stored.sha256)) == total
    h, n = hashlib.sha256(), 0
    async for block in store.backend.read(stored.sha256):
        assert len(block) <= 64 * 1024  # streamed in small blocks
        h.update(block)
        n += len(block)
    assert h.hexdigest() == stored.sha256 and n == total
    again = await store.save_stream(_generated(total))  # the same large file: copied nowhere, temp removed
    assert not again.created and s3.keys("large") == [store.backend.key(stored.sha256)] and s3.open_uploads("large") == []


async def test_s3_refused_upload_leaves_nothing(s3):
    store = _s3_store(s3, "refused", max_bytes=12 * MB)
    with pytest.raises(Problem) as big:
        await store.save_stream(_generated(13 * MB))  # two parts already uploaded when the limit is passed
    assert big.value.status == 413
    assert s3.keys("refused") == [] and s3.open_uploads("refused") == []


async def test_s3_full_is_507_then_unreachable_is_503_and_recovers(s3):
    store = _s3_store(s3, "fullb")
    small = b"\xff\xd8\xff\xe0" + os.urandom(5000)
    large_total = 11 * MB
    s3.full = True
    try:
        for source in (lambda: _chunks(small), lambda: _generated(large_total, b"z")):
            with pytest.raises(Problem) as full:
                await store.save_stream(source())
            assert full.value.status == 507 and full.value.slug == "evidence-store-full"
    finally:
        s3.full = False
    assert s3.keys("fullb") == []
    s3.stop()
    try:
        with pytest.raises(Problem) as gone:
            await store.save_stream(_chunks(small))
        assert gone.value.status == 503 and gone.value.slug == "evidence-store-unavailable"
        ready = await store.readiness()
        assert ready["ok"] is False and ready["backend"] == "s3"
    finally:
        s3.start()
    stored = await store.save_stream(_chunks(small))  # back: works again
    assert stored.created and s3.keys("fullb") == [store.backend.key(stored.sha256)]
    assert s3.open_uploads("fullb") == []
