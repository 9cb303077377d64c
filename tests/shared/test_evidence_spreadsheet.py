"""shared.evidence (type by bytes, content addressing, size bound while streaming) and
shared.spreadsheet (formula neutralisation in every written cell)."""
from __future__ import annotations

import hashlib
import io

import pytest

from shared.errors import Problem
from shared.evidence import EvidenceStore, sniff
from shared.schemas import StrictModel
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


async def test_control_characters_are_refused_in_bodies_and_never_break_an_export():
    """A stored U+0001 made openpyxl refuse the cell and the whole region's XLSX export answer 500 (attacker
    audit): request bodies refuse such strings with a 422 naming the place; cells already stored are written
    with U+FFFD, and the workbook opens."""
    import io

    import openpyxl
    import httpx
    from fastapi import FastAPI

    from shared.errors import install_error_handlers
    from shared.schemas import control_character_path
    from shared.spreadsheet import safe_cell, xlsx_bytes

    app = FastAPI()
    install_error_handlers(app)

    @app.post("/x")
    def x(body: _Body):
        return {"ok": True}

    c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    assert (await c.post("/x", json={"note": "第一行\n第二行\t制表", "lines": [{"text": "正常"}]})).status_code == 200
    r = await c.post("/x", json={"note": "正常", "lines": [{"text": "ok"}, {"text": "坏\u0001"}]})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"] == [{"field": "lines.1.text", "message": "含有控制字符或非法字符（制表符、换行以外），请删除后重试", "code": "control_character"}]
    r = await c.post("/x", json={"note": "\u001b[31m"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "note"
    r = await c.post("/x", json={"note": "正常\uffff"})  # a non-character: also not XML (a regression audit's corrupt export)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "note"
    assert control_character_path({"a": ["x", {"b\u0000": 1}]}) == ("a", 1, "b\u0000")
    assert control_character_path({"a": "\u007f and \u00a0 are not C0"}) is None
    deep: dict = {"x": "\u0001"}
    for _ in range(5000):  # deeper than Python's recursion limit: the walk uses no stack
        deep = {"a": [deep]}
    path = control_character_path(deep)
    assert path is not None and len(path) == 10001 and path[-1] == "x"

    assert safe_cell("正常\ufffe\uffff") == "正常\ufffd\ufffd"
    assert safe_cell("正常\u0001") == "正常\ufffd" and safe_cell("=1+1\u0002") == "'=1+1\ufffd" and safe_cell(5) == 5
    data = xlsx_bytes("导出", ["名称", "说明"], [["企业\u0001", "正常\u000b说明\uffff"], ["", None]])
    ws = openpyxl.load_workbook(io.BytesIO(data)).active  # (U+FFFF made the sheet XML not well-formed)
    assert [c.value for c in ws[2]] == ["企业\ufffd", "正常\ufffd说明\ufffd"]
    from shared.errors import Problem, check_text
    check_text("filename", "现场照片.png")
    with pytest.raises(Problem) as e:
        check_text("filename", "a\u0001b.png")
    assert e.value.status == 422 and e.value.errors[0]["field"] == "filename"


class _Line(StrictModel):
    text: str


class _Body(StrictModel):
    note: str
    lines: list[_Line] = []
