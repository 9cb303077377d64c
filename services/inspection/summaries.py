"""问题汇总表 (附件1): built from the sealed record's 不符合 items not fixed on site, handed over on site
to the enterprise and its city and county bureaus (event ``inspection.problem_summary.handed_over``)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal
from shared.db import utcnow
from shared.errors import Problem, not_found
from shared.etag import require_if_match
from shared.vocabulary import category_name

from . import records
from .models import Evidence, Licence, ProblemSummary
from .scope import china_date, member_of, read_filter


def summary_filter(p: Principal):
    # an enterprise sees its own summaries once handed over; bureaus their region; teams their own
    return read_filter(p, ProblemSummary.region_code, ProblemSummary.team_id, ProblemSummary.uscc,
                       enterprise_ok=ProblemSummary.state == "handed_over")


def summary_out(x: ProblemSummary) -> dict:
    return {"id": x.id, "record_id": x.record_id, "task_id": x.task_id, "team_id": x.team_id, "plan_id": x.plan_id, "uscc": x.uscc,
            "enterprise_name": x.enterprise_name, "site_id": x.site_id, "site_address": x.site_address, "region_code": x.region_code,
            "city_code": x.city_code, "county_code": x.county_code, "licences": x.licences, "products": x.products, "problems": x.problems,
            "period": {"value": x.period_value, "unit": x.period_unit, "label": period_label(x.period_value, x.period_unit)},
            "state": x.state, "team_signatures": x.team_signatures, "enterprise_confirmation": x.enterprise_confirmation,
            "handed_over_at": x.handed_over_at, "handed_over_by": x.handed_over_by, "version": x.version,
            "created_by": x.created_by, "created_at": x.created_at}


def period_label(value: int, unit: str) -> str:
    return f"{value}个工作日" if unit == "working_days" else f"{value}日"


async def get_summary(s: AsyncSession, p: Principal, summary_id: str, *, for_update: bool = False) -> ProblemSummary:
    q = select(ProblemSummary).where(ProblemSummary.id == summary_id, summary_filter(p))
    if for_update:
        q = q.with_for_update()
    x = (await s.execute(q)).scalars().first()
    if x is None:
        raise not_found("问题汇总表", summary_id)
    return x


async def create(ctx, s: AsyncSession, p: Principal, record_id: str, body, rid) -> ProblemSummary:
    r = await records.get_record(s, p, record_id, for_update=True)
    await member_of(s, p, r.team_id)
    if r.state != "sealed":
        raise Problem(409, "record-not-sealed", "记录尚未提交", detail="问题汇总表依据已提交封存的检查记录生成")
    if (await s.execute(select(ProblemSummary.id).where(ProblemSummary.record_id == r.id))).first():
        raise Problem(409, "summary-exists", "该记录已有问题汇总表", detail="一份检查记录只有一份问题汇总表")
    full = await records.load(s, r)
    items = full.get("current_items") or full["items"]
    ev_by_item: dict[str, list[str]] = {}
    for e in full["evidence"]:
        if e["item_code"]:
            ev_by_item.setdefault(e["item_code"], []).append(e["sha256"])
    open_items = [i for i in items if i["conclusion"] == "nonconforming" and not i["fixed_on_site"]]
    if not open_items:
        raise Problem(409, "no-open-problems", "没有需限期整改的问题", detail="记录中没有未当场整改的不符合项，无需问题汇总表")
    problems = [{"no": n + 1, "item_code": i["code"], "item_name": i["item_name"], "text": i["record"], "fixed_on_site": False,
                 "evidence": sorted(set(ev_by_item.get(i["code"], [])))} for n, i in enumerate(open_items)]
    rows = (await s.execute(select(Licence).where(Licence.uscc == r.uscc).order_by(Licence.number))).scalars().all()
    if body.licences:
        # typed by the team: held against what the registry sent for this enterprise, when it sent any (a made-up
        # number or expiry date would otherwise reach the rectification case, where 注销 on expiry rests on it)
        known = {x.number: x for x in rows}
        errors = []
        for n, x in enumerate(body.licences):
            reg = known.get(x.number)
            if known and reg is None:
                errors.append({"field": f"licences.{n}.number", "message": "登记库中该企业没有此许可证编号"})
            elif reg is not None and reg.expiry_date is not None and reg.expiry_date != x.valid_until:
                errors.append({"field": f"licences.{n}.valid_until", "message": f"与登记库不符（登记库：{reg.expiry_date.isoformat()}）"})
        if errors:
            raise Problem(422, "licence-not-in-registry", "许可证与登记库不符", detail="；".join(e["message"] for e in errors), errors=errors)
        lics = [{"number": x.number, "category": x.category, "valid_from": x.valid_from, "valid_until": x.valid_until,
                 "source": "registry" if x.number in known else "team"} for x in body.licences]
    else:
        lics = [{"number": x.number, "category": x.category, "valid_from": x.issue_date, "valid_until": x.expiry_date, "source": "registry"}
                for x in rows if x.status in (None, "有效") and (not r.categories or x.category in r.categories)]
        if not lics:
            raise Problem(422, "validation", detail="licences: 登记库未传来该企业的有效许可证，请填写许可证编号与有效期",
                          errors=[{"field": "licences", "message": "须填写生产许可证编号与有效期"}])
    period = body.period.model_dump() if body.period else dict(ctx.extras["default_period"])
    products = body.products or [category_name(c) for c in r.categories]
    x = ProblemSummary(record_id=r.id, task_id=r.task_id, team_id=r.team_id, plan_id=r.plan_id, uscc=r.uscc, enterprise_name=r.enterprise_name,
                       site_id=r.site_id, site_address=r.site_address, region_code=r.region_code, city_code=r.city_code, county_code=r.county_code,
                       licences=[{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in lic.items()} for lic in lics],
                       products=products, problems=problems, period_value=period["value"], period_unit=period["unit"],
                       team_signatures=[{"person_id": g["person_id"], "name": g["name"], "role": g["role"], "image_sha256": g["image_sha256"]}
                                        for g in full["signatures"]],
                       created_by=p.sub, created_at=utcnow())
    s.add(x)
    await s.flush()
    await ctx.audit(s, p, "problem_summary.created", "problem_summary", x.id, after=summary_out(x), request_id=rid)
    return x


async def hand_over(ctx, s: AsyncSession, p: Principal, summary_id: str, body, request, rid) -> ProblemSummary:
    x = await get_summary(s, p, summary_id, for_update=True)
    await member_of(s, p, x.team_id)
    require_if_match(request, x.version)
    if x.state == "handed_over":
        raise Problem(409, "summary-handed-over", "问题汇总表已移交", detail=f"已于 {x.handed_over_at.isoformat()} 现场移交")
    conf = body.enterprise
    if conf.image_sha256:
        ok = (await s.execute(select(Evidence.id).where(Evidence.record_id == x.record_id, Evidence.sha256 == conf.image_sha256))).first()
        if not ok:
            raise Problem(422, "validation", detail="enterprise.image_sha256: 签字扫描件须先上传到本记录",
                          errors=[{"field": "enterprise.image_sha256", "message": "签字扫描件须先上传到本记录"}])
    now = utcnow()
    before = summary_out(x)
    x.enterprise_confirmation = {**conf.model_dump(), "contact": body.contact}
    x.state, x.handed_over_at, x.handed_over_by = "handed_over", now, p.sub
    x.version += 1
    await s.flush()
    data = {"summary_id": x.id, "record_id": x.record_id, "task_id": x.task_id, "plan_id": x.plan_id, "team_id": x.team_id, "uscc": x.uscc,
            "enterprise_name": x.enterprise_name, "site_id": x.site_id, "site_address": x.site_address, "region_code": x.region_code,
            "city_code": x.city_code, "county_code": x.county_code,
            "licences": [{"number": lic["number"], "category": lic.get("category"), "valid_until": lic.get("valid_until")} for lic in x.licences],
            "problems": [{"no": q["no"], "item_code": q["item_code"], "text": q["text"], "fixed_on_site": q["fixed_on_site"], "evidence": q["evidence"]}
                         for q in x.problems],
            "period": {"value": x.period_value, "unit": x.period_unit}, "handed_over_at": now, "handed_over_on": china_date(now)}
    await ctx.emit(s, "problem_summary", "handed_over", data, subject_id=x.id, request_id=rid, actor=p.sub)
    await ctx.audit(s, p, "problem_summary.handed_over", "problem_summary", x.id, before=before, after=summary_out(x), request_id=rid)
    return x


def list_query(p: Principal, state: str | None, uscc: str | None, plan_id: str | None):
    q = select(ProblemSummary).where(summary_filter(p))
    if state:
        q = q.where(ProblemSummary.state == state)
    if uscc:
        q = q.where(ProblemSummary.uscc == uscc)
    if plan_id:
        q = q.where(ProblemSummary.plan_id == plan_id)
    return q

