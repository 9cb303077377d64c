"""附件3 (山西省钢铁获证企业生产状况登记表) and 附件4 (山西省水泥获证企业生产状况登记表): structured capture
with every column of the notice's tables, filled by the enterprise account or by the team, exported
per city as XLSX in the notice's column layout (multi-row headers)."""
from __future__ import annotations

import datetime as dt
import io
from typing import Literal

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from pydantic import Field, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal
from shared.db import utcnow
from shared.errors import Problem, not_found
from shared.etag import require_if_match
from shared.schemas import StrictModel
from shared.spreadsheet import safe_cell
from shared.vocabulary import city_name

from .models import ProductionForm, Task
from .scope import PEOPLE, read_filter

Status = Literal["在产", "停产", "转产", "关停"]
Tons = Field(default=None, ge=0, le=100_000, description="万吨")
Count = Field(default=None, ge=0, le=1000)
Text = Field(default=None, max_length=500)


class Sampling(StrictModel):
    national: str | None = Field(default=None, max_length=200, description="国家监督抽查（次数、合格或不合格）")
    provincial: str | None = Field(default=None, max_length=200, description="省级及以下抽查（次数、合格或不合格）")
    handling: str | None = Field(default=None, max_length=500, description="处理意见（如有）")


class Signer(StrictModel):
    contact: str = Field(min_length=1, max_length=50, description="联系人")
    phone: str = Field(min_length=5, max_length=30, pattern=r"^[0-9+\-() ]+$", description="联系电话")
    signed_on: dt.date = Field(description="签字日期")


class SteelForm(StrictModel):
    address: str = Field(min_length=2, max_length=300, description="生产地址")
    licence_no: str = Field(min_length=3, max_length=60, description="生产许可证编号")
    valid_until: dt.date = Field(description="有效期")
    output_total: float | None = Tons
    output_rebar: float | None = Tons
    output_bearing: float | None = Tons
    products: list[Literal["棒材产品", "线材产品", "板材产品", "带产品", "管材产品", "坯产品", "异型钢产品", "冷轧产品"]] = Field(default_factory=list, max_length=8)
    blast_furnaces: int | None = Count
    converters: int | None = Count
    electric_furnaces: int | None = Count
    rolling_lines: int | None = Count
    bar_lines: int | None = Count
    wire_lines: int | None = Count
    tensile_testers: str | None = Field(default=None, max_length=200, description="拉力试验机吨位及数量")
    status: Status
    stopped_on: dt.date | None = Field(default=None, description="停产/关停日期")
    sampling: Sampling = Field(default_factory=Sampling)
    obsolete_equipment: bool = Field(description="是否有国家明令淘汰设备")
    unlicensed_production: bool = Field(description="是否存在无证生产等违法违规的生产行为")
    keeps_conditions: bool = Field(description="是否保持获证时的生产条件")
    conditions_note: str | None = Text
    illegal_capacity: bool = Field(description="有无违规产能")
    signer: Signer

    @model_validator(mode="after")
    def _consistent(self):
        if self.status != "在产" and self.stopped_on is None:
            raise ValueError("stopped_on: 停产、转产或关停的须填写停产/关停日期")
        if self.output_total is not None:
            for name in ("output_rebar", "output_bearing"):
                v = getattr(self, name)
                if v is not None and v > self.output_total:
                    raise ValueError(f"{name}: 分项产量不能大于总产量")
        return self


class CementForm(StrictModel):
    address: str = Field(min_length=2, max_length=300)
    county: str = Field(min_length=2, max_length=60, description="企业所在地（县）")
    production_type: Literal["水泥厂", "熟料厂", "粉磨站", "配制厂"]
    licence_no: str = Field(min_length=3, max_length=60)
    valid_until: dt.date
    illegal_capacity: bool
    output_total: float | None = Tons
    output_general: float | None = Tons
    output_clinker: float | None = Tons
    output_special: str | None = Field(default=None, max_length=300, description="特种水泥（明确到品种分别填写）")
    unlicensed_production: bool
    status: Status
    sampling: Sampling = Field(default_factory=Sampling)
    raw_mills: int | None = Count
    raw_mill_models: str | None = Text
    kilns: int | None = Count
    kiln_models: str | None = Text
    cement_mills: int | None = Count
    cement_mill_models: str | None = Text
    clinker_source: str | None = Field(default=None, max_length=200, description="粉磨站：熟料来源（公司）")
    clinker_purchase_2021: float | None = Tons
    obsolete_equipment: bool
    keeps_conditions: bool
    conditions_note: str | None = Text
    signer: Signer

    @model_validator(mode="after")
    def _consistent(self):
        if self.output_total is not None and self.output_general is not None and self.output_general > self.output_total:
            raise ValueError("output_general: 通用水泥产量不能大于总产量")
        if self.production_type == "粉磨站" and not self.clinker_source:
            raise ValueError("clinker_source: 粉磨站须填写熟料来源")
        return self


KINDS = {"steel": (SteelForm, "rebar", "附件3", "山西省钢铁获证企业生产状况登记表"),
         "cement": (CementForm, "cement", "附件4", "山西省水泥获证企业生产状况登记表")}

YN = {True: "是", False: "否", None: ""}
HAS = {True: "有", False: "无", None: ""}


def _num(v):
    return "" if v is None else v


# column layout: (group or None, label, getter) — the notice's columns, left to right
def _steel_columns():
    p = lambda name: (lambda d: "√" if name in d.get("products", []) else "")  # noqa: E731
    g = lambda k: (lambda d: _num(d.get(k)))  # noqa: E731
    s = lambda k: (lambda d: (d.get("sampling") or {}).get(k) or "")  # noqa: E731
    return [
        (None, "序号", None), (None, "企业名称", "enterprise_name"), (None, "生产地址", g("address")),
        (None, "生产许可证编号", g("licence_no")), (None, "有效期", g("valid_until")),
        ("2021年钢材产量(万吨)", "总产量", g("output_total")), ("2021年钢材产量(万吨)", "钢筋", g("output_rebar")),
        ("2021年钢材产量(万吨)", "轴承钢材", g("output_bearing")),
        *[("获证产品", n, p(n)) for n in ("棒材产品", "线材产品", "板材产品", "带产品", "管材产品", "坯产品", "异型钢产品", "冷轧产品")],
        ("主要生产设备", "高炉(台)", g("blast_furnaces")), ("主要生产设备", "转炉(台)", g("converters")), ("主要生产设备", "电炉(台)", g("electric_furnaces")),
        ("主要生产设备", "轧钢生产线(条)", g("rolling_lines")), ("主要生产设备", "棒材线(条)", g("bar_lines")), ("主要生产设备", "线材线(条)", g("wire_lines")),
        ("主要生产设备", "拉力试验机吨位及数量", g("tensile_testers")),
        (None, "企业生产现状", g("status")), (None, "停产/关停日期", g("stopped_on")),
        ("2021-2022年质量监督抽查情况", "国家监督抽查(次数、合格或不合格)", s("national")),
        ("2021-2022年质量监督抽查情况", "省级及以下抽查(次数、合格或不合格)", s("provincial")),
        ("2021-2022年质量监督抽查情况", "处理意见(如有)", s("handling")),
        (None, "是否有国家明令淘汰设备(如有在问题汇总表中说明)", lambda d: HAS[d.get("obsolete_equipment")]),
        (None, "是否存在无证生产等违法违规的生产行为(如是,填写问题汇总表)", lambda d: YN[d.get("unlicensed_production")]),
        (None, "是否保持获证时的生产条件(可附表说明情况)", lambda d: YN[d.get("keeps_conditions")] + (f"（{d['conditions_note']}）" if d.get("conditions_note") else "")),
        (None, "有无违规产能(如有,填写问题汇总表)", lambda d: HAS[d.get("illegal_capacity")]),
        (None, "企业代表确认(联系人/联系电话/日期)", lambda d: f"{d['signer']['contact']} {d['signer']['phone']} {d['signer']['signed_on']}"),
    ]


def _cement_columns():
    g = lambda k: (lambda d: _num(d.get(k)))  # noqa: E731
    s = lambda k: (lambda d: (d.get("sampling") or {}).get(k) or "")  # noqa: E731
    return [
        (None, "序号", None), (None, "企业名称", "enterprise_name"), (None, "生产地址", g("address")), (None, "企业所在地(县)", g("county")),
        (None, "生产类型(水泥厂、熟料厂、粉磨站、配制厂)", g("production_type")), (None, "生产许可证号", g("licence_no")), (None, "有效期", g("valid_until")),
        (None, "有无违规产能(如有,填写问题汇总表)", lambda d: HAS[d.get("illegal_capacity")]),
        ("2021年水泥产量(万吨)", "总产量", g("output_total")), ("2021年水泥产量(万吨)", "通用水泥", g("output_general")),
        ("2021年水泥产量(万吨)", "熟料", g("output_clinker")), ("2021年水泥产量(万吨)", "特种水泥(明确到品种分别填写)", g("output_special")),
        (None, "是否存在无证生产等违法违规的生产行为(如是,填写问题汇总表)", lambda d: YN[d.get("unlicensed_production")]),
        (None, "企业生产现状", g("status")),
        ("2021-2022年质量监督抽查情况", "国家监督抽查(次数,合格或不合格)", s("national")),
        ("2021-2022年质量监督抽查情况", "省级及以下抽查(次数,合格或不合格)", s("provincial")),
        ("2021-2022年质量监督抽查情况", "处理意见(如有)", s("handling")),
        ("生料磨", "台数", g("raw_mills")), ("生料磨", "设备型号", g("raw_mill_models")),
        ("回转窑", "台数", g("kilns")), ("回转窑", "设备型号", g("kiln_models")),
        ("水泥磨", "台数", g("cement_mills")), ("水泥磨", "设备型号", g("cement_mill_models")),
        ("粉磨站", "熟料来源(公司)", g("clinker_source")), ("粉磨站", "2021年采购总量(万吨)", g("clinker_purchase_2021")),
        (None, "是否有国家明令淘汰设备(如有,在问题汇总表中说明)", lambda d: HAS[d.get("obsolete_equipment")]),
        (None, "是否保持获证时的生产条件(可附表说明情况)", lambda d: YN[d.get("keeps_conditions")] + (f"（{d['conditions_note']}）" if d.get("conditions_note") else "")),
        (None, "企业代表确认(联系人/联系电话/日期)", lambda d: f"{d['signer']['contact']} {d['signer']['phone']} {d['signer']['signed_on']}"),
    ]


COLUMNS = {"steel": _steel_columns, "cement": _cement_columns}


def form_out(x: ProductionForm) -> dict:
    return {"id": x.id, "kind": x.kind, "task_id": x.task_id, "plan_id": x.plan_id, "uscc": x.uscc, "enterprise_name": x.enterprise_name,
            "region_code": x.region_code, "city_code": x.city_code, "data": x.data, "filled_by": x.filled_by, "filled_as": x.filled_as,
            "version": x.version, "updated_at": x.updated_at}


def _kind(kind: str):
    if kind not in KINDS:
        raise not_found("登记表类型", kind)
    return KINDS[kind]


async def _task_for(s: AsyncSession, p: Principal, task_id: str) -> tuple[Task, str]:
    """The task and the capacity the caller acts in: its own enterprise, or a member of its team."""
    from .records import task_filter

    if p.has("enterprise") and p.uscc:
        t = (await s.execute(select(Task).where(Task.id == task_id, Task.uscc == p.uscc, Task.region_code != ""))).scalars().first()
        if t is not None:
            return t, "enterprise"
    else:
        t = (await s.execute(select(Task).where(Task.id == task_id, task_filter(p), Task.region_code != ""))).scalars().first()
        if t is not None:
            return t, "team" if p.has(*PEOPLE) else "reader"
    raise not_found("检查任务", task_id)


async def get_form(s: AsyncSession, p: Principal, task_id: str, kind: str) -> ProductionForm:
    _kind(kind)
    t, _ = await _task_for(s, p, task_id)
    x = (await s.execute(select(ProductionForm).where(ProductionForm.task_id == t.id, ProductionForm.kind == kind))).scalars().first()
    if x is None:
        raise not_found("生产状况登记表", f"{task_id}/{kind}")
    return x


async def put_form(ctx, s: AsyncSession, p: Principal, task_id: str, kind: str, raw: dict, request, rid) -> tuple[int, ProductionForm]:
    model, category, _, title = _kind(kind)
    t, capacity = await _task_for(s, p, task_id)
    if capacity == "team":
        from .scope import member_of

        await member_of(s, p, t.team_id)
    elif capacity != "enterprise":
        raise Problem(403, "forbidden", "无权执行此操作", detail="生产状况登记表由企业如实填写，或由检查组成员代为录入")
    if category not in (t.categories or []):
        raise Problem(422, "validation", detail=f"该企业的获证产品不含{'建筑用钢筋' if kind == 'steel' else '水泥'}，无需填写{title}",
                      errors=[{"field": "kind", "message": "与企业获证产品不符"}])
    try:
        body = model.model_validate(raw)
    except Exception as exc:  # pydantic ValidationError → field errors
        from pydantic import ValidationError

        from shared.errors import validation_errors

        if not isinstance(exc, ValidationError):
            raise
        errors = validation_errors(exc.errors())
        raise Problem(422, "validation", detail="；".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors) from None
    data = body.model_dump(mode="json")
    x = (await s.execute(select(ProductionForm).where(ProductionForm.task_id == t.id, ProductionForm.kind == kind).with_for_update())).scalars().first()
    now = utcnow()
    if x is None:
        x = ProductionForm(kind=kind, task_id=t.id, plan_id=t.plan_id, uscc=t.uscc, enterprise_name=t.enterprise_name, region_code=t.region_code,
                           city_code=t.city_code, data=data, filled_by=p.sub, filled_as=capacity, updated_at=now)
        s.add(x)
        await s.flush()
        await ctx.audit(s, p, f"form.{kind}.created", "production_form", x.id, after=form_out(x), request_id=rid)
        return 201, x
    require_if_match(request, x.version)
    before = form_out(x)
    x.data, x.filled_by, x.filled_as, x.updated_at = data, p.sub, capacity, now
    x.version += 1
    await s.flush()
    await ctx.audit(s, p, f"form.{kind}.updated", "production_form", x.id, before=before, after=form_out(x), request_id=rid)
    return 200, x


async def export_xlsx(s: AsyncSession, p: Principal, kind: str, city_code: str, plan_id: str | None) -> bytes:
    _, _, annex, title = _kind(kind)
    q = select(ProductionForm).where(ProductionForm.kind == kind, ProductionForm.city_code == city_code,
                                     read_filter(p, ProductionForm.region_code, select(Task.team_id).where(Task.id == ProductionForm.task_id).scalar_subquery()))
    if plan_id:
        q = q.where(ProductionForm.plan_id == plan_id)
    rows = list((await s.execute(q.order_by(ProductionForm.region_code, ProductionForm.uscc, ProductionForm.id).limit(5000))).scalars())
    return build_xlsx(kind, annex, title, city_code, rows)


def build_xlsx(kind: str, annex: str, title: str, city_code: str, rows: list[ProductionForm]) -> bytes:
    cols = COLUMNS[kind]()
    wb = Workbook()
    ws = wb.active
    ws.title = f"{city_name(city_code)}"[:31]
    n = len(cols)
    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)
    ws.cell(1, 1, annex)
    ws.cell(2, 1, title).font = Font(size=16, bold=True)
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=n)
    ws.cell(2, 1).alignment = center
    ws.cell(3, 1, f"填表单位：{city_name(city_code)}市市场监督管理局")
    ws.cell(3, n - 3, f"填表时间：{dt.date.today().isoformat()}")
    # two header rows: a group spans its columns on row 4, a column without group spans rows 4–5
    h1, h2 = 4, 5
    c = 1
    while c <= n:
        group, label, _ = cols[c - 1]
        if group is None:
            ws.cell(h1, c, label)
            ws.merge_cells(start_row=h1, start_column=c, end_row=h2, end_column=c)
            c += 1
            continue
        end = c
        while end < n and cols[end][0] == group:
            end += 1
        ws.cell(h1, c, group)
        if end > c:
            ws.merge_cells(start_row=h1, start_column=c, end_row=h1, end_column=end)
        for k in range(c, end + 1):
            ws.cell(h2, k, cols[k - 1][1])
        c = end + 1
    for r in (h1, h2):
        for k in range(1, n + 1):
            ws.cell(r, k).alignment = center
            ws.cell(r, k).font = Font(bold=True)
            ws.cell(r, k).border = border
    r = h2 + 1
    cell_align = Alignment(vertical="center", wrap_text=True)
    for i, x in enumerate(rows, 1):
        d = {**x.data, "enterprise_name": x.enterprise_name}
        for k, (_, _, get) in enumerate(cols, 1):
            if get is None:
                v = i
            elif isinstance(get, str):
                v = d.get(get) or ""
            else:
                v = get(d)
            cell = ws.cell(r, k, safe_cell(v))
            cell.border = border
            cell.alignment = cell_align
        r += 1
    ws.cell(r + 1, 1, "企业代表确认签字(公章)            联系人            联系电话                      年    月    日")
    ws.cell(r + 2, 1, "填表说明：本表由企业如实填写，并签字盖章确认。")
    for k in range(1, n + 1):
        ws.column_dimensions[get_column_letter(k)].width = 6 if k == 1 else 14
    ws.row_dimensions[h2].height = 60
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
