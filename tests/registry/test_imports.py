"""Bulk import (CSV and XLSX): a file with one bad row writes nothing and names row and column;
a good file is written in one transaction with one audit entry and summarising events."""
from __future__ import annotations

import csv
import io

import openpyxl
from sqlalchemy import func, select

from services.registry import cli, demo, imports
from services.registry.models import Enterprise, Licence, Person, ProductionSite, kernel
from tests.registry.conftest import licence_number


def _rows(n_enterprises: int, seed: int) -> list[dict]:
    """Demo-style rows with licence numbers unique across this test module."""
    rows = demo.enterprise_rows(n_enterprises=n_enterprises, seed=seed)
    return [{**r, "许可证编号": licence_number(r["许可证编号"][5:7])} for r in rows]


def _csv(rows: list[dict], columns=imports.ENTERPRISE_COLUMNS) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")


def _xlsx(rows: list[dict], columns=imports.ENTERPRISE_COLUMNS) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(columns)
    for r in rows:
        ws.append([r.get(c, "") for c in columns])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


async def _state(registry) -> tuple:
    return tuple([await registry.count(t) for t in (Enterprise, Licence, ProductionSite, Person, kernel.outbox, kernel.audit)])


async def _upload(registry, path, name, data, headers=None):
    ctype = "text/csv" if name.endswith(".csv") else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return await registry.client.post(path, files={"file": (name, data, ctype)}, headers=headers or registry.h())


async def test_csv_with_one_bad_row_writes_nothing_and_names_it(registry):
    rows = _rows(30, seed=11)
    rows[7] = {**rows[7], "许可证编号": "(晋)XK5-001-1"}  # spreadsheet row 9
    before = await _state(registry)
    r = await _upload(registry, "/imports/enterprises", "taiyuan.csv", _csv(rows))
    assert r.status_code == 422, r.text
    doc = r.json()
    assert doc["error_count"] == 1
    assert doc["errors"] == [{"row": 9, "column": "许可证编号", "field": "第9行·许可证编号", "message": "许可证编号格式不正确，应如 (晋)XK05-001-00001"}]
    assert await _state(registry) == before


async def test_xlsx_with_one_bad_row_writes_nothing_and_names_it(registry):
    rows = _rows(20, seed=12)
    rows[3] = {**rows[3], "统一社会信用代码": rows[3]["统一社会信用代码"][:-1] + ("0" if rows[3]["统一社会信用代码"][-1] != "0" else "1")}
    rows[5] = {**rows[5], "发证日期": "2022-01-01", "有效期至": "2021-01-01"}
    before = await _state(registry)
    r = await _upload(registry, "/imports/enterprises", "yuncheng.xlsx", _xlsx(rows))
    assert r.status_code == 422, r.text
    errs = {(e["row"], e["column"]) for e in r.json()["errors"]}
    assert (5, "统一社会信用代码") in errs and (7, "有效期至") in errs
    assert await _state(registry) == before


async def test_header_and_consistency_errors(registry):
    rows = _rows(5, seed=13)
    twin = {**rows[0], "许可证编号": "(晋)XK05-001-99999", "企业名称": "另一个名字有限公司"}
    r = await _upload(registry, "/imports/enterprises", "x.csv", _csv([*rows, twin]))
    assert r.status_code == 422
    assert any(e["column"] == "企业名称" and "一致" in e["message"] for e in r.json()["errors"])
    bad_header = _csv(rows, columns=[*imports.ENTERPRISE_COLUMNS, "信用等级"]).replace(b"\r\n", b",\r\n", 1)
    r = await _upload(registry, "/imports/enterprises", "x.csv", bad_header)
    assert r.status_code == 422 and r.json()["errors"][0]["column"] == "信用等级"
    r = await _upload(registry, "/imports/enterprises", "x.pdf", b"%PDF")
    assert r.status_code == 415


async def test_city_admin_import_outside_its_city_is_refused(registry):
    rows = [r for r in _rows(40, seed=14)]
    before = await _state(registry)
    r = await _upload(registry, "/imports/enterprises", "x.csv", _csv(rows), headers=registry.h(roles=("city_admin",), region="140100"))
    assert r.status_code == 422
    assert all(e["column"] in ("所在地区代码", "生产地址地区代码") for e in r.json()["errors"])
    assert await _state(registry) == before


async def test_good_csv_and_xlsx_are_written_once(registry):
    rows = _rows(25, seed=15)
    r = await _upload(registry, "/imports/enterprises", "good.csv", _csv(rows))
    assert r.status_code == 201, r.text
    s = r.json()
    usccs = {x["统一社会信用代码"] for x in rows}
    assert s["enterprises"] == len(usccs) and s["licences"] == len(rows) and s["rows"] == len(rows)
    async with registry.ctx.db.session() as sess:
        got = set((await sess.execute(select(Enterprise.uscc).where(Enterprise.uscc.in_(usccs)))).scalars())
        events = (await sess.execute(select(kernel.outbox.c.payload).where(kernel.outbox.c.subject.like("%.enterprise.imported")))).scalars().all()
        audits = (await sess.execute(select(kernel.audit.c.action).where(kernel.audit.c.entity_id == s["import_id"]))).scalars().all()
    assert got == usccs
    assert any(s["import_id"] in e for e in events) and audits == ["enterprise.import"]
    # importing the same file again names every enterprise as already registered, writes nothing
    before = await _state(registry)
    r = await _upload(registry, "/imports/enterprises", "good.csv", _csv(rows))
    assert r.status_code == 422 and "已在名录库中" in r.json()["errors"][0]["message"]
    assert await _state(registry) == before
    # xlsx with dates as real date cells
    rows2 = _rows(10, seed=16)
    import datetime as dt
    for x in rows2:
        x["发证日期"] = dt.date.fromisoformat(x["发证日期"])
    r = await _upload(registry, "/imports/enterprises", "good.xlsx", _xlsx(rows2))
    assert r.status_code == 201, r.text


async def test_people_import(registry):
    cols = imports.PEOPLE_COLUMNS
    rows = [
        {"人员类别": "执法人员", "编号": "insp-0901", "姓名": "李明", "层级": "市级", "所在地区代码": "140100", "工作单位": "太原市市场监督管理局",
         "业务条线": "产品质量安全监管", "是否处级干部": "否", "执法证号": "晋市监执12345678", "是否在岗": "是"},
        {"人员类别": "技术专家", "编号": "", "姓名": "王芳", "层级": "省级", "所在地区代码": "140000", "工作单位": "山西省检验检测中心",
         "专业领域": "水泥、电线电缆"},
        {"人员类别": "技术专家", "编号": "", "姓名": "赵强", "层级": "县级", "所在地区代码": "140000", "工作单位": "山西省检验检测中心"},
    ]
    before = await _state(registry)
    r = await _upload(registry, "/imports/people", "people.csv", _csv(rows, cols))
    assert r.status_code == 422 and r.json()["errors"] == [{"row": 4, "column": "层级", "field": "第4行·层级", "message": "层级与地区代码不一致"}]
    assert await _state(registry) == before
    rows[2]["层级"] = "省级"
    r = await _upload(registry, "/imports/people", "people.xlsx", _xlsx(rows, cols))
    assert r.status_code == 201, r.text
    assert r.json()["inspector"] == 1 and r.json()["expert"] == 2
    p = (await registry.client.get("/inspectors/insp-0901", headers=registry.h())).json()
    assert p["certificate_no"] == "晋市监执12345678" and p["law_enforcement_officer"] is True
    experts = (await registry.client.get("/experts", params={"specialty": "cement"}, headers=registry.h())).json()["items"]
    assert [e["name"] for e in experts] == ["王芳"] and experts[0]["specialties"] == ["cement", "wire_cable"]


async def test_cli_import_uses_the_same_domain_function(registry, tmp_path, databases):
    url = await databases.create("registry_cli")
    path = tmp_path / "e.csv"
    demo.generate_csv(path, 120)
    ticks = []
    summary = await cli.run_import("enterprises", str(path), "cli-tester", database_url=url, events_prefix="tcli", progress=lambda d, t: ticks.append((d, t)))
    assert summary["rows"] == 120 and summary["licences"] == 120
    assert ticks[0][0] == 0 and ticks[-1][0] == ticks[-1][1]
    bad = tmp_path / "bad.csv"
    text = path.read_text(encoding="utf-8-sig").splitlines()
    text[3] = text[3].replace("(晋)XK", "(晋)XX", 1)
    bad.write_text("\n".join(text), encoding="utf-8")
    import pytest
    from shared.errors import Problem
    with pytest.raises(Problem) as exc:
        await cli.run_import("enterprises", str(bad), "cli-tester", database_url=url, events_prefix="tcli")
    assert exc.value.errors[0]["row"] == 4


async def test_import_idempotency_key_replays_the_summary(registry):
    data = _csv(_rows(6, seed=17))
    h = {**registry.h(), "Idempotency-Key": "import-seed-17"}
    r1 = await _upload(registry, "/imports/enterprises", "k.csv", data, headers=h)
    before = await _state(registry)
    r2 = await _upload(registry, "/imports/enterprises", "k.csv", data, headers=h)
    assert r1.status_code == r2.status_code == 201 and r1.json() == r2.json()
    assert await _state(registry) == before


async def test_person_unit_is_directory_data_in_the_import_format_and_api(registry):
    """Issue 8 point 3: the person's unit (处室) is data: import column 处室, directory field and filter."""
    cols = imports.PEOPLE_COLUMNS
    assert "处室" in cols
    rows = [
        {"人员类别": "执法人员", "编号": "insp-0951", "姓名": "质监甲", "层级": "省级", "所在地区代码": "140000", "工作单位": "山西省市场监督管理局",
         "处室": "质量监管处", "业务条线": "产品质量安全监管", "是否处级干部": "是", "执法证号": "晋市监执11110001"},
        {"人员类别": "执法人员", "编号": "insp-0952", "姓名": "稽查乙", "层级": "省级", "所在地区代码": "140000", "工作单位": "山西省市场监督管理局",
         "处室": "执法稽查局", "业务条线": "产品质量安全监管", "是否处级干部": "是", "执法证号": "晋市监执11110002"},
    ]
    r = await _upload(registry, "/imports/people", "units.csv", _csv(rows, cols))
    assert r.status_code == 201, r.text
    assert (await registry.client.get("/inspectors/insp-0951", headers=registry.h())).json()["unit"] == "质量监管处"
    listed = (await registry.client.get("/inspectors", params={"unit": "执法稽查局"}, headers=registry.h())).json()["items"]
    assert [p["id"] for p in listed] == ["insp-0952"]
    pop = (await registry.client.get("/population/people", params={"kind": "inspector"}, headers=registry.h())).json()["items"]
    assert {p["id"]: p["unit"] for p in pop if p["id"] in ("insp-0951", "insp-0952")} == {"insp-0951": "质量监管处", "insp-0952": "执法稽查局"}
    body = {"name": "认证丙", "level": "province", "region_code": "140000", "organisation": "山西省市场监督管理局", "unit": "认证监管处"}
    r = await registry.client.post("/inspectors", json=body, headers=registry.h())
    assert r.status_code == 201 and r.json()["unit"] == "认证监管处"
    r = await registry.client.patch(f"/inspectors/{r.json()['id']}", json={"unit": "质量监管处"}, headers={**registry.h(), "If-Match": '"v1"'})
    assert r.status_code == 200 and r.json()["unit"] == "质量监管处"


async def test_postgres_import_copies_inside_the_callers_transaction(registry, monkeypatch):
    """On PostgreSQL the rows go in with COPY (every table of the import), on the connection of
    the caller's transaction: a failure after the COPY leaves nothing behind."""
    import pytest

    from services.registry.recording import Recorder

    if not registry.url.startswith("postgresql"):
        pytest.skip("PostgreSQL only (TEST_DATABASE_URL)")
    copied: list[str] = []
    real_copy = imports._copy

    async def spy(session, table, columns, rows, progress):
        copied.append(table.name)
        await real_copy(session, table, columns, rows, progress)

    monkeypatch.setattr(imports, "_copy", spy)
    rows = _rows(12, seed=31)
    table = imports.read_table("copy.csv", _csv(rows))
    before = await _state(registry)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with registry.ctx.db.transaction() as s:
            await imports.import_enterprises(s, Recorder("test"), "tester", table)
            assert await s.scalar(select(func.count()).select_from(Licence).where(Licence.number.in_([r["许可证编号"] for r in rows]))) == len(rows)
            raise Boom
    assert copied == ["enterprise", "production_site", "licence", "licence_status_change"]
    assert await _state(registry) == before
    async with registry.ctx.db.transaction() as s:
        summary = await imports.import_enterprises(s, Recorder("test"), "tester", table)
    assert summary["licences"] == len(rows)
    assert (await _state(registry))[1] == before[1] + len(rows)


async def test_characters_xml_cannot_hold_are_refused_by_row_and_column(registry):
    """Regression audit: an enterprise name with U+0001 and U+FFFF came in by CSV import (imports do not go
    through the body models) and would have corrupted every later XLSX it appeared in."""
    rows = _rows(5, seed=41)
    rows[1] = {**rows[1], "企业名称": "审计\x01测试\uffff包装有限公司"}  # spreadsheet row 3
    before = await _state(registry)
    r = await _upload(registry, "/imports/enterprises", "bad-chars.csv", _csv(rows))
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [{"row": 3, "column": "企业名称", "field": "第3行·企业名称", "message": "含有控制字符或非法字符，请删除后重新导入"}]
    assert await _state(registry) == before
