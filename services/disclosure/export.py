"""Export of published results (for bureaus that upload to the 公示系统 by hand), CSV and XLSX,
with every text cell neutralised against formula injection (``shared.spreadsheet.safe_cell``)."""
from __future__ import annotations

import csv
import io

from shared.spreadsheet import safe_row

HEADER = ["结果编号", "企业名称", "统一社会信用代码", "所在地区代码", "检查实施机关", "检查类型", "计划名称", "计划文号",
          "检查完成日期", "检查结果", "后续处置措施", "公示版本", "是否更正", "首次公示时间"]


def row_of(c: dict) -> list:
    return [c["id"], c["enterprise_name"], c["uscc"], c["region_code"], c["authority"]["name"], c["type"]["label"],
            c["plan"].get("name") or "", c["plan"].get("number") or "", c["completed_on"],
            "；".join(x["label"] for x in c["categories"]), (c.get("follow_up") or {}).get("label") or "",
            c.get("version"), "是" if c.get("corrected") else "否", c.get("first_published_at") or ""]


def to_csv(contents: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(HEADER)
    for c in contents:
        w.writerow(safe_row(row_of(c)))
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: Excel opens UTF-8 Chinese correctly


def to_xlsx(contents: list[dict]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("抽查检查结果")
    ws.append(HEADER)
    for c in contents:
        ws.append(safe_row(row_of(c)))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
