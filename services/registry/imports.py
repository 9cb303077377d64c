"""Bulk import of enterprises/licences and of inspectors/experts from CSV or XLSX files, in the
columns a city bureau keeps (first row = Chinese headers; 序号 and 备注 columns are ignored).

Enterprise file — one row per licence; rows with the same 统一社会信用代码 form one enterprise:
  企业名称*, 统一社会信用代码*, 所在地区代码* (县级代码), 地址*, 法定代表人, 联系电话,
  生产状态 (在产/停产/转产/关停, default 在产), 许可证编号* ((晋)XK05-001-00001),
  产品类别* (catalogue code or Chinese name), 产品名称, 发证日期*, 有效期至 (default 发证日期+5年-1天),
  许可证状态 (有效/暂停/撤销/吊销/注销, default 有效), 生产地址, 生产地址地区代码
  (default: 地址/所在地区代码; several sites separated by "；" with their codes in the same order;
  the distinct sites over all rows of an enterprise become its production sites),
  国抽不合格日期, 国抽不合格来源 (近5年国家监督抽查不合格), 省抽不合格日期, 省抽不合格来源 (2021年省级监督抽查不合格).
People file — one row per person:
  人员类别* (执法人员/技术专家), 编号 (insp-0001/exp-0001; blank = next free), 姓名*, 层级 (省级/市级/县级;
  default from the code), 所在地区代码*, 工作单位*, 处室 (unit, e.g. 质量监管处), 业务条线, 是否处级干部 (是/否), 执法证号,
  专业领域 (category codes or names separated by 、 , ; — experts only), 是否在岗 (是/否, default 是).

Every row is validated first (format, catalogue, region inside the importer's jurisdiction,
consistency of the rows of one enterprise, duplicates in the file and in the registry). If any
row fails nothing is written and the report names row (as the spreadsheet numbers it), column
and reason, capped at ``MAX_ERRORS``. Otherwise everything is written in ONE transaction with
bulk inserts. Existing enterprises, licence numbers and person ids are refused (changes to
registered records go through the API, which keeps their version and history). On PostgreSQL
the rows go in with binary ``COPY`` (asyncpg ``copy_records_to_table``) on the transaction's own
connection; on SQLite with ``executemany`` in chunks.

Size: through the API an upload is bounded by the service's body limit
(``SPOTCHECK_REGISTRY_MAX_BODY_BYTES``, default 2 MB, roughly 6,000 enterprise rows); larger files go
through ``spotcheck import enterprises FILE``, which calls the same function.

Events: one audit entry per import, and summarising events instead of one per row:
``enterprise.imported`` (counts, the import id, and the list of uscc — split into parts of
``EVENT_CHUNK`` enterprises so no message exceeds the broker's payload limit) and
``person.imported`` (counts and ids)."""
from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import region_covers, region_level
from shared.canonical import digest
from shared.db import new_id, utcnow
from shared.errors import Problem
from shared.schemas import CONTROL_CHARACTERS
from shared import regions

from . import validation as v
from .models import Enterprise, Licence, LicenceStatusChange, Person, PersonSpecialty, ProductionSite

MAX_ERRORS = 200
EVENT_CHUNK = 5000
INSERT_CHUNK = 5000
COPY_CHUNK = 20000
IGNORED = {"序号", "备注"}

ENTERPRISE_COLUMNS = [
    "企业名称", "统一社会信用代码", "所在地区代码", "地址", "法定代表人", "联系电话", "生产状态", "许可证编号", "产品类别", "产品名称",
    "发证日期", "有效期至", "许可证状态", "生产地址", "生产地址地区代码", "国抽不合格日期", "国抽不合格来源", "省抽不合格日期", "省抽不合格来源",
]
ENTERPRISE_REQUIRED = ["企业名称", "统一社会信用代码", "所在地区代码", "地址", "许可证编号", "产品类别", "发证日期"]
PEOPLE_COLUMNS = ["人员类别", "编号", "姓名", "层级", "所在地区代码", "工作单位", "处室", "业务条线", "是否处级干部", "执法证号", "专业领域", "是否在岗"]
PEOPLE_REQUIRED = ["人员类别", "姓名", "所在地区代码", "工作单位"]
KINDS = {"执法人员": "inspector", "执法检查人员": "inspector", "inspector": "inspector", "技术专家": "expert", "专家": "expert", "expert": "expert"}
LEVEL_NAMES = {"省级": "province", "市级": "city", "县级": "county", "province": "province", "city": "city", "county": "county"}
YES = {"是": True, "否": False, "true": True, "false": False, "1": True, "0": False, "y": True, "n": False}


# ---------------------------------------------------------------- reading files
@dataclass
class Table:
    headers: list[str]
    rows: list[tuple[int, dict[str, object]]]  # (spreadsheet row number, column -> value)


def _cell(value) -> object:
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


@dataclass(frozen=True)
class Limits:
    """Bounds on an import file, checked before and while it is parsed (the first one crossed
    stops the parse with a 422). The API uses ``API_LIMITS``; ``spotcheck import`` (an operator
    on the server) the larger ``CLI_LIMITS``."""

    max_rows: int = 50_000  # data rows (empty rows count: they cost parsing too)
    max_columns: int = 40
    max_cell_chars: int = 2_000
    max_uncompressed_bytes: int = 64 * 1024 * 1024  # XLSX: all parts of the zip, as declared
    max_zip_entries: int = 200
    # XLSX: every part but the worksheets (shared strings, styles, workbook...), as declared; openpyxl
    # loads those whole before the first row is read (60 MB of tiny shared strings took ~0.5 GB)
    max_part_bytes: int = 8 * 1024 * 1024
    max_parse_seconds: float = 30.0  # wall clock for reading the file, checked while parsing


API_LIMITS = Limits()
CLI_LIMITS = Limits(max_rows=2_000_000, max_uncompressed_bytes=2 * 1024 * 1024 * 1024, max_zip_entries=1_000,
                    max_part_bytes=512 * 1024 * 1024, max_parse_seconds=3600.0)
MAX_REPORTED_CHARS = 60  # a column name or value quoted in the error report is cut to this


def _too_big(message: str) -> Problem:
    return Problem(422, "import-too-large", "导入文件超出限制", detail=message, errors=[{"field": "file", "message": message}])


def _unreadable(message: str) -> Problem:
    return Problem(422, "import-unreadable", "导入文件无法读取", detail=message, errors=[{"field": "file", "message": message}])


def _short(text: str) -> str:
    return text if len(text) <= MAX_REPORTED_CHARS else text[:MAX_REPORTED_CHARS] + "…"


def _check_row(values: list, rownum: int, limits: Limits) -> list:
    if len(values) > limits.max_columns:
        if any(v not in (None, "") for v in values[limits.max_columns:]):
            raise _too_big(f"第{rownum}行超过 {limits.max_columns} 列")
        values = values[: limits.max_columns]
    for k, cell in enumerate(values):
        if isinstance(cell, str) and len(cell) > limits.max_cell_chars:
            raise _too_big(f"第{rownum}行第{k + 1}列超过 {limits.max_cell_chars} 个字符")
    return values


_WORKSHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_SCAN_CHUNK = 64 * 1024


class _Deadline:
    def __init__(self, limits: Limits):
        import time

        self._clock = time.monotonic
        self._until = self._clock() + limits.max_parse_seconds
        self._seconds = limits.max_parse_seconds

    def check(self) -> None:
        if self._clock() > self._until:
            raise _too_big(f"XLSX 文件解析超过 {self._seconds:g} 秒，已停止")


def _expat(start) -> object:
    """A namespace-aware expat parser calling ``start(local_name, attrs)``; DTDs are refused
    (an import file has none, and entity tricks live there)."""
    import xml.parsers.expat

    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")

    def refuse(*_args):
        raise _unreadable("XLSX 文件含有不允许的 DTD 声明")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler = lambda name, attrs: start(name.rpartition(" ")[2], attrs)
    return parser


def _feed(parser, src, deadline: _Deadline) -> None:
    import xml.parsers.expat

    try:
        while chunk := src.read(_SCAN_CHUNK):
            deadline.check()
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except xml.parsers.expat.ExpatError:
        raise _unreadable("XLSX 文件内容损坏，无法读取") from None


def _worksheet_parts(zf, infos) -> set[str]:
    """Parts declared only as worksheets in [Content_Types].xml (a part also declared as anything
    else, e.g. shared strings, is not one)."""
    types: dict[str, set[str]] = {}

    def start(name, attrs):
        if name == "Override" and "PartName" in attrs:
            types.setdefault(attrs["PartName"].lstrip("/"), set()).add(attrs.get("ContentType", ""))

    member = next((i for i in infos if i.filename == "[Content_Types].xml"), None)
    if member is None:
        raise _unreadable("不是有效的 XLSX 文件")
    with zf.open(member) as src:
        _feed(_expat(start), src, _Deadline(Limits(max_parse_seconds=60.0)))
    return {name for name, kinds in types.items() if kinds == {_WORKSHEET_TYPE}}


def _column_number(ref: str) -> int:
    n = 0
    for ch in ref:
        if "A" <= ch <= "Z":
            n = n * 26 + ord(ch) - 64
        else:
            break
    return n


def _sheet_targets(data: bytes) -> list[str]:
    """The zip members openpyxl opens as worksheets (it parses each whole when it opens the
    workbook, looking for a declared size), found as openpyxl finds them: workbook part from the
    content types, sheets from the workbook's relationships. Called once every other part is known
    to be small."""
    from openpyxl.reader.excel import ExcelReader

    reader = ExcelReader(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    try:
        reader.read_manifest()
        reader.read_workbook()
        return [rel.target for _sheet, rel in reader.parser.find_sheets()
                if rel.target in reader.valid_files and "chartsheet" not in rel.Type]
    finally:
        reader.archive.close()


def _scan_sheet(src, limits: Limits, deadline: _Deadline, state: dict) -> None:
    """Stream a sheet's XML once, before openpyxl opens the workbook, and refuse it at the first
    limit: <row> elements counted as they come (openpyxl yields only increasing row numbers, so
    a million ``<row r="1">`` never moved its counter), row numbers beyond the limit, a value in
    a column beyond the limit, and more cell elements than the limits allow. Rows and cells are
    counted over all the workbook's sheets (``state``): openpyxl parses every sheet when it opens
    the file. Only attributes are looked at; nothing is kept."""
    max_cells = (limits.max_rows + 1) * limits.max_columns
    row_limit = limits.max_rows + 1
    state.update(col=0, far=0, row=0)

    def start(name, attrs):
        if name == "c":
            state["cells"] += 1
            if state["cells"] > max_cells:
                raise _too_big(f"XLSX 单元格超过 {max_cells} 个")
            ref = attrs.get("r")
            col = _column_number(ref) if ref else state["col"] + 1
            state["col"] = col
            state["far"] = col if col > limits.max_columns else 0
        elif name in ("v", "is", "f") and state["far"]:
            raise _too_big(f"第{state['row']}行超过 {limits.max_columns} 列")
        elif name == "row":
            state["rows"] += 1
            state["col"] = 0
            state["far"] = 0
            r = attrs.get("r", "")
            state["row"] = int(r) if r.isdigit() and len(r) < 10 else state["row"] + 1
            if state["rows"] > row_limit or state["row"] > row_limit:
                raise _too_big(f"数据行超过 {limits.max_rows} 行")

    _feed(_expat(start), src, deadline)


def _read_xlsx(data: bytes, limits: Limits) -> Table:
    import zipfile

    import openpyxl

    deadline = _Deadline(limits)
    # a zip bomb is refused by the sizes its directory declares, before anything is inflated
    # (zipfile never inflates a member past its declared size: a lie is a CRC error)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise _unreadable("不是有效的 XLSX 文件") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_zip_entries:
            raise _too_big(f"XLSX 文件内部条目超过 {limits.max_zip_entries} 个")
        if sum(i.file_size for i in infos) > limits.max_uncompressed_bytes:
            raise _too_big(f"XLSX 文件解压后超过 {limits.max_uncompressed_bytes // (1024 * 1024)} MB")
        # the parts openpyxl loads whole (shared strings, styles, workbook, content types...):
        # each bounded, from the directory, before any is read
        for info in infos:
            if info.filename == "[Content_Types].xml" and info.file_size > limits.max_part_bytes:
                raise _too_big(f"XLSX 文件内部条目 {_short(info.filename)} 解压后超过 {limits.max_part_bytes // (1024 * 1024)} MB")
        try:
            sheets = _worksheet_parts(zf, infos)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError):
            raise _unreadable("不是有效的 XLSX 文件") from None
        for info in infos:
            if info.filename not in sheets and info.file_size > limits.max_part_bytes:
                raise _too_big(f"XLSX 文件内部条目 {_short(info.filename)} 解压后超过 {limits.max_part_bytes // (1024 * 1024)} MB")
        # every sheet openpyxl will open, streamed once before it does (see _scan_sheet)
        try:
            targets = _sheet_targets(data)
        except Problem:
            raise
        except Exception:
            raise _unreadable("不是有效的 XLSX 文件") from None
        state = {"rows": 0, "cells": 0}
        try:
            for target in targets:
                with zf.open(target) as src:
                    _scan_sheet(src, limits, deadline, state)
        except Problem:
            raise
        except Exception:
            raise _unreadable("XLSX 文件内容损坏，无法读取") from None
    deadline.check()
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    except Exception:
        raise _unreadable("不是有效的 XLSX 文件") from None
    try:
        if not wb.worksheets:
            raise _unreadable("XLSX 文件中没有工作表")
        ws = wb.worksheets[0]
        # the declared used range (e.g. A1:XFD1048576) is the attacker's; read only the cells present,
        # and never wider than the limit (a row ending in an empty <c r="XFD2"/> cost 16,384 cells)
        ws.reset_dimensions()
        headers: list[str] = []
        rows = []
        try:
            for i, raw in enumerate(ws.iter_rows(max_col=limits.max_columns, values_only=True), start=1):
                if i > limits.max_rows + 1:
                    raise _too_big(f"数据行超过 {limits.max_rows} 行")
                if i % 256 == 0:
                    deadline.check()
                values = _check_row(list(raw), i, limits)
                if i == 1:
                    headers = [str(h).strip() if h is not None else "" for h in values]
                    continue
                cells = [_cell(x) for x in values]
                if not any(c != "" for c in cells):
                    continue
                rows.append((i, {h: (cells[k] if k < len(cells) else "") for k, h in enumerate(headers) if h}))
        except Problem:
            raise
        except Exception:
            raise _unreadable("XLSX 文件内容损坏，无法读取") from None
        return Table(headers, rows)
    finally:
        wb.close()


def _read_csv(data: bytes, limits: Limits) -> Table:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise _unreadable("文件编码应为 UTF-8 或 GB18030")
    # newline="" keeps line ends for the csv module; a bare "\r" (old Mac) or a field over the
    # module's limit is a csv.Error, answered as a 422 naming the line
    reader = csv.reader(io.StringIO(text, newline=""))
    headers: list[str] = []
    rows = []
    try:
        for i, raw in enumerate(reader, start=1):
            if i > limits.max_rows + 1:
                raise _too_big(f"数据行超过 {limits.max_rows} 行")
            values = _check_row(raw, i, limits)
            if i == 1:
                headers = [h.strip() for h in values]
                continue
            if not any(x.strip() for x in values):
                continue
            rows.append((i, {h: (values[k].strip() if k < len(values) else "") for k, h in enumerate(headers) if h}))
    except csv.Error as exc:
        line = reader.line_num
        reason = "字段过长" if "field larger" in str(exc) else "行尾或引号格式错误（请以 UTF-8 CSV 格式另存，换行应为 CRLF 或 LF）"
        raise Problem(422, "import-unreadable", "导入文件无法读取", detail=f"第{line}行：{reason}",
                      errors=[{"field": "file", "row": line, "message": reason}]) from None
    return Table(headers, rows)


def read_table(filename: str, data: bytes, limits: Limits = API_LIMITS) -> Table:
    """CSV (UTF-8 with or without BOM, or GB18030 as Excel saves it in China) or XLSX (first
    sheet), within ``limits``. CPU-bound: the API runs it in a worker thread."""
    name = filename.lower()
    if name.endswith(".xlsx"):
        return _read_xlsx(data, limits)
    if name.endswith(".csv") or name.endswith(".txt"):
        return _read_csv(data, limits)
    raise Problem(415, "unsupported-import-format", "不支持的导入文件格式", errors=[{"field": "file", "message": "请上传 .csv 或 .xlsx 文件"}])


def read_path(path: str | Path, limits: Limits = CLI_LIMITS) -> Table:
    path = Path(path)
    return read_table(path.name, path.read_bytes(), limits)


# ---------------------------------------------------------------- validation report
@dataclass
class Report:
    errors: list[dict] = field(default_factory=list)
    total: int = 0

    def add(self, row: int, column: str, message: str) -> None:
        self.total += 1
        column = _short(str(column))  # a header or value from the file: never echoed at length
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"row": row, "column": column, "field": f"第{row}行·{column}", "message": message})

    def raise_if_any(self, rows: int) -> None:
        if self.total:
            more = f"（仅列出前 {MAX_ERRORS} 条）" if self.total > MAX_ERRORS else ""
            raise Problem(
                422, "import-invalid", "导入数据校验失败，未写入任何数据",
                detail=f"共 {rows} 行，发现 {self.total} 处错误{more}", errors=self.errors, error_count=self.total,
            )


def _check_headers(table: Table, known: list[str], required: list[str], report: Report) -> None:
    for h in table.headers:
        if h and h not in known and h not in IGNORED:
            report.add(1, h, "未知的列名")
    for h in required:
        if h not in table.headers:
            report.add(1, h, "缺少必需的列")
    if not table.rows:
        report.add(2, "-", "文件中没有数据行")


def _get(row: dict, col: str) -> str:
    val = row.get(col, "")
    return val if isinstance(val, str) else val


def _check(report: Report, rownum: int, column: str, fn: Callable, value):
    try:
        return fn(value)
    except ValueError as exc:
        report.add(rownum, column, str(exc))
        return None


def _optional_date(report, rownum, column, value):
    if value in ("", None):
        return None
    return _check(report, rownum, column, v.parse_date, value)


# ---------------------------------------------------------------- enterprises
@dataclass
class EnterprisePlan:
    enterprises: dict[str, dict] = field(default_factory=dict)
    sites: dict[str, dict[tuple[str, str], dict]] = field(default_factory=dict)
    licences: list[dict] = field(default_factory=list)


_ENTERPRISE_SAME = ["企业名称", "所在地区代码", "地址", "法定代表人", "联系电话", "生产状态"]


def _split_list(text: str) -> list[str]:
    return [x.strip() for x in text.replace(";", "；").split("；") if x.strip()]


def _sites(report: Report, rownum: int, addr_text: str, code_text: str, address: str, region: str | None, scope_region: str) -> list[tuple[str, str]]:
    addrs = _split_list(addr_text) or [address]
    codes = _split_list(code_text) or [region] * len(addrs)
    if len(codes) == 1 and len(addrs) > 1:
        codes = codes * len(addrs)
    if len(codes) != len(addrs):
        report.add(rownum, "生产地址地区代码", "生产地址与地区代码的个数不一致（多个以“；”分隔）")
        return []
    out = []
    for a, c in zip(addrs, codes, strict=True):
        if len(a) > 300:
            report.add(rownum, "生产地址", "长度不超过 300")
            continue
        if c is None:
            continue
        c = _check(report, rownum, "生产地址地区代码", v.check_county, c)
        if c and not region_covers(scope_region, c):
            report.add(rownum, "生产地址地区代码", f"地区 {c} 不在您的管辖范围内")
        elif c:
            out.append((a, c))
    return out


def _check_characters(table: Table, report: Report) -> None:
    """No cell may hold a character XML cannot (C0 controls other than tab and newlines, U+FFFE/U+FFFF):
    an enterprise name with one corrupted every later XLSX it appeared in (a regression audit)."""
    for rownum, row in table.rows:
        for column, value in row.items():
            if isinstance(value, str) and CONTROL_CHARACTERS.search(value):
                report.add(rownum, column, "含有控制字符或非法字符，请删除后重新导入")


def validate_enterprise_rows(table: Table, scope_region: str) -> EnterprisePlan:
    """Pure validation of the whole file (no database); raises 422 with the full report."""
    report = Report()
    _check_headers(table, ENTERPRISE_COLUMNS, ENTERPRISE_REQUIRED, report)
    _check_characters(table, report)
    report.raise_if_any(len(table.rows))
    plan = EnterprisePlan()
    first_row: dict[str, tuple[int, dict]] = {}
    numbers: dict[str, int] = {}
    for rownum, row in table.rows:
        errors_before = report.total
        uscc = _check(report, rownum, "统一社会信用代码", v.check_uscc, _get(row, "统一社会信用代码"))
        name = _get(row, "企业名称")
        if not name or len(name) < 2 or len(name) > 200:
            report.add(rownum, "企业名称", "企业名称不能为空，长度 2-200")
        region = _check(report, rownum, "所在地区代码", v.check_county, _get(row, "所在地区代码"))
        if region and not region_covers(scope_region, region):
            report.add(rownum, "所在地区代码", f"地区 {region} 不在您的管辖范围内")
        address = _get(row, "地址")
        if not address or len(address) > 300:
            report.add(rownum, "地址", "地址不能为空，长度不超过 300")
        legal = _get(row, "法定代表人") or None
        if legal and len(legal) > 100:
            report.add(rownum, "法定代表人", "长度不超过 100")
        phone = _check(report, rownum, "联系电话", v.check_phone, _get(row, "联系电话"))
        pstatus = _check(report, rownum, "生产状态", v.check_production_status, _get(row, "生产状态") or "在产")
        number = _check(report, rownum, "许可证编号", v.check_licence_number, _get(row, "许可证编号"))
        if number:
            if number in numbers:
                report.add(rownum, "许可证编号", f"与第{numbers[number]}行的许可证编号重复")
            else:
                numbers[number] = rownum
        category = _check(report, rownum, "产品类别", v.check_category, _get(row, "产品类别"))
        product = _get(row, "产品名称") or None
        if product and len(product) > 500:
            report.add(rownum, "产品名称", "长度不超过 500")
        issue = _check(report, rownum, "发证日期", v.parse_date, _get(row, "发证日期"))
        expiry = _optional_date(report, rownum, "有效期至", _get(row, "有效期至"))
        if issue is not None:
            expiry = _check(report, rownum, "有效期至", lambda x: v.check_validity(issue, x), expiry)
        lstatus = _check(report, rownum, "许可证状态", v.check_licence_status, _get(row, "许可证状态") or "有效")
        site_list = _sites(report, rownum, _get(row, "生产地址"), _get(row, "生产地址地区代码"), address, region, scope_region)
        flags = {}
        for prefix, key in (("国抽不合格", "national_fail"), ("省抽不合格", "provincial_fail_2021")):
            date = _optional_date(report, rownum, prefix + "日期", _get(row, prefix + "日期"))
            source = _get(row, prefix + "来源") or None
            if (date is None) != (source is None) and report.total == errors_before:
                report.add(rownum, prefix + ("来源" if date else "日期"), "日期与来源须同时填写")
            flags[key] = (source, date)
        if report.total != errors_before or uscc is None:
            continue
        ent = {
            "uscc": uscc, "name": name, "region_code": region, "city_code": regions.city_of(region), "address": address,
            "legal_representative": legal, "contact_phone": phone, "production_status": pstatus,
            "national_fail_source": flags["national_fail"][0], "national_fail_date": flags["national_fail"][1],
            "provincial_fail_2021_source": flags["provincial_fail_2021"][0], "provincial_fail_2021_date": flags["provincial_fail_2021"][1],
        }
        if uscc in first_row:
            first, prev = first_row[uscc]
            raw = {c: _get(row, c) or ("在产" if c == "生产状态" else "") for c in _ENTERPRISE_SAME}
            for c in _ENTERPRISE_SAME:
                if raw[c] != prev[c]:
                    report.add(rownum, c, f"同一企业各行的{c}应一致（与第{first}行不同）")
            for key in ("national_fail_date", "provincial_fail_2021_date"):
                if ent[key] and not plan.enterprises[uscc][key]:
                    plan.enterprises[uscc][key] = ent[key]
                    src_key = key.replace("_date", "_source")
                    plan.enterprises[uscc][src_key] = ent[src_key]
        else:
            first_row[uscc] = (rownum, {c: _get(row, c) or ("在产" if c == "生产状态" else "") for c in _ENTERPRISE_SAME})
            plan.enterprises[uscc] = ent
            plan.sites[uscc] = {}
        for site_addr, site_region in site_list:
            plan.sites[uscc].setdefault((site_addr, site_region), {"address": site_addr, "region_code": site_region, "row": rownum})
        plan.licences.append({
            "row": rownum, "number": number, "uscc": uscc, "category": category, "product_description": product,
            "issue_date": issue, "expiry_date": expiry, "status": lstatus,
        })
    report.raise_if_any(len(table.rows))
    return plan


async def _existing(session: AsyncSession, col, values: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(values), 900):
        found.update((await session.execute(select(col).where(col.in_(values[i : i + 900])))).scalars().all())
    return found


class _Progress:
    """Reports ``(rows written, rows to write)`` to the caller's callback after each chunk."""

    def __init__(self, callback: Callable[[int, int], None] | None, total: int):
        self.callback, self.total, self.done = callback, total, 0
        if callback:
            callback(0, total)

    def advance(self, n: int) -> None:
        self.done += n
        if self.callback:
            self.callback(self.done, self.total)


async def _copy(session: AsyncSession, table, columns: list[str], rows: list[dict], progress: _Progress) -> None:
    """PostgreSQL: binary ``COPY`` on the connection of the caller's transaction (so still all or
    nothing), ``COPY_CHUNK`` rows at a time for the progress callback."""
    raw = await (await session.connection()).get_raw_connection()
    driver = raw.driver_connection  # asyncpg.Connection
    for i in range(0, len(rows), COPY_CHUNK):
        chunk = rows[i : i + COPY_CHUNK]
        records = [tuple([r[c] for c in columns]) for r in chunk]
        await driver.copy_records_to_table(table.name, records=records, columns=columns, schema_name=table.schema)
        progress.advance(len(chunk))


async def _bulk(session: AsyncSession, table, rows: list[dict], progress: _Progress) -> None:
    columns = [c.name for c in table.columns]
    if rows and session.get_bind().dialect.driver == "asyncpg" and all(c in rows[0] for c in columns):
        # every column given (no Python-side defaults to apply): COPY is the fastest way in
        await _copy(session, table, columns, rows, progress)
        return
    for i in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[i : i + INSERT_CHUNK]
        await session.execute(table.insert(), chunk)
        progress.advance(len(chunk))


async def import_enterprises(
    session: AsyncSession, rec, actor: str, table: Table, *, scope_region: str = "140000",
    request_id: str | None = None, progress: Callable[[int, int], None] | None = None, source: str | None = None,
) -> dict:
    """Validate ``table`` and write it in the caller's transaction (``session`` must be inside one)."""
    plan = await asyncio.to_thread(validate_enterprise_rows, table, scope_region)  # CPU-bound: off the event loop
    report = Report()
    usccs = list(plan.enterprises)
    taken = await _existing(session, Enterprise.uscc, usccs)
    if taken:
        first = {}
        for lic in plan.licences:
            first.setdefault(lic["uscc"], lic["row"])
        for u in sorted(taken, key=lambda u: first[u]):
            report.add(first[u], "统一社会信用代码", f"企业 {u} 已在名录库中（请通过接口修改）")
    taken_numbers = await _existing(session, Licence.number, [x["number"] for x in plan.licences])
    for lic in plan.licences:
        if lic["number"] in taken_numbers:
            report.add(lic["row"], "许可证编号", f"许可证编号 {lic['number']} 已登记")
    report.errors.sort(key=lambda e: e["row"])
    report.raise_if_any(len(table.rows))

    now = utcnow()
    import_id = new_id()
    ent_rows = [{**e, "version": 1, "created_at": now, "updated_at": now} for e in plan.enterprises.values()]
    site_rows = [
        {"id": new_id(), "uscc": u, "address": s["address"], "region_code": s["region_code"], "version": 1, "created_at": now}
        for u, sites in plan.sites.items() for s in sites.values()
    ]
    lic_rows, hist_rows = [], []
    for x in plan.licences:
        lid = new_id()
        lic_rows.append({k: x[k] for k in ("number", "uscc", "category", "product_description", "issue_date", "expiry_date", "status")} | {"id": lid, "version": 1, "created_at": now, "updated_at": now})
        hist_rows.append({"id": new_id(), "licence_id": lid, "from_status": None, "to_status": x["status"], "reason": f"批量导入 {import_id}", "actor": actor, "at": now})
    bar = _Progress(progress, len(ent_rows) + len(site_rows) + len(lic_rows) + len(hist_rows))
    await _bulk(session, Enterprise.__table__, ent_rows, bar)
    await _bulk(session, ProductionSite.__table__, site_rows, bar)
    await _bulk(session, Licence.__table__, lic_rows, bar)
    await _bulk(session, LicenceStatusChange.__table__, hist_rows, bar)

    summary = {
        "import_id": import_id, "source": source, "rows": len(table.rows), "enterprises": len(ent_rows),
        "sites": len(site_rows), "licences": len(lic_rows),
    }
    parts = max(1, -(-len(usccs) // EVENT_CHUNK))
    for p in range(parts):
        chunk = usccs[p * EVENT_CHUNK : (p + 1) * EVENT_CHUNK]
        await rec.emit(session, "enterprise", "imported", {**summary, "part": p + 1, "parts": parts, "uscc": chunk}, subject_id=import_id, request_id=request_id, actor=actor)
    await rec.audit(session, actor, "enterprise.import", "import", import_id, after={"summary": summary, "rows_digest": digest(sorted(usccs))}, detail=summary, request_id=request_id)
    return summary


# ---------------------------------------------------------------- people
def _split_specialties(text: str) -> list[str]:
    for sep in ("，", ",", "；", ";", "、", "/"):
        text = text.replace(sep, "、")
    return [x.strip() for x in text.split("、") if x.strip()]


def validate_people_rows(table: Table, scope_region: str) -> list[dict]:
    report = Report()
    _check_headers(table, PEOPLE_COLUMNS, PEOPLE_REQUIRED, report)
    _check_characters(table, report)
    report.raise_if_any(len(table.rows))
    people, ids = [], {}
    for rownum, row in table.rows:
        before = report.total
        kind = KINDS.get(_get(row, "人员类别"))
        if kind is None:
            report.add(rownum, "人员类别", "人员类别应为 执法人员 或 技术专家")
        pid = _get(row, "编号") or None
        if pid:
            prefix = {"inspector": "insp-", "expert": "exp-"}.get(kind or "", "")
            if not (pid.startswith(prefix) and pid[len(prefix):].isdigit() and 4 <= len(pid[len(prefix):]) <= 6):
                report.add(rownum, "编号", f"编号格式应为 {prefix or 'insp-/exp-'}0001")
            elif pid in ids:
                report.add(rownum, "编号", f"与第{ids[pid]}行编号重复")
            else:
                ids[pid] = rownum
        name = _get(row, "姓名")
        if not name or len(name) > 100:
            report.add(rownum, "姓名", "姓名不能为空，长度不超过 100")
        region = _check(report, rownum, "所在地区代码", v.check_region, _get(row, "所在地区代码"))
        if region and not region_covers(scope_region, region):
            report.add(rownum, "所在地区代码", f"地区 {region} 不在您的管辖范围内")
        level_text = _get(row, "层级")
        level = LEVEL_NAMES.get(level_text) if level_text else (region_level(region) if region else None)
        if level_text and level is None:
            report.add(rownum, "层级", "层级应为 省级/市级/县级")
        elif region and level and region_level(region) != level:
            report.add(rownum, "层级", "层级与地区代码不一致")
        org = _get(row, "工作单位")
        if not org or len(org) > 200:
            report.add(rownum, "工作单位", "工作单位不能为空，长度不超过 200")
        unit = _get(row, "处室") or None
        if unit is not None and len(unit) > 60:
            report.add(rownum, "处室", "处室名称长度不超过 60")
        cadre = YES.get((_get(row, "是否处级干部") or "否").lower())
        if cadre is None:
            report.add(rownum, "是否处级干部", "应为 是 或 否")
        active = YES.get((_get(row, "是否在岗") or "是").lower())
        if active is None:
            report.add(rownum, "是否在岗", "应为 是 或 否")
        specialties = []
        for s in _split_specialties(_get(row, "专业领域")):
            code = _check(report, rownum, "专业领域", v.check_category, s)
            if code:
                specialties.append(code)
        if specialties and kind == "inspector":
            report.add(rownum, "专业领域", "专业领域仅适用于技术专家")
        if report.total != before:
            continue
        people.append({
            "row": rownum, "id": pid, "kind": kind, "name": name, "level": level, "region_code": region, "organisation": org,
            "unit": unit, "business_line": _get(row, "业务条线") or None, "division_cadre": cadre, "certificate_no": _get(row, "执法证号") or None,
            "active": active, "specialties": sorted(set(specialties)),
        })
    report.raise_if_any(len(table.rows))
    return people


async def import_people(
    session: AsyncSession, rec, actor: str, table: Table, *, scope_region: str = "140000",
    request_id: str | None = None, progress: Callable[[int, int], None] | None = None, source: str | None = None,
) -> dict:
    from .people import next_ids

    people = await asyncio.to_thread(validate_people_rows, table, scope_region)
    report = Report()
    taken = await _existing(session, Person.id, [p["id"] for p in people if p["id"]])
    for p in people:
        if p["id"] in taken:
            report.add(p["row"], "编号", f"编号 {p['id']} 已被使用（编号全省唯一），请换一个编号或留空由系统分配")
    report.raise_if_any(len(table.rows))
    explicit = {p["id"] for p in people if p["id"]}
    for kind in ("inspector", "expert"):
        missing = [p for p in people if p["kind"] == kind and not p["id"]]
        if missing:
            fresh = [i for i in await next_ids(session, kind, len(missing) + len(explicit)) if i not in explicit]
            for p, pid in zip(missing, fresh, strict=False):
                p["id"] = pid
    now = utcnow()
    person_rows = [{k: p[k] for k in ("id", "kind", "name", "level", "region_code", "organisation", "unit", "business_line", "division_cadre", "certificate_no", "active")} | {"version": 1, "created_at": now, "updated_at": now} for p in people]
    spec_rows = [{"person_id": p["id"], "category": c} for p in people for c in p["specialties"]]
    bar = _Progress(progress, len(person_rows) + len(spec_rows))
    await _bulk(session, Person.__table__, person_rows, bar)
    await _bulk(session, PersonSpecialty.__table__, spec_rows, bar)
    import_id = new_id()
    counts = {k: sum(1 for p in people if p["kind"] == k) for k in ("inspector", "expert")}
    summary = {"import_id": import_id, "source": source, "rows": len(table.rows), "people": len(people), **counts}
    await rec.emit(session, "person", "imported", {**summary, "ids": [p["id"] for p in people]}, subject_id=import_id, request_id=request_id, actor=actor)
    await rec.audit(session, actor, "person.import", "import", import_id, after={"summary": summary, "ids_digest": digest(sorted(p["id"] for p in people))}, detail=summary, request_id=request_id)
    return summary
