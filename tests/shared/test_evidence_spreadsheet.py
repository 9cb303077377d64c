"""shared.evidence (type by bytes, content addressing, size bound while streaming) and
shared.spreadsheet (formula neutralisation in every written cell)."""
from __future__ import annotations

import hashlib
import io

import pytest

from shared.errors import Problem
from shared.evidence import EvidenceStore, sniff
from shared.spreadsheet import neutralise, xlsx_bytes


async def _chunks(data: bytes, size: int = 7):
    for i in range(0, len(data), size):
        yield data[i:i + size]


def test_sniff_by_magic_bytes():
    assert sniff(b"\xff\xd8\xff\xe0" + b"\0" * 12) == "image/jpeg"
    assert sniff(b"\x89PNG\r\n\x1a\n" + b"\0" * 8) == "image/png"
    assert sniff(b"%PDF-1.4\n" + b"\0" * 8) == "application/pdf"
    assert sniff(b"RIFF\0\0\0\0WEBPVP8 ") == "image/webp"
    assert sniff(b"\0\0\0\x18ftypisom\0\0") == "video/mp4"
    assert sniff(b"MZ\x90\0" + b"\0" * 12) is None  # a Windows executable
    assert sniff(b"<html><script>") is None


async def test_store_is_content_addressed_and_bounded(tmp_path):
    store = EvidenceStore(tmp_path, max_bytes=100)
    data = b"%PDF-1.7\n" + b"x" * 50
    a = await store.save_stream(_chunks(data))  # small chunks: the type is found across them
    assert a.sha256 == hashlib.sha256(data).hexdigest() and a.media_type == "application/pdf" and a.size == len(data) and a.created
    assert store.path_of(a.sha256).read_bytes() == data
    b = await store.save_stream(_chunks(data, 3))
    assert b.sha256 == a.sha256 and not b.created
    with pytest.raises(Problem) as big:
        await store.save_stream(_chunks(b"%PDF-" + b"y" * 200))
    assert big.value.status == 413
    with pytest.raises(Problem) as bad:
        await store.save_stream(_chunks(b"#!/bin/sh\nrm -rf /\n"))
    assert bad.value.status == 415
    with pytest.raises(Problem) as empty:
        await store.save_stream(_chunks(b""))
    assert empty.value.status == 422
    assert list((tmp_path / "tmp").iterdir()) == []  # nothing half-written is left behind
    assert store.path_of("../../etc/passwd") is None


def test_neutralise_and_xlsx():
    import openpyxl

    assert neutralise("=1+1") == "'=1+1" and neutralise("+86") == "'+86" and neutralise("-3") == "'-3" and neutralise("@A1") == "'@A1"
    assert neutralise("\t=x") == "'\t=x" and neutralise("正常文本") == "正常文本" and neutralise(-3) == -3
    data = xlsx_bytes("台帐", ["=标题"], [["=HYPERLINK(\"x\")", 5, True, ["a", "=b"]]])
    rows = list(openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))
    assert rows == [("'=标题", None, None, None), ("'=HYPERLINK(\"x\")", 5, "是", "a；=b")]
