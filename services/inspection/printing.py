"""Printable forms: the record (附件2) and the problem summary (附件1) as PDF in the notice's layout
(Chinese text, table borders, signature blocks) with reportlab and the WenQuanYi Micro Hei font
that the project installs (PyPI package ``paperang-p2-fonts-cjk``), and as XLSX."""
from __future__ import annotations

import io
import os
from functools import lru_cache

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from shared.spreadsheet import safe_cell

from . import checklist
from .scope import china_date

FONT = "WQYMicroHei"


@lru_cache(maxsize=1)
def font_path() -> str:
    import paperang_p2_fonts_cjk

    path = os.path.join(os.path.dirname(paperang_p2_fonts_cjk.__file__), "fonts", "wqy-microhei.ttc")
    pdfmetrics.registerFont(TTFont(FONT, path, subfontIndex=0))
    return path


def _styles():
    font_path()
    base = ParagraphStyle("base", fontName=FONT, fontSize=9, leading=12, wordWrap="CJK")
    return {
        "base": base,
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=10),
        "title": ParagraphStyle("title", parent=base, fontSize=15, leading=20, alignment=1, spaceAfter=6),
        "annex": ParagraphStyle("annex", parent=base, fontSize=11, leading=14),
        "center": ParagraphStyle("center", parent=base, alignment=1),
        "body": ParagraphStyle("body", parent=base, fontSize=10.5, leading=16, firstLineIndent=21),
    }


def _esc(v) -> str:
    return ("" if v is None else str(v)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br/>")


def _sig_image(store, sha: str | None, width=28 * mm, height=11 * mm):
    if not sha or store is None:
        return None
    data = store.read_small(sha)  # a signature image: small, read whole (in the printing thread), from disk or S3
    if data is None:
        return None
    try:
        import io

        from reportlab.lib.utils import ImageReader

        reader = ImageReader(io.BytesIO(data))
        iw, ih = reader.getSize()
        scale = min(width / iw, height / ih)
        return Image(io.BytesIO(data), width=iw * scale, height=ih * scale)
    except Exception:  # a PDF scan or an unreadable image: the name stands alone
        return None


def _box(checked: bool) -> str:
    return "■" if checked else "□"  # glyphs the embedded font has (☑/☐ it has not)


GRID = [("GRID", (0, 0), (-1, -1), 0.6, colors.black), ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3)]


def record_pdf(full: dict, store=None) -> bytes:
    st = _styles()
    P = lambda t, s="base": Paragraph(_esc(t), st[s])  # noqa: E731
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=14 * mm, rightMargin=14 * mm, topMargin=12 * mm, bottomMargin=12 * mm,
                            title="监督检查记录表", author="Spotcheck")
    tpl = checklist.template(full["checklist_version"])
    story = [Paragraph("附件 2", st["annex"]), Paragraph(_esc(tpl["title"]), st["title"])]
    food = full["product_type"] == "food_related"
    story.append(Paragraph(f"企业名称(盖章)　<u>{_esc(full['enterprise_name'])}</u>　　统一社会信用代码　{_esc(full['uscc'])}　　生产地址　{_esc(full['site_address'])}", st["base"]))
    story.append(Paragraph(f"产品类别　{_box(not food)} 工业产品　{_box(food)} 食品相关产品　　现场生产状态　{_esc(checklist.PRODUCTION_STATUSES[full['production_status']])}", st["base"]))
    story.append(Spacer(1, 4))
    items = full.get("current_items") or full["items"]
    rows = [[P("序号", "center"), P("检查项目", "center"), P("检查内容", "center"), P("检查结论", "center"), P("检查记录", "center"), P("备注", "center")]]
    spans = []
    by_no: dict[str, list[dict]] = {}
    for i in items:
        by_no.setdefault(i["item_no"], []).append(i)
    for no, subs in by_no.items():
        start = len(rows)
        for k, i in enumerate(subs):
            concl = "　".join(f"{_box(i['conclusion'] == c)}{checklist.CONCLUSIONS[c]}" for c in i["allowed"])
            record = i["record"] or (i["reason"] if i["preset"] else "") or ""
            if i["fixed_on_site"]:
                record = f"{record}（当场整改）"
            if i.get("amended_by"):
                record = f"{record}（已更正）"
            rows.append([P(no if k == 0 else "", "center"), P(subs[0]["item_name"] if k == 0 else "", "center"), P(i["text"], "small"),
                         P(concl, "small"), P(record, "small"), P(i["rule_note"], "small")])
        if len(subs) > 1:
            spans += [("SPAN", (0, start), (0, len(rows) - 1)), ("SPAN", (1, start), (1, len(rows) - 1))]
    widths = [11 * mm, 21 * mm, 108 * mm, 42 * mm, 57 * mm, 30 * mm]
    t = Table(rows, colWidths=widths, repeatRows=1)
    t.setStyle(TableStyle(GRID + spans + [("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee"))]))
    story.append(t)
    story.append(Spacer(1, 4))
    story.append(Paragraph("备注　" + "　".join(_esc(n) for n in tpl["notes"]), st["small"]))
    story.append(Spacer(1, 6))
    # signature block: team members, inspection time, the enterprise's representative
    sigs = []
    for g in full["signatures"]:
        img = _sig_image(store, g["image_sha256"])
        sigs.append([P(f"{g['name'] or g['person_id']}（{ {'leader': '组长', 'deputy': '副组长'}.get(g['role'], '成员') }）"), img or P("")])
    conf = full.get("enterprise_confirmation") or {}
    if conf.get("refused"):
        ent = [P(f"{conf.get('name', '')}（{conf.get('role', '')}）拒绝签字：{conf.get('refusal_note', '')}")]
    elif conf:
        ent = [P(f"{conf.get('name', '')}（{conf.get('role', '')}）"), _sig_image(store, conf.get("image_sha256")) or P("")]
    else:
        ent = [P("")]
    when = full["arrived_at"]
    when_text = china_date(when).strftime("%Y 年 %m 月 %d 日") if hasattr(when, "astimezone") else str(when)[:10]
    sig_table = Table([[P("检查组成员签字"), Table(sigs or [[P("")]], colWidths=[40 * mm, 32 * mm]) if sigs else P(""),
                        P(f"检查时间　{when_text}"), P("企业代表确认签字（盖章）"), Table([ent], colWidths=[45 * mm, 32 * mm][: len(ent)])]],
                      colWidths=[24 * mm, 76 * mm, 40 * mm, 26 * mm, 80 * mm])
    sig_table.setStyle(TableStyle(GRID))
    story.append(sig_table)
    if full.get("content_hash"):
        story.append(Spacer(1, 4))
        story.append(Paragraph(f"封存内容哈希（SHA-256）：{full['content_hash']}　状态：{ {'sealed': '已提交封存', 'not_inspected': '未实施检查', 'open': '检查中'}[full['state']] }", st["small"]))
    if full.get("not_inspected"):
        ni = full["not_inspected"]
        story.append(Paragraph(f"未实施检查：{_esc(ni['reason_label'])}。{_esc(ni['detail'])}", st["base"]))
    approved = [a for a in full.get("amendments", []) if a["status"] == "approved"]
    if approved:
        story.append(Spacer(1, 4))
        story.append(Paragraph("更正记录（原记录保持不变）", st["base"]))
        for a in approved:
            ch = "；".join(f"{c['code']} 更正为{checklist.CONCLUSIONS[c['conclusion']]}{('：' + c['text']) if c.get('text') else ''}" for c in a["changes"])
            story.append(Paragraph(_esc(f"第{a['seq']}次更正　理由：{a['reason']}　内容：{ch or '公示结果'}　组长批准：{a['decided_by']}　{str(a['decided_at'])[:19]}"), st["small"]))
    doc.build(story)
    return buf.getvalue()


def summary_pdf(x: dict, store=None) -> bytes:
    st = _styles()
    P = lambda t, s="base": Paragraph(_esc(t), st[s])  # noqa: E731
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm, bottomMargin=18 * mm,
                            title="问题汇总表", author="Spotcheck")
    story = [Paragraph("附件 1", st["annex"]), Paragraph("“双随机、一公开”监督检查问题汇总表", st["title"]),
             Paragraph(f"<u>{_esc(x['enterprise_name'])}</u>（企业名称）", st["center"]), Spacer(1, 6),
             Paragraph("根据山西省市场监督管理局工作安排，检查组按照“双随机、一公开”的监管方式，对你企业进行了证后监督检查，"
                       "检查结果发现你企业存在以下问题，请企业按要求完成整改。", st["body"]), Spacer(1, 6)]
    lic = "<br/>".join(f"生产许可证 {_esc(v['number'])}　有效期 {_esc(v.get('valid_from') or '')} - {_esc(v.get('valid_until'))}" for v in x["licences"])
    problems = "<br/>".join(f"{q['no']}. {_esc(q['text'])}（检查项目 {q['item_code']}）" for q in x["problems"])
    period = x["period"]["label"] if isinstance(x.get("period"), dict) else ""
    ask = f"请市、县局督促企业在 <u>{_esc(period)}</u> 内完成整改，并监督企业落实整改到位，整改情况报市、县两级市场监管部门。"
    team = []
    for g in x["team_signatures"]:
        img = _sig_image(store, g.get("image_sha256"))
        team.append([P(g.get("name") or g["person_id"]), img or P("")])
    conf = x.get("enterprise_confirmation") or {}
    if conf.get("refused"):
        ent_text = f"{conf.get('name', '')}（{conf.get('role', '')}）拒绝签字：{conf.get('refusal_note', '')}"
        ent_img = None
    else:
        ent_text = f"{conf.get('name', '')}（{conf.get('role', '')}）" if conf else ""
        ent_img = _sig_image(store, conf.get("image_sha256"))
    day = x["handed_over_at"]
    day_text = china_date(day).strftime("%Y 年 %m 月 %d 日") if hasattr(day, "astimezone") else (str(day)[:10] if day else "年　月　日")
    ent_cell = [Paragraph("企业代表确认签字(公章)", st["base"]), Paragraph(_esc(ent_text), st["base"])]
    if ent_img:
        ent_cell.append(ent_img)
    ent_cell += [Paragraph(f"联系人 {_esc(conf.get('contact') or conf.get('name') or '')}　联系电话 {_esc(conf.get('phone') or '')}", st["base"]),
                 Paragraph(day_text, st["base"])]
    team_cell = [Paragraph("检查组签字", st["base"]), Table(team, colWidths=[30 * mm, 30 * mm]) if team else Paragraph("", st["base"]),
                 Paragraph(day_text, st["base"])]
    rows = [
        [Paragraph(lic, st["base"]), Paragraph("获证产品<br/>" + _esc("、".join(x["products"])), st["base"])],
        [Paragraph("现场检查发现问题汇总如下<br/>" + problems + "<br/><br/>" + ask, st["base"]), ""],
        [team_cell, ent_cell],
    ]
    t = Table(rows, colWidths=[95 * mm, 75 * mm])
    t.setStyle(TableStyle(GRID + [("SPAN", (0, 1), (1, 1)), ("VALIGN", (0, 1), (-1, -1), "TOP")]))
    story.append(t)
    story.append(Spacer(1, 6))
    story.append(Paragraph("备注　企业要限期整改，逾期未整改或整改后仍未达到许可条件的企业，依法撤销生产许可证。", st["base"]))
    doc.build(story)
    return buf.getvalue()


# ---------------------------------------------------------------- XLSX
_thin = Side(style="thin")
_border = Border(left=_thin, right=_thin, top=_thin, bottom=_thin)
_wrap = Alignment(wrap_text=True, vertical="center")


def record_xlsx(full: dict) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "监督检查记录表"
    tpl = checklist.template(full["checklist_version"])
    ws.append(["附件 2"])
    ws.append([tpl["title"]])
    ws["A2"].font = Font(size=14, bold=True)
    ws.merge_cells("A2:F2")
    food = full["product_type"] == "food_related"
    ws.append([safe_cell(f"企业名称(盖章) {full['enterprise_name']}"), "", "", safe_cell(f"统一社会信用代码 {full['uscc']}")])
    ws.append([f"产品类别 {_box(not food)}工业产品 {_box(food)}食品相关产品"])
    ws.append(["序号", "检查项目", "检查内容", "检查结论", "检查记录", "备注"])
    items = full.get("current_items") or full["items"]
    start_by_no: dict[str, tuple[int, int]] = {}
    for i in items:
        r = ws.max_row + 1
        first = i["item_no"] not in start_by_no
        record = (i["record"] or (i["reason"] if i["preset"] else "") or "") + ("（当场整改）" if i["fixed_on_site"] else "")
        ws.append([i["item_no"] if first else "", i["item_name"] if first else "", safe_cell(i["text"]),
                   checklist.CONCLUSIONS.get(i["conclusion"] or "", ""), safe_cell(record), i["rule_note"]])
        s0 = start_by_no.get(i["item_no"], (r, r))[0]
        start_by_no[i["item_no"]] = (s0, r)
    for s0, s1 in start_by_no.values():
        if s1 > s0:
            ws.merge_cells(start_row=s0, start_column=1, end_row=s1, end_column=1)
            ws.merge_cells(start_row=s0, start_column=2, end_row=s1, end_column=2)
    for row in ws.iter_rows(min_row=5, max_row=ws.max_row, max_col=6):
        for c in row:
            c.border, c.alignment = _border, _wrap
    ws.append(["备注", " ".join(tpl["notes"])])
    ws.append(["检查组成员签字", safe_cell("、".join(g["name"] or g["person_id"] for g in full["signatures"]))])
    ws.append(["检查时间", str(full["arrived_at"])[:10]])
    conf = full.get("enterprise_confirmation") or {}
    ws.append(["企业代表确认签字（盖章）", safe_cell(f"{conf.get('name', '')} 拒绝签字：{conf.get('refusal_note', '')}" if conf.get("refused") else conf.get("name", ""))])
    if full.get("content_hash"):
        ws.append(["封存内容哈希", full["content_hash"]])
    for col, w in zip("ABCDEF", (6, 12, 60, 14, 30, 22)):
        ws.column_dimensions[col].width = w
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def summary_xlsx(x: dict) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "问题汇总表"
    ws.append(["附件 1"])
    ws.append(["“双随机、一公开”监督检查问题汇总表"])
    ws["A2"].font = Font(size=14, bold=True)
    ws.merge_cells("A2:B2")
    ws.append([safe_cell(f"{x['enterprise_name']}（企业名称）")])
    ws.append(["生产许可证", "获证产品"])
    ws.append([safe_cell("\n".join(f"{v['number']} 有效期 {v.get('valid_from') or ''}-{v.get('valid_until')}" for v in x["licences"])),
               safe_cell("、".join(x["products"]))])
    ws.append(["现场检查发现问题汇总如下"])
    for q in x["problems"]:
        ws.append([q["no"], safe_cell(q["text"])])
    ws.append([safe_cell(f"请市、县局督促企业在{x['period']['label']}内完成整改，并监督企业落实整改到位，整改情况报市、县两级市场监管部门。")])
    conf = x.get("enterprise_confirmation") or {}
    ws.append(["检查组签字", safe_cell("、".join(g.get("name") or g["person_id"] for g in x["team_signatures"]))])
    ws.append(["企业代表确认签字(公章)", safe_cell(conf.get("name", "")), "联系电话", safe_cell(conf.get("phone") or "")])
    ws.append(["备注", "企业要限期整改，逾期未整改或整改后仍未达到许可条件的企业，依法撤销生产许可证。"])
    ws.column_dimensions["A"].width = 40
    ws.column_dimensions["B"].width = 60
    for row in ws.iter_rows(min_row=4, max_row=ws.max_row, max_col=2):
        for c in row:
            c.alignment = _wrap
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
