"""HTTP API of the inspection service (thin: parse, call the domain, shape the answer)."""
from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from shared.auth import Principal, PrincipalDep, require_roles
from shared.contract import op
from shared.errors import Problem, check_text, not_found
from shared.etag import etag
from shared.idempotency import idempotent_write
from shared.pagination import PageParams, keyset, page_of
from shared.schemas import json_response
from shared.service import CtxDep, request_id

from . import checklist, demo_history, records, summaries
from . import schemas as S
from .models import Evidence, ProblemSummary, Record, Task
from .schemas import (AmendmentBody, Arrival, Decision, EnterpriseConfirmation, Handover, HistoryBatch, ItemUpdate, NotInspectedBody, SignBody,
                      ReportBody, SubmitBody, SummaryCreate)
from .scope import today
from .storage import TYPES

router = APIRouter(tags=["现场检查"])
Page = Annotated[PageParams, Depends()]
CONTENT_PURPOSES = ("item", "fix", "record")  # files that are the record's content (the seal's hash covers them)
PURPOSES = {"item": "检查项目证据", "fix": "当场整改证据", "not_inspected": "未实施检查的证据", "signature": "签名图像或签字扫描件", "record": "其他材料"}


def _json(payload, status=200, version: int | None = None):
    """Datetimes as the canonical serialisation writes them (``…Z``), so a reader can re-hash a sealed record."""
    return json_response(payload, status_code=status, headers={"ETag": etag(version)} if version is not None else None)


# ---------------------------------------------------------------- checklist template
@router.get("/checklists", summary="检查记录表模板（附件2）版本列表", **op(S.ChecklistListOut))
async def list_checklists(_: PrincipalDep):
    return {"items": [{"version": v, "title": t["title"], "source": t["source"], "current": v == checklist.CURRENT}
                      for v, t in checklist.TEMPLATES.items()]}


@router.get("/checklists/{version}", summary="检查记录表模板（9 个检查项目、检查内容、结论选项与适用规则）", **op(S.ChecklistOut))
async def get_checklist(version: str, _: PrincipalDep):
    t = checklist.template(version)
    if t is None:
        raise not_found("检查记录表模板", version)
    return t


# ---------------------------------------------------------------- tasks (from scheduling's events)
def task_out(t: Task) -> dict:
    return {"id": t.id, "team_id": t.team_id, "team_label": t.team_label, "plan_id": t.plan_id, "uscc": t.uscc, "enterprise_name": t.enterprise_name,
            "categories": t.categories, "site_id": t.site_id, "site_address": t.site_address, "region_code": t.region_code,
            "city_code": t.city_code, "county_code": t.county_code, "visit_date": t.visit_date, "status": t.status, "cancel_reason": t.cancel_reason}


@router.get("/tasks", summary="检查任务（本组的、本辖区的）", **op(S.TaskOut, page=True))
async def list_tasks(ctx: CtxDep, p: PrincipalDep, page: Page, team_id: str | None = None, status: str | None = None):
    q = select(Task, Record.id, Record.state).outerjoin(Record, Record.task_id == Task.id).where(records.task_filter(p), Task.region_code != "")
    if team_id:
        q = q.where(Task.team_id == team_id)
    if status:
        q = q.where(Task.status == status)
    async with ctx.db.session() as s:
        rows = (await s.execute(keyset(q, [Task.id], page))).all()
    pg = page_of(rows, page, lambda r: [r[0].id])
    return {"items": [{**task_out(t), "record": {"id": rid_, "state": st} if rid_ else None} for t, rid_, st in pg["rows"]],
            "next_cursor": pg["next_cursor"], "limit": page.limit}


@router.post("/tasks/{task_id}/record", summary="到场并开启检查记录（一企一表）", **op(S.RecordOut, status=201, etag=True, idempotent=True))
async def open_record(task_id: str, body: Arrival, ctx: CtxDep, p: PrincipalDep, request: Request):
    async def run(s):
        r = await records.open_record(ctx, s, p, task_id, body, request_id(request))
        return 201, await records.load(s, r), r.version

    return await idempotent_write(ctx, request, p.sub, f"record-open:{task_id}", body.model_dump(mode="json"), run)


# ---------------------------------------------------------------- records
@router.get("/records", summary="检查记录列表", **op(S.RecordHeadOut, page=True))
async def list_records(ctx: CtxDep, p: PrincipalDep, page: Page, state: str | None = None, team_id: str | None = None,
                       uscc: str | None = None, plan_id: str | None = None):
    q = select(Record).where(records.record_filter(p))
    for col, v in ((Record.state, state), (Record.team_id, team_id), (Record.uscc, uscc), (Record.plan_id, plan_id)):
        if v:
            q = q.where(col == v)
    async with ctx.db.session() as s:
        rows = list((await s.execute(keyset(q, [Record.id], page))).scalars())
    pg = page_of(rows, page, lambda r: [r.id])
    return {"items": [records.record_head(r) for r in pg["rows"]], "next_cursor": pg["next_cursor"], "limit": page.limit}


@router.get("/records/{record_id}", summary="检查记录（含检查项目、证据、签字、修订）", **op(S.RecordOut, etag=True))
async def get_record(record_id: str, ctx: CtxDep, p: PrincipalDep):
    async with ctx.db.session() as s:
        r = await records.get_record(s, p, record_id)
        return _json(await records.load(s, r), version=r.version)


@router.put("/records/{record_id}/items/{code}", summary="填写检查项目结论（If-Match，支持 Idempotency-Key）", **op(S.ItemUpdatedOut, etag=True, if_match=True, idempotent=True))
async def put_item(record_id: str, code: str, body: ItemUpdate, ctx: CtxDep, p: PrincipalDep, request: Request):
    async def run(s):
        out, version = await records.update_item(ctx, s, p, record_id, code, body, request, request_id(request))
        return 200, out, version

    return await idempotent_write(ctx, request, p.sub, f"item:{record_id}:{code}", body.model_dump(mode="json"), run)


@router.post("/records/{record_id}/signatures", summary="检查组成员签字确认", **op(S.SignatureOut, status=201))
async def sign(record_id: str, body: SignBody, ctx: CtxDep, p: PrincipalDep, request: Request):
    async with ctx.db.transaction() as s:
        return await records.sign(ctx, s, p, record_id, body, request_id(request))


@router.put("/records/{record_id}/enterprise-confirmation", summary="企业负责人签字确认或注明拒绝签字（If-Match）", **op(S.RecordOut, etag=True, if_match=True))
async def confirm(record_id: str, body: EnterpriseConfirmation, ctx: CtxDep, p: PrincipalDep, request: Request):
    async with ctx.db.transaction() as s:
        r = await records.confirm_enterprise(ctx, s, p, record_id, body, request, request_id(request))
        out = await records.load(s, r)
    return _json(out, version=r.version)


@router.post("/records/{record_id}/submit", summary="提交并封存检查记录（If-Match）", **op(S.RecordOut, etag=True, if_match=True))
async def submit(record_id: str, body: SubmitBody, ctx: CtxDep, p: PrincipalDep, request: Request):
    async with ctx.db.transaction() as s:
        out = await records.submit(ctx, s, p, record_id, body, request, request_id(request))
    return _json(out, version=out["version"])


@router.post("/records/{record_id}/not-inspected", summary="记为未实施检查（停产、转产等，附证据，If-Match）", **op(S.RecordOut, etag=True, if_match=True))
async def not_inspected(record_id: str, body: NotInspectedBody, ctx: CtxDep, p: PrincipalDep, request: Request):
    async with ctx.db.transaction() as s:
        out = await records.not_inspected(ctx, s, p, record_id, body, request, request_id(request))
    return _json(out, version=out["version"])


@router.post("/records/{record_id}/amendments", summary="提出更正（封存后，须组长批准）", **op(S.AmendmentOut, status=201, idempotent=True))
async def propose(record_id: str, body: AmendmentBody, ctx: CtxDep, p: PrincipalDep, request: Request):
    async def run(s):
        a = await records.propose_amendment(ctx, s, p, record_id, body, request_id(request))
        return 201, records.amendment_out(a), None

    return await idempotent_write(ctx, request, p.sub, f"amend:{record_id}", body.model_dump(mode="json"), run)


@router.post("/records/{record_id}/amendments/{amendment_id}/approve", summary="组长批准更正", **op(S.RecordOut, etag=True))
async def approve(record_id: str, amendment_id: str, body: Decision, ctx: CtxDep, p: PrincipalDep, request: Request):
    async with ctx.db.transaction() as s:
        out = await records.decide_amendment(ctx, s, p, record_id, amendment_id, True, body.note, request_id(request))
    return _json(out, version=out["version"])


@router.post("/records/{record_id}/amendments/{amendment_id}/reject", summary="组长驳回更正", **op(S.RecordOut, etag=True))
async def reject(record_id: str, amendment_id: str, body: Decision, ctx: CtxDep, p: PrincipalDep, request: Request):
    async with ctx.db.transaction() as s:
        out = await records.decide_amendment(ctx, s, p, record_id, amendment_id, False, body.note, request_id(request))
    return _json(out, version=out["version"])


# ---------------------------------------------------------------- evidence
@router.post("/records/{record_id}/evidence/upload", summary="上传证据（原始字节流，按内容识别类型，SHA-256 内容寻址）",
             **op(S.EvidenceOut, status=201, problems=(503, 507), openapi_extra={"requestBody": {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}, "required": True}}))
async def upload_evidence(
    record_id: str, ctx: CtxDep, p: PrincipalDep, request: Request,
    purpose: Annotated[str, Query(description="item / fix / not_inspected / signature / record")] = "item",
    item_code: Annotated[str | None, Query(max_length=10)] = None,
    filename: Annotated[str | None, Query(max_length=200)] = None,
    note: Annotated[str | None, Query(max_length=500)] = None,
):
    if purpose not in PURPOSES:
        raise Problem(422, "validation", detail="purpose: 取值不在允许范围内", errors=[{"field": "purpose", "message": f"应为 {'/'.join(PURPOSES)}"}])
    check_text("filename", filename)
    check_text("note", note)
    if item_code is not None and purpose not in ("item", "fix"):  # a file on an item is the item's evidence (and voids signatures)
        raise Problem(422, "validation", detail="item_code: 只有检查项目证据或当场整改证据指明检查项目",
                      errors=[{"field": "item_code", "message": f"{PURPOSES[purpose]}不指明检查项目"}])
    async with ctx.db.session() as s:  # who and where before a single byte is stored
        r = await records.get_record(s, p, record_id)
        from .scope import member_of

        await member_of(s, p, r.team_id)
        records.ensure_open(r)
        if item_code is not None and checklist.sub_item(r.checklist_version, item_code) is None:
            raise Problem(422, "validation", detail=f"item_code: 未知的检查项目 {item_code}", errors=[{"field": "item_code", "message": "未知的检查项目"}])
        if purpose in ("item", "fix") and item_code is None:
            raise Problem(422, "validation", detail="item_code: 检查项目证据须指明项目", errors=[{"field": "item_code", "message": "必填"}])
    store = ctx.extras["store"]
    stored = await store.save_stream(request.stream(), filename=filename, content_type=request.headers.get("content-type"),
                                     max_bytes=ctx.settings.max_upload_bytes)  # 507/503 when the store cannot write: no row below
    sha, size, media = stored.sha256, stored.size, stored.media_type
    from shared.db import utcnow

    async with ctx.db.transaction() as s:
        r = await records.get_record(s, p, record_id, for_update=True)
        records.ensure_open(r)
        e = Evidence(record_id=r.id, item_code=item_code, purpose=purpose, sha256=sha, size=size, media_type=media,
                     filename=filename, note=note, uploaded_by=p.sub, uploaded_at=utcnow())
        s.add(e)
        # evidence is part of what the seal's hash covers: like a changed answer, a file added after signing
        # asks for the signatures again (signature images themselves and not-inspected proof do not)
        cleared = await records.clear_signatures(s, r) if purpose in CONTENT_PURPOSES else 0
        await s.flush()
        await ctx.audit(s, p, "record.evidence_added", "record", r.id,
                        detail=records.evidence_out(e) | {"uploaded_at": None, "signatures_cleared": cleared}, request_id=request_id(request))
        return {**records.evidence_out(e), "signatures_cleared": cleared}


@router.get("/records/{record_id}/evidence/{evidence_id}/content", summary="下载证据文件", **op(None, media_type=tuple(TYPES), etag=True))
async def evidence_content(record_id: str, evidence_id: str, ctx: CtxDep, p: PrincipalDep):
    async with ctx.db.session() as s:
        r = await records.get_record(s, p, record_id)
        e = (await s.execute(select(Evidence).where(Evidence.id == evidence_id, Evidence.record_id == r.id))).scalars().first()
    if e is None:
        raise not_found("证据", evidence_id)
    name = e.filename or f"{e.sha256}"
    response = await ctx.extras["store"].response(e.sha256, e.media_type, {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}", "X-Content-Type-Options": "nosniff",
        "ETag": f'"{e.sha256}"', "Cache-Control": "private, max-age=3600"})
    if response is None:
        raise Problem(410, "evidence-missing", "证据文件缺失", detail="存储中找不到该文件（已登记其 SHA-256）")
    return response


# ---------------------------------------------------------------- problem summaries (附件1)
@router.post("/records/{record_id}/problem-summary", summary="生成问题汇总表（附件1）", **op(S.SummaryOut, status=201, etag=True, idempotent=True))
async def create_summary(record_id: str, body: SummaryCreate, ctx: CtxDep, p: PrincipalDep, request: Request):
    async def run(s):
        x = await summaries.create(ctx, s, p, record_id, body, request_id(request))
        return 201, summaries.summary_out(x), x.version

    return await idempotent_write(ctx, request, p.sub, f"summary:{record_id}", body.model_dump(mode="json"), run)


@router.get("/problem-summaries", summary="问题汇总表列表（企业账号只见本企业已移交的）", **op(S.SummaryOut, page=True))
async def list_summaries(ctx: CtxDep, p: PrincipalDep, page: Page, state: str | None = None, uscc: str | None = None, plan_id: str | None = None):
    q = summaries.list_query(p, state, uscc, plan_id)
    async with ctx.db.session() as s:
        rows = list((await s.execute(keyset(q, [ProblemSummary.id], page))).scalars())
    pg = page_of(rows, page, lambda x: [x.id])
    return {"items": [summaries.summary_out(x) for x in pg["rows"]], "next_cursor": pg["next_cursor"], "limit": page.limit}


@router.get("/problem-summaries/{summary_id}", summary="问题汇总表", **op(S.SummaryOut, etag=True))
async def get_summary(summary_id: str, ctx: CtxDep, p: PrincipalDep):
    async with ctx.db.session() as s:
        x = await summaries.get_summary(s, p, summary_id)
    return _json(summaries.summary_out(x), version=x.version)


@router.post("/problem-summaries/{summary_id}/handover", summary="现场移交问题汇总表（企业确认签字或注明拒签，If-Match）", **op(S.SummaryOut, etag=True, if_match=True))
async def handover(summary_id: str, body: Handover, ctx: CtxDep, p: PrincipalDep, request: Request):
    async with ctx.db.transaction() as s:
        x = await summaries.hand_over(ctx, s, p, summary_id, body, request, request_id(request))
    return _json(summaries.summary_out(x), version=x.version)


@router.post("/demo/history", summary="演示模式：发布往期检查批次的问题汇总表移交（演示历史，生产模式拒绝）",
             **op(S.HistoryOut, status=201, idempotent=True))
async def demo_history_handovers(body: HistoryBatch, ctx: CtxDep, request: Request, p: Principal = require_roles("province_admin")):
    demo_history.refuse_in_production(ctx)

    async def run(s):
        return 201, await demo_history.emit(ctx, s, p, body, request_id(request), today(ctx)), None

    return await idempotent_write(ctx, request, p.sub, f"demo-history:{body.batch}", body.model_dump(mode="json"), run)


# ---------------------------------------------------------------- printable forms
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _file(data: bytes, media: str, name: str):
    from fastapi.responses import Response

    return Response(data, media_type=media, headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
                                                     "X-Content-Type-Options": "nosniff"})


@router.get("/records/{record_id}/form.pdf", summary="打印检查记录表（附件2，PDF）", **op(None, media_type="application/pdf"))
async def record_pdf(record_id: str, ctx: CtxDep, p: PrincipalDep):
    import anyio

    from . import printing

    async with ctx.db.session() as s:
        full = await records.load(s, await records.get_record(s, p, record_id))
    data = await anyio.to_thread.run_sync(printing.record_pdf, full, ctx.extras["store"])
    return _file(data, "application/pdf", f"监督检查记录表-{full['enterprise_name'] or full['uscc']}.pdf")


@router.get("/records/{record_id}/form.xlsx", summary="检查记录表（附件2，XLSX）", **op(None, media_type=XLSX))
async def record_xlsx(record_id: str, ctx: CtxDep, p: PrincipalDep):
    from . import printing

    async with ctx.db.session() as s:
        full = await records.load(s, await records.get_record(s, p, record_id))
    return _file(printing.record_xlsx(full), XLSX, f"监督检查记录表-{full['uscc']}.xlsx")


@router.get("/problem-summaries/{summary_id}/form.pdf", summary="打印问题汇总表（附件1，PDF）", **op(None, media_type="application/pdf"))
async def summary_pdf(summary_id: str, ctx: CtxDep, p: PrincipalDep):
    import anyio

    from . import printing

    async with ctx.db.session() as s:
        x = summaries.summary_out(await summaries.get_summary(s, p, summary_id))
    data = await anyio.to_thread.run_sync(printing.summary_pdf, x, ctx.extras["store"])
    return _file(data, "application/pdf", f"问题汇总表-{x['enterprise_name'] or x['uscc']}.pdf")


@router.get("/problem-summaries/{summary_id}/form.xlsx", summary="问题汇总表（附件1，XLSX）", **op(None, media_type=XLSX))
async def summary_xlsx(summary_id: str, ctx: CtxDep, p: PrincipalDep):
    from . import printing

    async with ctx.db.session() as s:
        x = summaries.summary_out(await summaries.get_summary(s, p, summary_id))
    return _file(printing.summary_xlsx(x), XLSX, f"问题汇总表-{x['uscc']}.xlsx")


# ---------------------------------------------------------------- 附件3 / 附件4
@router.get("/tasks/{task_id}/forms/{kind}", summary="生产状况登记表（steel 附件3 / cement 附件4）", **op(S.FormOut, etag=True))
async def get_form(task_id: str, kind: str, ctx: CtxDep, p: PrincipalDep):
    from . import forms

    async with ctx.db.session() as s:
        x = await forms.get_form(s, p, task_id, kind)
    return _json(forms.form_out(x), version=x.version)


@router.put("/tasks/{task_id}/forms/{kind}", summary="填写生产状况登记表（企业或检查组；更新须 If-Match，支持 Idempotency-Key）",
            **op(S.FormOut, also=(201,), etag=True, idempotent=True, if_match="optional",
                 description="200 更新；201 首次填写（新建）"))
async def put_form(task_id: str, kind: str, body: dict, ctx: CtxDep, p: PrincipalDep, request: Request):
    from . import forms

    async def run(s):
        status, x = await forms.put_form(ctx, s, p, task_id, kind, body, request, request_id(request))
        return status, forms.form_out(x), x.version

    return await idempotent_write(ctx, request, p.sub, f"form:{task_id}:{kind}", body, run)


@router.get("/forms/{kind}/export.xlsx", summary="按市导出生产状况登记表（附件3/4 栏目，多行表头）", **op(None, media_type=XLSX))
async def export_forms(kind: str, city_code: Annotated[str, Query(pattern=r"^14\d{2}00$")], ctx: CtxDep, p: PrincipalDep, plan_id: str | None = None):
    from . import forms
    from shared.auth import reads_province

    if not reads_province(p):
        if not p.has("city_admin", "county_admin", "discipline", "inspector", "expert"):
            raise Problem(403, "forbidden", "无权执行此操作", detail="按市导出供省局、市县局和检查组使用")
        if p.has("city_admin", "county_admin", "discipline") and p.region[:4] != city_code[:4]:
            raise Problem(403, "out-of-jurisdiction", "超出管辖范围", detail="该市不在您的管辖范围内")
    async with ctx.db.session() as s:
        data = await forms.export_xlsx(s, p, kind, city_code, plan_id)
    title = forms.KINDS[kind][3]
    return _file(data, XLSX, f"{title}-{city_code}.xlsx")


# ---------------------------------------------------------------- team reports
@router.get("/teams/{team_id}/report", summary="检查组汇总报告（由记录生成，标注逾期）", **op(S.TeamReportOut))
async def team_report(team_id: str, ctx: CtxDep, p: PrincipalDep):
    from . import reports

    async with ctx.db.session() as s:
        team = await reports.get_team(s, p, team_id)
        return _json(await reports.build(ctx, s, team, await reports.region_in_view(s, p, team)))


@router.post("/teams/{team_id}/report", summary="组长提交检查组汇总报告（报省局）", **op(S.TeamReportOut, status=201))
async def submit_team_report(team_id: str, body: ReportBody, ctx: CtxDep, p: PrincipalDep, request: Request):
    from . import reports

    async with ctx.db.transaction() as s:
        out = await reports.submit(ctx, s, p, team_id, body.note, request_id(request))
    return _json(out, status=201)


@router.get("/teams/{team_id}/report.xlsx", summary="导出检查组汇总报告（XLSX）", **op(None, media_type=XLSX))
async def team_report_xlsx(team_id: str, ctx: CtxDep, p: PrincipalDep):
    from . import reports

    async with ctx.db.session() as s:
        team = await reports.get_team(s, p, team_id)
        rep = await reports.build(ctx, s, team, await reports.region_in_view(s, p, team))
    return _file(reports.to_xlsx(rep), XLSX, f"检查组汇总报告-{team_id}.xlsx")
