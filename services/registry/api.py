"""HTTP API of the registry (service paths; the gateway serves them under /api/v1/registry).
Routers stay thin: parse, call the domain module, shape the response."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import Field

from shared.auth import Principal, require_roles
from shared.canonical import sha256_hex
from shared.contract import op
from shared.errors import Problem
from shared.etag import require_if_match, set_etag
from shared.idempotency import idempotent_write
from shared.schemas import json_response
from shared.pagination import PageParams
from shared.schemas import StrictModel
from shared.service import CtxDep, request_id
from shared import regions

from . import catalogue, enterprises, imports, licences, people, population
from .jurisdiction import PEOPLE_READ_ROLES, POPULATION_ROLES, READ_ROLES, WRITE_ROLES

from . import schemas as S
from .schemas import ConflictOut, EnterpriseFullOut, EnterpriseOut, LicenceListOut, LicenceOut, PersonOut, SiteListOut, SiteOut
from .schemas import ConflictIn, EnterpriseIn, EnterprisePatch, FlagsIn, LicenceIn, LicencePatch, LicenceStatusIn, PersonIn, PersonPatch, SiteIn, SitePatch

Reader = Annotated[Principal, require_roles(*READ_ROLES)]
PeopleReader = Annotated[Principal, require_roles(*PEOPLE_READ_ROLES)]
Writer = Annotated[Principal, require_roles(*WRITE_ROLES)]
Pager = Annotated[PageParams, Depends()]

router = APIRouter()


async def _create(request: Request, ctx, principal: Principal, scope: str, body: dict, fn: Callable[..., Awaitable[dict]], etag_version=True) -> JSONResponse:
    """A create under Idempotency-Key (same key and body replay the first answer), in one transaction."""

    async def run(s):
        result = await fn(s)
        version = result.get("version") if etag_version and isinstance(result, dict) else None
        return 201, result, version if isinstance(version, int) else None

    return await idempotent_write(ctx, request, principal.sub, scope, body, run)


# ---------------------------------------------------------------- reference data
@router.get("/regions", tags=["行政区划与产品目录"], summary="山西省行政区划（省、11个市、117个县级单位）", **op(S.RegionNode))
async def get_regions():
    return regions.tree()


@router.get("/catalogues", tags=["行政区划与产品目录"], summary="工业产品生产许可证管理目录（各版本）", **op(S.CatalogueListOut))
async def list_catalogues():
    return {"latest": catalogue.LATEST, "items": [{"version": c["version"], "title": c["title"], "count": len(c["categories"])} for c in catalogue.CATALOGUES.values()]}


@router.get("/catalogues/{version}", tags=["行政区划与产品目录"], summary="某一版本的产品目录", **op(S.CatalogueOut))
async def get_catalogue(version: str):
    cat = catalogue.get(version)
    if cat is None:
        raise Problem(404, "not-found", "目录版本不存在", detail=f"目录版本 {version} 不存在")
    return cat


# ---------------------------------------------------------------- enterprises
@router.get("/enterprises", tags=["检查对象名录库"], summary="企业列表（按统一社会信用代码排序，游标分页）", **op(EnterpriseOut, page=True))
async def list_enterprises(
    ctx: CtxDep, principal: Reader, page: Pager,
    region: str | None = None, category: str | None = None,
    licence_status: Literal["有效", "暂停", "撤销", "吊销", "注销"] | None = None,
    flag: Literal["national_fail_5y", "provincial_fail_2021", "any"] | None = None,
    production_status: Literal["在产", "停产", "转产", "关停"] | None = None,
    q: Annotated[str | None, Query(max_length=100, description="按企业名称或统一社会信用代码检索")] = None,
):
    if region and not regions.is_known(region):
        raise Problem(422, "validation", "输入数据校验失败", errors=[{"field": "region", "message": f"未知的行政区划代码：{region}"}])
    if category and not catalogue.is_code(category):
        raise Problem(422, "validation", "输入数据校验失败", errors=[{"field": "category", "message": f"产品类别不在目录中：{category}"}])
    async with ctx.db.session() as s:
        return json_response(await enterprises.list_enterprises(s, principal, page, region=region, category=category, licence_status=licence_status, flag=flag, production_status=production_status, q=q))


@router.post("/enterprises", tags=["检查对象名录库"], summary="登记企业（可同时登记生产场所和许可证）", **op(EnterpriseFullOut, status=201, etag=True, idempotent=True))
async def create_enterprise(request: Request, body: EnterpriseIn, ctx: CtxDep, principal: Writer):
    return await _create(request, ctx, principal, "enterprise.create", body.model_dump(mode="json"),
                         lambda s: enterprises.register(s, ctx, principal, body, request_id(request)))


@router.get("/enterprises/{uscc}", tags=["检查对象名录库"], summary="企业详情（含生产场所、许可证）", **op(EnterpriseFullOut, etag=True))
async def get_enterprise(uscc: str, ctx: CtxDep, principal: Reader, response: Response):
    async with ctx.db.session() as s:
        e = await enterprises.get_visible(s, principal, uscc)
        state = await enterprises.full_state(s, e)
    set_etag(response, e.version)
    return state


@router.patch("/enterprises/{uscc}", tags=["检查对象名录库"], summary="修改企业信息（需 If-Match）", **op(EnterpriseFullOut, etag=True, if_match=True))
async def patch_enterprise(uscc: str, body: EnterprisePatch, request: Request, ctx: CtxDep, principal: Writer, response: Response):
    async with ctx.db.transaction() as s:
        e = await enterprises.get_writable(s, principal, uscc)
        require_if_match(request, e.version)
        state = await enterprises.update(s, ctx, principal, e, body, request_id(request))
    set_etag(response, state["version"])
    return state


@router.put("/enterprises/{uscc}/flags", tags=["检查对象名录库"], summary="设置抽查不合格标记（近5年国抽、2021年省抽；需 If-Match）", **op(EnterpriseFullOut, etag=True, if_match=True))
async def put_flags(uscc: str, body: FlagsIn, request: Request, ctx: CtxDep, principal: Writer, response: Response):
    async with ctx.db.transaction() as s:
        e = await enterprises.get_writable(s, principal, uscc)
        require_if_match(request, e.version)
        state = await enterprises.set_flags(s, ctx, principal, e, body, request_id(request))
    set_etag(response, state["version"])
    return state


@router.get("/enterprises/{uscc}/sites", tags=["检查对象名录库"], summary="企业的生产场所", **op(SiteListOut))
async def list_sites(uscc: str, ctx: CtxDep, principal: Reader):
    async with ctx.db.session() as s:
        e = await enterprises.get_visible(s, principal, uscc)
        return {"items": await enterprises.list_sites(s, e)}


@router.post("/enterprises/{uscc}/sites", tags=["检查对象名录库"], summary="新增生产场所", **op(SiteOut, status=201, etag=True, idempotent=True))
async def create_site(uscc: str, body: SiteIn, request: Request, ctx: CtxDep, principal: Writer):
    async def do(s):
        e = await enterprises.get_writable(s, principal, uscc)
        return await enterprises.add_site(s, ctx, principal, e, body, request_id(request))

    return await _create(request, ctx, principal, f"site.create:{uscc}", body.model_dump(mode="json"), do)


@router.get("/sites/{site_id}", tags=["检查对象名录库"], summary="生产场所详情", **op(SiteOut, etag=True))
async def get_site(site_id: str, ctx: CtxDep, principal: Reader, response: Response):
    async with ctx.db.session() as s:
        site, _ = await enterprises.get_site(s, principal, site_id)
    set_etag(response, site.version)
    return enterprises.site_dict(site)


@router.patch("/sites/{site_id}", tags=["检查对象名录库"], summary="修改生产场所（需 If-Match）", **op(SiteOut, etag=True, if_match=True))
async def patch_site(site_id: str, body: SitePatch, request: Request, ctx: CtxDep, principal: Writer, response: Response):
    async with ctx.db.transaction() as s:
        site, e = await enterprises.get_site(s, principal, site_id, for_update=True)
        require_if_match(request, site.version)
        d = await enterprises.update_site(s, ctx, principal, site, e, body, request_id(request))
    set_etag(response, d["version"])
    return d


@router.delete("/sites/{site_id}", tags=["检查对象名录库"], summary="删除生产场所（需 If-Match）", **op(EnterpriseFullOut, if_match=True))
async def delete_site(site_id: str, request: Request, ctx: CtxDep, principal: Writer):
    async with ctx.db.transaction() as s:
        site, e = await enterprises.get_site(s, principal, site_id, for_update=True)
        require_if_match(request, site.version)
        return await enterprises.remove_site(s, ctx, principal, site, e, request_id(request))


# ---------------------------------------------------------------- licences
@router.get("/enterprises/{uscc}/licences", tags=["许可证"], summary="企业的许可证", **op(LicenceListOut))
async def list_licences(uscc: str, ctx: CtxDep, principal: Reader):
    async with ctx.db.session() as s:
        e = await enterprises.get_visible(s, principal, uscc)
        return {"items": await licences.list_for(s, e)}


@router.post("/enterprises/{uscc}/licences", tags=["许可证"], summary="登记许可证", **op(LicenceOut, status=201, etag=True, idempotent=True))
async def create_licence(uscc: str, body: LicenceIn, request: Request, ctx: CtxDep, principal: Writer):
    async def do(s):
        e = await enterprises.get_writable(s, principal, uscc)
        return await licences.insert_licence(s, ctx, principal, e, body, request_id(request))

    return await _create(request, ctx, principal, f"licence.create:{uscc}", body.model_dump(mode="json"), do)


@router.get("/licences/{licence_id}", tags=["许可证"], summary="许可证详情", **op(LicenceOut, etag=True))
async def get_licence(licence_id: str, ctx: CtxDep, principal: Reader, response: Response):
    async with ctx.db.session() as s:
        lic, _ = await licences.get_visible(s, principal, licence_id)
    set_etag(response, lic.version)
    return licences.licence_dict(lic)


@router.patch("/licences/{licence_id}", tags=["许可证"], summary="修改许可证（产品名称、有效期；需 If-Match）", **op(LicenceOut, etag=True, if_match=True))
async def patch_licence(licence_id: str, body: LicencePatch, request: Request, ctx: CtxDep, principal: Writer, response: Response):
    async with ctx.db.transaction() as s:
        lic, e = await licences.get_visible(s, principal, licence_id, for_update=True)
        require_if_match(request, lic.version)
        d = await licences.update(s, ctx, principal, lic, e, body, request_id(request))
    set_etag(response, d["version"])
    return d


@router.post("/licences/{licence_id}/status", tags=["许可证"], summary="变更许可证状态（暂停/撤销/吊销/注销/恢复有效；需 If-Match）", **op(LicenceOut, etag=True, if_match=True))
async def post_licence_status(licence_id: str, body: LicenceStatusIn, request: Request, ctx: CtxDep, principal: Writer, response: Response):
    async with ctx.db.transaction() as s:
        lic, e = await licences.get_visible(s, principal, licence_id, for_update=True)
        require_if_match(request, lic.version)
        d = await licences.change_status(s, ctx, principal, lic, e, body, request_id(request))
    set_etag(response, d["version"])
    return d


@router.get("/licences/{licence_id}/history", tags=["许可证"], summary="许可证状态变更记录", **op(S.LicenceHistoryOut))
async def licence_history(licence_id: str, ctx: CtxDep, principal: Reader):
    async with ctx.db.session() as s:
        lic, _ = await licences.get_visible(s, principal, licence_id)
        return {"items": await licences.history(s, lic)}


# ---------------------------------------------------------------- inspectors and experts
def _people_routes(kind: str, path: str, tag: str) -> None:
    @router.get(f"/{path}", tags=[tag], summary=f"{tag}列表", name=f"list_{kind}", **op(PersonOut, page=True))
    async def list_people(
        ctx: CtxDep, principal: PeopleReader, page: Pager, region: str | None = None,
        level: Literal["province", "city", "county"] | None = None, active: bool | None = None,
        division_cadre: bool | None = None, business_line: str | None = None, certified: bool | None = None,
        specialty: str | None = None, q: Annotated[str | None, Query(max_length=100)] = None,
        unit: Annotated[str | None, Query(max_length=60, description="处室")] = None,
    ):
        if region and not regions.is_known(region):
            raise Problem(422, "validation", "输入数据校验失败", errors=[{"field": "region", "message": f"未知的行政区划代码：{region}"}])
        if specialty and not catalogue.is_code(specialty):
            raise Problem(422, "validation", "输入数据校验失败", errors=[{"field": "specialty", "message": f"产品类别不在目录中：{specialty}"}])
        async with ctx.db.session() as s:
            return await people.list_people(s, principal, kind, page, region=region, level=level, active=active, division_cadre=division_cadre,
                                            business_line=business_line, certified=certified, specialty=specialty, q=q, unit=unit)

    @router.post(f"/{path}", tags=[tag], summary=f"新增{tag}", name=f"create_{kind}", **op(PersonOut, status=201, etag=True, idempotent=True))
    async def create_person(request: Request, body: PersonIn, ctx: CtxDep, principal: Writer):
        return await _create(request, ctx, principal, f"{kind}.create", body.model_dump(mode="json"),
                             lambda s: people.create(s, ctx, principal, kind, body, request_id(request)))

    @router.get(f"/{path}/{{person_id}}", tags=[tag], summary=f"{tag}详情", name=f"get_{kind}", **op(PersonOut, etag=True))
    async def get_person(person_id: str, ctx: CtxDep, principal: PeopleReader, response: Response):
        async with ctx.db.session() as s:
            p = await people.get_visible(s, principal, kind, person_id)
            d = await people.state(s, p)
        set_etag(response, p.version)
        return d

    @router.patch(f"/{path}/{{person_id}}", tags=[tag], summary=f"修改{tag}（需 If-Match；停用设 active=false）", name=f"patch_{kind}", **op(PersonOut, etag=True, if_match=True))
    async def patch_person(person_id: str, body: PersonPatch, request: Request, ctx: CtxDep, principal: Writer, response: Response):
        async with ctx.db.transaction() as s:
            p = await people.get_visible(s, principal, kind, person_id, for_update=True)
            require_if_match(request, p.version)
            d = await people.update(s, ctx, principal, p, body, request_id(request))
        set_etag(response, d["version"])
        return d


_people_routes("inspector", "inspectors", "执法检查人员名录库")
_people_routes("expert", "experts", "技术专家库")


class WithdrawIn(StrictModel):
    reason: str | None = Field(default=None, max_length=500)


@router.get("/conflicts", tags=["回避申报"], summary="回避申报列表", **op(ConflictOut, page=True))
async def list_conflicts(ctx: CtxDep, principal: Annotated[Principal, require_roles("province_admin", "city_admin", "county_admin", "discipline", "inspector", "expert")], page: Pager, person_id: str | None = None, uscc: str | None = None):
    async with ctx.db.session() as s:
        return await people.list_conflicts(s, principal, page, person_id=person_id, uscc=uscc)


@router.post("/conflicts", tags=["回避申报"], summary="申报回避关系（管理员，或人员本人）", **op(ConflictOut, status=201, idempotent=True))
async def declare_conflict(request: Request, body: ConflictIn, ctx: CtxDep, principal: Annotated[Principal, require_roles("province_admin", "city_admin", "county_admin", "inspector", "expert")]):
    return await _create(request, ctx, principal, "conflict.create", body.model_dump(mode="json"),
                         lambda s: people.declare_conflict(s, ctx, principal, body, request_id(request)), etag_version=False)


@router.delete("/conflicts/{conflict_id}", tags=["回避申报"], summary="撤回回避申报", **op(ConflictOut))
async def withdraw_conflict(conflict_id: str, request: Request, ctx: CtxDep, principal: Writer, reason: Annotated[str | None, Query(max_length=500)] = None):
    async with ctx.db.transaction() as s:
        return await people.withdraw_conflict(s, ctx, principal, conflict_id, reason, request_id(request))


# ---------------------------------------------------------------- populations (contract with sampling)
Population = Annotated[Principal, require_roles(*POPULATION_ROLES)]


@router.get("/population/enterprises", tags=["抽查名录"], summary="抽查对象总体（按 uscc 稳定排序）", **op(S.PopulationEnterprisesOut))
async def population_enterprises(
    ctx: CtxDep, principal: Population,
    catalogue_version: Annotated[str, Query(alias="catalogue")] = "2022",
    licence_status: Annotated[Literal["有效", "暂停", "撤销", "吊销", "注销"], Query()] = "有效",
    region: str | None = None, cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=population.MAX_LIMIT)] = 1000,
):
    async with ctx.db.session() as s:
        return json_response(await population.enterprises(s, principal, catalogue_version=catalogue_version, licence_status=licence_status, region=region, cursor=cursor, limit=limit))


@router.get("/population/people", tags=["抽查名录"], summary="执法检查人员 / 技术专家总体（按 id 排序）", **op(S.PopulationPeopleOut))
async def population_people(
    ctx: CtxDep, principal: Population, kind: Literal["inspector", "expert"], active: bool | None = True,
    cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=population.MAX_LIMIT)] = 1000,
):
    async with ctx.db.session() as s:
        return json_response(await population.people(s, principal, kind=kind, active=active, cursor=cursor, limit=limit))


# ---------------------------------------------------------------- bulk imports
MAX_CONCURRENT_IMPORTS = 2  # files parsed at once per process; more answer 429 at once


def _import_slot(request: Request):
    """Claim one of the process's import slots (a counter on the app: no loop binding), or 429."""
    state = request.app.state
    busy = getattr(state, "imports_running", 0)
    if busy >= MAX_CONCURRENT_IMPORTS:
        raise Problem(429, "imports-busy", "导入任务繁忙，请稍后重试",
                      detail=f"本服务同时最多解析 {MAX_CONCURRENT_IMPORTS} 个导入文件，请稍后重新上传",
                      headers={"Retry-After": "10"})
    state.imports_running = busy + 1


async def _import(request: Request, ctx, principal: Principal, file: UploadFile, what: str, fn) -> JSONResponse:
    """Read the upload, then import under Idempotency-Key (the request body is the file's digest)."""
    _import_slot(request)
    try:
        data = await file.read()
        # parsing is CPU-bound and bounded (imports.API_LIMITS, with a wall-clock deadline): in a
        # worker thread, never on the loop
        table = await asyncio.to_thread(imports.read_table, file.filename or "", data)
    finally:
        request.app.state.imports_running -= 1
    body = {"filename": file.filename, "sha256": sha256_hex(data)}
    return await _create(request, ctx, principal, f"import.{what}", body,
                         lambda s: fn(s, ctx, principal.sub, table, scope_region=principal.region, request_id=request_id(request), source=file.filename),
                         etag_version=False)


@router.post("/imports/enterprises", tags=["批量导入"], summary="批量导入企业与许可证（CSV/XLSX；任一行有误则全部不写入）",
             **op(S.EnterpriseImportOut, status=201, idempotent=True, problems=(429,)))
async def import_enterprises(request: Request, ctx: CtxDep, principal: Writer, file: Annotated[UploadFile, File(description="CSV 或 XLSX 文件")]):
    return await _import(request, ctx, principal, file, "enterprises", imports.import_enterprises)


@router.post("/imports/people", tags=["批量导入"], summary="批量导入执法检查人员与技术专家（CSV/XLSX）", **op(S.PeopleImportOut, status=201, idempotent=True, problems=(429,)))
async def import_people(request: Request, ctx: CtxDep, principal: Writer, file: Annotated[UploadFile, File(description="CSV 或 XLSX 文件")]):
    return await _import(request, ctx, principal, file, "people", imports.import_people)



