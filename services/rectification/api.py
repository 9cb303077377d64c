"""HTTP routes of the rectification service (thin: parse, call the domain, shape the answer)."""
from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Path, Query, Request, Response, UploadFile
from sqlalchemy import select

from shared import idempotency
from shared.auth import Principal, PrincipalDep, require_roles
from shared.contract import op
from shared.errors import Problem, not_found
from shared.evidence import MEDIA_TYPES
from shared.etag import set_etag
from shared.pagination import PageParams, keyset, page_of
from shared.schemas import IsoDate, json_response
from shared.service import CtxDep

from . import cases, outcomes, reports
from . import schemas as S
from .models import Case, Outcome
from .schemas import CaseDetailOut, CaseOut, DecideIn, HandlingIn, OutcomeIn, RecheckIn, ReportIn
from .scope import READERS, case_filter, today

router = APIRouter(tags=["整改与后续处理"])
Page = Annotated[PageParams, Depends()]
CaseId = Annotated[str, Path(min_length=1, max_length=32)]
Region = Annotated[str | None, Query(pattern=r"^\d{6}$", description="行政区划代码（市或县）")]
Status = Annotated[str | None, Query(pattern="^(open|reported|failed|closed)$")]


# ---------------------------------------------------------------- cases
@router.get("/cases", summary="整改案件列表（按管辖范围；企业只见本企业）", **op(CaseOut, page=True))
async def list_cases(
    ctx: CtxDep, principal: PrincipalDep, page: Page, status: Status = None, region: Region = None,
    overdue: bool | None = None, recheck_failed: bool | None = None,
    uscc: Annotated[str | None, Query(max_length=18)] = None, plan_id: Annotated[str | None, Query(max_length=64)] = None,
):
    f = {"status": status, "region": region, "overdue": overdue, "recheck_failed": recheck_failed, "uscc": uscc, "plan_id": plan_id}
    on = today(ctx)
    q = reports.ledger_query(principal, f, on)
    async with ctx.db.session() as s:
        rows = list((await s.execute(keyset(q, [Case.id], page))).scalars())
    p = page_of(rows, page, lambda c: [c.id])
    return json_response({"items": [cases.case_out(c, on) for c in p["rows"]], "next_cursor": p["next_cursor"], "limit": page.limit})


@router.get("/cases/{case_id}", summary="整改案件详情（问题、报告、处理、复查、处理决定、证据）", **op(CaseDetailOut, etag=True))
async def get_case(case_id: CaseId, ctx: CtxDep, principal: PrincipalDep, response: Response):
    async with ctx.db.session() as s:
        c, out = await cases.detail(s, principal, case_id, today(ctx))
    set_etag(response, c.version)
    return json_response(out, headers={"ETag": response.headers["ETag"]})


@router.post("/cases/{case_id}/evidence", summary="上传证据文件（按内容识别类型，按 SHA-256 存储）", **op(S.EvidenceStoredOut, status=201, problems=(503, 507)))
async def upload_evidence(case_id: CaseId, ctx: CtxDep, principal: PrincipalDep, file: UploadFile = File(...)):
    return await cases.add_evidence(ctx, principal, case_id, file, ctx.extras["evidence"])


@router.get("/cases/{case_id}/evidence/{sha256}", summary="下载证据文件", **op(None, media_type=tuple(MEDIA_TYPES), etag=True))
async def download_evidence(case_id: CaseId, sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")], ctx: CtxDep, principal: PrincipalDep):
    async with ctx.db.session() as s:
        e = await cases.evidence_for_download(s, principal, case_id, sha256)
    response = await ctx.extras["evidence"].response(sha256, e.media_type, {"X-Content-Type-Options": "nosniff",
                                                     "Content-Disposition": f"attachment; filename*=UTF-8''{quote(sha256)}"}) if e else None
    if response is None:
        raise not_found("证据文件", sha256[:12])
    return response


@router.post("/cases/{case_id}/problems/{no}/report", summary="企业报告某项问题的整改情况（县局可代为录入）",
             **op(S.CaseWithProblemOut, status=201, etag=True, idempotent=True))
async def report_problem(case_id: CaseId, no: Annotated[int, Path(ge=1, le=1000)], body: ReportIn, request: Request, ctx: CtxDep,
                         principal: Principal = require_roles("enterprise", "county_admin")):
    async def run(s):
        out, version = await cases.report(ctx, s, principal, case_id, no, body)
        return 201, out, version

    return await idempotency.idempotent_write(ctx, request, principal.sub, f"report:{case_id}:{no}", body.model_dump(mode="json"), run)


@router.post("/cases/{case_id}/handling", summary="县（区）局录入处理措施（责令改正、约谈、跟踪整改）",
             **op(S.CaseWithActionOut, status=201, etag=True, idempotent=True))
async def record_handling(case_id: CaseId, body: HandlingIn, request: Request, ctx: CtxDep, principal: Principal = require_roles("county_admin", "city_admin")):
    async def run(s):
        out, version = await cases.handling(ctx, s, principal, case_id, body)
        return 201, out, version

    return await idempotency.idempotent_write(ctx, request, principal.sub, f"handling:{case_id}", body.model_dump(mode="json"), run)


@router.post("/cases/{case_id}/recheck", summary="市局录入整改复查结论（需 If-Match）", **op(CaseOut, etag=True, if_match=True))
async def record_recheck(case_id: CaseId, body: RecheckIn, request: Request, ctx: CtxDep, response: Response,
                         principal: Principal = require_roles("city_admin", "county_admin")):
    c = await cases.recheck(ctx, principal, case_id, body, request)
    set_etag(response, c.version)
    return cases.case_out(c, today(ctx))


# ---------------------------------------------------------------- outcomes
@router.get("/legal-bases", summary="处理决定的法律依据（条款）", **op(S.LegalBasisListOut))
async def legal_bases(_: Principal = require_roles(*READERS)):
    return {"items": [outcomes.basis_out(b) for b in outcomes.legal_bases().values()]}


@router.post("/cases/{case_id}/outcomes", summary="提出处理建议（撤销/吊销/注销/立案查处/移送司法机关/抄告）",
             **op(S.OutcomeOut, status=201, etag=True, idempotent=True))
async def propose_outcome(case_id: CaseId, body: OutcomeIn, request: Request, ctx: CtxDep,
                          principal: Principal = require_roles("city_admin", "province_admin")):
    async def run(s):
        out, version = await outcomes.propose(ctx, s, principal, case_id, body)
        return 201, out, version

    return await idempotency.idempotent_write(ctx, request, principal.sub, f"outcome:{case_id}", body.model_dump(mode="json"), run)


@router.get("/outcomes", summary="处理建议与决定列表", **op(S.OutcomeOut, page=True))
async def list_outcomes(ctx: CtxDep, principal: PrincipalDep, page: Page,
                        status: Annotated[str | None, Query(pattern="^(proposed|decided|rejected)$")] = None,
                        kind: Annotated[str | None, Query(pattern="^(" + "|".join(outcomes.KINDS) + ")$")] = None):
    if principal.has("enterprise") and not principal.has("province_admin", "city_admin", "county_admin", "discipline"):
        raise Problem(403, "forbidden", "无权执行此操作")
    q = select(Outcome).join(Case, Case.id == Outcome.case_id).where(case_filter(principal))
    if status:
        q = q.where(Outcome.status == status)
    if kind:
        q = q.where(Outcome.kind == kind)
    async with ctx.db.session() as s:
        rows = list((await s.execute(keyset(q, [Outcome.id], page))).scalars())
    p = page_of(rows, page, lambda o: [o.id])
    return json_response({"items": [outcomes.outcome_out(o) for o in p["rows"]], "next_cursor": p["next_cursor"], "limit": page.limit})


@router.get("/outcomes/{outcome_id}", summary="处理建议详情", **op(S.OutcomeDetailOut, etag=True))
async def get_outcome(outcome_id: Annotated[str, Path(max_length=32)], ctx: CtxDep, principal: PrincipalDep, response: Response):
    async with ctx.db.session() as s:
        o, c = await outcomes.get_outcome(s, principal, outcome_id)
    if principal.has("enterprise") and not principal.has(*cases.BUREAU_ROLES) and o.status != "decided":
        raise not_found("处理决定", outcome_id)
    set_etag(response, o.version)
    return {**outcomes.outcome_out(o), "document": outcomes.referral_document(o, c)}


@router.post("/outcomes/{outcome_id}/decide", summary="决定或驳回处理建议（提出人以外的官员；许可证事项由省局；需 If-Match）", **op(S.OutcomeOut, etag=True, if_match=True))
async def decide_outcome(outcome_id: Annotated[str, Path(max_length=32)], body: DecideIn, request: Request, ctx: CtxDep, response: Response,
                         principal: Principal = require_roles("province_admin", "city_admin")):
    o = await outcomes.decide(ctx, principal, outcome_id, body, request)
    set_etag(response, o.version)
    return outcomes.outcome_out(o)


# ---------------------------------------------------------------- province views
@router.get("/report/cities", summary="按市汇总（立案、到期、逾期、复查合格/不合格、处理决定）", **op(S.CityRollupOut))
async def city_rollup(ctx: CtxDep, principal: Principal = require_roles("province_admin", "discipline", "city_admin")):
    on = today(ctx)
    async with ctx.db.session() as s:
        return json_response(await reports.rollup(s, principal, on))


def _ledger_filters(
    region: Region = None, status: Status = None, overdue: bool | None = None, recheck_failed: bool | None = None,
    uscc: Annotated[str | None, Query(max_length=18)] = None, plan_id: Annotated[str | None, Query(max_length=64)] = None,
    deadline_from: IsoDate | None = None, deadline_to: IsoDate | None = None,
    resolution: Annotated[str | None, Query(pattern="^(" + "|".join(cases.RESOLUTIONS) + ")$")] = None,
    outcome_kind: Annotated[str | None, Query(pattern="^(" + "|".join(outcomes.KINDS) + ")$")] = None,
    q: Annotated[str | None, Query(max_length=100, description="企业名称包含")] = None,
) -> dict:
    return {"region": region, "status": status, "overdue": overdue, "recheck_failed": recheck_failed, "uscc": uscc, "plan_id": plan_id,
            "deadline_from": deadline_from, "deadline_to": deadline_to, "resolution": resolution, "outcome_kind": outcome_kind, "q": q}


LedgerFilters = Annotated[dict, Depends(_ledger_filters)]
LEDGER_ROLES = ("province_admin", "discipline", "city_admin", "county_admin")


@router.get("/ledger", summary="问题企业工作台帐（筛选、分页）", **op(S.LedgerRowOut, page=True))
async def ledger(ctx: CtxDep, page: Page, f: LedgerFilters, principal: Principal = require_roles(*LEDGER_ROLES)):
    on = today(ctx)
    async with ctx.db.session() as s:
        rows = list((await s.execute(keyset(reports.ledger_query(principal, f, on), [Case.id], page))).scalars())
        p = page_of(rows, page, lambda c: [c.id])
        outs = await reports.outcomes_of(s, [c.id for c in p["rows"]])
    items = [reports.ledger_row(c, outs.get(c.id, []), on) for c in p["rows"]]
    return json_response({"items": items, "next_cursor": p["next_cursor"], "limit": page.limit})


@router.get("/ledger.xlsx", summary="导出问题企业工作台帐（XLSX）", **op(None, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
async def ledger_xlsx(ctx: CtxDep, f: LedgerFilters, principal: Principal = require_roles(*LEDGER_ROLES)):
    on = today(ctx)
    data, n = await reports.export_xlsx(ctx, principal, f, on)
    name = quote(f"问题企业工作台帐-{on.isoformat()}.xlsx")
    return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}", "X-Row-Count": str(n)})
