"""Issue 7 points 6 and 7: import bombs are refused at the first limit crossed, quickly and
without blocking the service; CSV with bare CR line ends or an oversized field is a 422;
error answers stay small whatever the file says."""
from __future__ import annotations

import asyncio
import io
import time
import zipfile

import openpyxl

from services.registry import imports
from services.registry.app import create_app
from shared.auth import TokenVerifier
from shared.migrations import upgrade_async
from shared.settings import settings_for
from tests.helpers import running

HEADER = ",".join(imports.ENTERPRISE_COLUMNS)


def xlsx(rows, dimension: str | None = None) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    if dimension is None:
        return buf.getvalue()
    # rewrite the sheet's declared used range, as a crafted file would
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                import re

                data = re.sub(rb'<dimension ref="[^"]*"', f'<dimension ref="{dimension}"'.encode(), data)
            dst.writestr(info, data)
    return out.getvalue()


def bomb_xlsx(cell_bytes: int) -> bytes:
    """A valid-looking XLSX whose shared strings part inflates to ``cell_bytes``."""
    base = xlsx([["企业名称"], ["x"]])
    src = zipfile.ZipFile(io.BytesIO(base))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info.filename))
        dst.writestr("xl/padding.bin", b"A" * cell_bytes)
    return out.getvalue()


async def post(c, headers, name, data):
    return await c.post("/imports/enterprises", headers=headers, files={"file": (name, data)})


def small_problem(r, status=422, max_bytes=64 * 1024):
    assert r.status_code == status, r.text[:500]
    assert r.headers["content-type"].startswith("application/problem+json")
    assert len(r.content) < max_bytes, len(r.content)
    return r.json()


async def test_import_bombs_and_bad_csv(databases, nats_url, events_prefix, keys):
    url = await databases.create("registry")
    await upgrade_async("services.registry", url)
    app = create_app(settings_for("registry", database_url=url, nats_url=nats_url, events_prefix=events_prefix, max_body_bytes=8_000_000),
                     verifier=TokenVerifier("spotcheck-gateway", "spotcheck", jwks=keys.jwks))
    h = keys.headers(sub="prov", roles=("province_admin",), region="140000")
    async with running(app) as c:
        # a used range declared up to XFD1048576: only the cells present are read
        started = time.monotonic()
        r = await post(c, h, "wide.xlsx", xlsx([imports.ENTERPRISE_COLUMNS, ["x"] * 3], dimension="A1:XFD1048576"))
        assert time.monotonic() - started < 30
        small_problem(r)  # the rows are invalid (422 report), but answered at once

        # a cell far to the right: refused at the column limit
        row = [None] * 16383 + ["x"]
        body = small_problem(await post(c, h, "farcol.xlsx", xlsx([imports.ENTERPRISE_COLUMNS, row])))
        assert body["type"].endswith("import-too-large") and "列" in body["detail"]

        # too many rows: refused at the row limit, the rest never read
        many = xlsx([imports.ENTERPRISE_COLUMNS] + [["a"]] * (imports.API_LIMITS.max_rows + 5))
        body = small_problem(await post(c, h, "rows.xlsx", many))
        assert body["type"].endswith("import-too-large") and "行" in body["detail"]

        # a part that inflates beyond the limit: refused from the zip directory, never inflated
        body = small_problem(await post(c, h, "bomb.xlsx", bomb_xlsx(imports.API_LIMITS.max_uncompressed_bytes + 1)))
        assert body["type"].endswith("import-too-large") and "解压" in body["detail"]

        # one huge cell
        body = small_problem(await post(c, h, "cell.csv", (HEADER + "\n" + "x" * 50_000 + "\n").encode()))
        assert body["type"].endswith("import-too-large")

        # unknown header text is not echoed at length: a 1 MB header gives a small answer
        huge_headers = ",".join(f"列{i}" + "y" * 2000 for i in range(39))
        small_problem(await post(c, h, "hdr.csv", (huge_headers + "\n1\n").encode()), max_bytes=40 * 1024)

        # CSV with bare CR line ends, and a field beyond the csv module's own limit: 422, not 500
        # (bare CR is read as the line end old spreadsheets wrote: the row is then validated)
        body = small_problem(await post(c, h, "mac.csv", (HEADER + "\r" + "a,b\r").encode()))
        assert body["type"].endswith("import-invalid") and {e["row"] for e in body["errors"]} == {2}
        body = small_problem(await post(c, h, "field.csv", (HEADER + "\n\"" + "z" * 200_000 + "\"\n").encode()))
        assert body["type"].endswith(("import-unreadable", "import-too-large"))

        # the event loop stays free while a large file is parsed
        big = (HEADER + "\n" + "\n".join("山西测试企业,91140105MA0K12345X,140105,地址,,,,(晋)XK05-001-00001,rebar,,2021-01-01" for _ in range(40_000))).encode()
        task = asyncio.create_task(post(c, h, "big.csv", big))
        await asyncio.sleep(0.05)
        ticks = 0
        while not task.done():
            t = time.monotonic()
            await asyncio.sleep(0.01)
            assert time.monotonic() - t < 2.0  # never blocked for long
            ticks += 1
        small_problem(task.result(), max_bytes=200 * 1024)
        assert (await c.get("/health")).status_code == 200


def _rewrite(base: bytes, replace: dict[str, bytes], add: dict[str, bytes] | None = None) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(base))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            for old, new in replace.get(info.filename, {}).items():
                data = data.replace(old, new)
            dst.writestr(info.filename, data)
        for name, data in (add or {}).items():
            dst.writestr(name, data)
    return out.getvalue()


SHEET = "xl/worksheets/sheet1.xml"


def wide_empty_rows(n: int) -> bytes:
    """n rows each ending in an empty cell in the last column Excel has (XFD)."""
    rows = b"".join(b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>x</t></is></c><c r="XFD%d"/></row>' % (i, i, i) for i in range(2, n + 2))
    return _rewrite(xlsx([imports.ENTERPRISE_COLUMNS]), {SHEET: {b"</row></sheetData>": b"</row>" + rows + b"</sheetData>"}})


def repeated_first_row(n: int) -> bytes:
    """n repeats of <row r="1">: openpyxl yields only increasing row numbers."""
    row = b'<row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c></row>'
    return _rewrite(xlsx([["企业名称"], ["x"]]), {SHEET: {b"<sheetData>": b"<sheetData>" + row * n}})


def huge_shared_strings(size: int) -> bytes:
    si = b"<si><t>a</t></si>"
    n = size // len(si) + 1
    sst = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
           b' count="%d" uniqueCount="%d">' % (n, n)) + si * n + b"</sst>"
    return _rewrite(xlsx([["企业名称"], ["x"]]), {
        "[Content_Types].xml": {b"</Types>": b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'},
        "xl/_rels/workbook.xml.rels": {b"</Relationships>": b'<Relationship Id="rIdSST" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>'},
    }, {"xl/sharedStrings.xml": sst})


async def test_xlsx_structure_bombs_are_refused_before_openpyxl_reads_them(databases, nats_url, events_prefix, keys, monkeypatch):
    """Audit of issue 7 #6: small files that tied the registry up for a minute. Repeated row
    numbers and an oversized shared-strings part are refused by the streaming pre-scan before
    openpyxl opens the workbook; empty cells far to the right are never materialised."""
    limits = imports.API_LIMITS
    dup = repeated_first_row(limits.max_rows + 2)
    sst = huge_shared_strings(limits.max_part_bytes + 1)
    wide = wide_empty_rows(50)
    assert max(len(dup), len(sst), len(wide)) < 400_000  # small uploads

    opened = []
    real_load = openpyxl.load_workbook
    monkeypatch.setattr(openpyxl, "load_workbook", lambda *a, **kw: opened.append(1) or real_load(*a, **kw))
    for data, words in ((dup, "数据行超过"), (sst, "sharedStrings.xml")):
        try:
            imports.read_table("x.xlsx", data)
        except Exception as exc:  # noqa: BLE001 - the Problem is inspected below
            assert getattr(exc, "status", None) == 422 and words in exc.detail, exc
        else:
            raise AssertionError("accepted")
    assert opened == []  # refused before openpyxl was asked to load anything

    # rows ending in an empty XFD cell: read, but never wider than the column limit
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet
    widths = []
    real_get_row = ReadOnlyWorksheet._get_row
    monkeypatch.setattr(ReadOnlyWorksheet, "_get_row", lambda self, *a, **kw: widths.append(len(r := real_get_row(self, *a, **kw))) or r)
    table = imports.read_table("x.xlsx", wide)
    assert len(table.rows) == 50 and widths and max(widths) <= limits.max_columns
    # ...while a value out there is still refused at the column limit
    far = _rewrite(wide, {SHEET: {b'<c r="XFD3"/>': b'<c r="XFD3"><v>1</v></c>'}})
    try:
        imports.read_table("x.xlsx", far)
    except Exception as exc:  # noqa: BLE001
        assert exc.status == 422 and "第3行超过" in exc.detail, exc
    else:
        raise AssertionError("accepted")
    # the wall-clock deadline stops a parse
    try:
        imports.read_table("x.xlsx", wide, imports.Limits(max_parse_seconds=-1))
    except Exception as exc:  # noqa: BLE001
        assert exc.status == 422 and "秒" in exc.detail, exc
    else:
        raise AssertionError("accepted")

    url = await databases.create("registry")
    await upgrade_async("services.registry", url)
    app = create_app(settings_for("registry", database_url=url, nats_url=nats_url, events_prefix=events_prefix, max_body_bytes=8_000_000),
                     verifier=TokenVerifier("spotcheck-gateway", "spotcheck", jwks=keys.jwks))
    h = keys.headers(sub="prov", roles=("province_admin",), region="140000")
    async with running(app) as c:
        body = small_problem(await post(c, h, "dup.xlsx", dup))
        assert body["type"].endswith("import-too-large") and "行" in body["detail"]
        body = small_problem(await post(c, h, "sst.xlsx", sst))
        assert body["type"].endswith("import-too-large") and "解压后超过" in body["errors"][0]["message"]
        small_problem(await post(c, h, "wide.xlsx", wide))  # the rows are incomplete: the usual report

        # at most MAX_CONCURRENT_IMPORTS files parsed at once per process; the next one is told to retry
        import threading

        from services.registry import api as registry_api

        gate = threading.Event()
        real_read = imports.read_table
        monkeypatch.setattr(imports, "read_table", lambda *a, **kw: gate.wait(60) and real_read(*a, **kw))
        held = [asyncio.create_task(post(c, h, f"held{i}.csv", (HEADER + "\n").encode())) for i in range(registry_api.MAX_CONCURRENT_IMPORTS)]
        try:
            async def busy():
                return getattr(app.state, "imports_running", 0) == registry_api.MAX_CONCURRENT_IMPORTS
            from tests.helpers import eventually
            await eventually(busy)
            r = await post(c, h, "more.csv", (HEADER + "\n").encode())
            body = small_problem(r, status=429)
            assert body["type"].endswith("imports-busy") and r.headers["Retry-After"]
        finally:
            gate.set()
        for t in held:
            assert (await t).status_code in (201, 422)
        assert app.state.imports_running == 0
        assert (await post(c, h, "again.csv", (HEADER + "\n").encode())).status_code in (201, 422)
