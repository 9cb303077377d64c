"""往期检查（演示历史）: demo mode only. An earlier batch's hand-overs, for real demo enterprises and sites,
dated months ago, published as this service's own events so that rectification (and disclosure, risk)
see them through the same consumers as real ones — the only way a demo can show deadlines that have
already passed (overdue cases, then 撤销 / 立案查处) without moving any clock.

For each hand-over, in one transaction with its audit entry, the outbox gets

- ``inspection.record.submitted`` — the earlier batch's record (completed on the hand-over day, outcome
  发现问题待后续处理 + 责令改正), so disclosure has the result a later ``rectification.case.closed`` changes;
- ``inspection.problem_summary.handed_over`` — the 附件1 hand-over with ``handed_over_on`` in the past.

Both carry ``demo_history: true`` and the batch label. No record or summary row is written here: the
earlier batch was never inspected through this installation, and its ids (``hist-…``) say so.

The normal hand-over (``summaries.hand_over``) always dates the event today; this is the only path
that takes an explicit earlier date, and it answers 409 ``demo-only`` in production mode."""
from __future__ import annotations

import datetime as dt

from shared.auth import Principal
from shared.canonical import digest, sha256_hex
from shared.errors import Problem
from shared import regions
from shared.vocabulary import category_name, city_of, county_of

from . import checklist
from .scope import CHINA

PLAN_PREFIX = "demo-history-"
MAX_AGE_DAYS = 3 * 366


def refuse_in_production(ctx) -> None:
    if ctx.settings.production:
        raise Problem(409, "demo-only", "演示历史仅在演示模式下可用",
                      detail="生产模式下问题汇总表只能由检查组现场移交，移交日期为当天，不能补录往期日期")


def _ids(batch: str, uscc: str, site_id: str) -> dict:
    h = sha256_hex(f"{batch}\n{uscc}\n{site_id}")[:20]
    return {"record_id": f"hist-r-{h}", "summary_id": f"hist-s-{h}", "task_id": f"hist-t-{h}", "team_id": f"hist-g-{batch}"[:64]}


def _check(body, today: dt.date) -> None:
    errors = []
    for n, x in enumerate(body.handovers):
        if x.handed_over_on >= today:
            errors.append({"field": f"handovers.{n}.handed_over_on", "message": "往期检查的移交日期须早于今天"})
        elif (today - x.handed_over_on).days > MAX_AGE_DAYS:
            errors.append({"field": f"handovers.{n}.handed_over_on", "message": "往期检查不早于三年前"})
        if x.region_code.endswith("0000"):
            errors.append({"field": f"handovers.{n}.region_code", "message": "须为市或县（区）代码"})
        for k, q in enumerate(x.problems):
            if checklist.sub_item(checklist.CURRENT, q.item_code) is None:
                errors.append({"field": f"handovers.{n}.problems.{k}.item_code", "message": f"附件2 没有检查内容 {q.item_code}"})
    keys = [(x.uscc, x.site_id) for x in body.handovers]
    if len(set(keys)) != len(keys):
        errors.append({"field": "handovers", "message": "同一企业的同一生产场所只能出现一次"})
    if errors:
        raise Problem(422, "validation", "输入数据校验失败", detail="；".join(e["message"] for e in errors), errors=errors)


async def emit(ctx, s, p: Principal, body, rid: str | None, today: dt.date) -> dict:
    """Publish the earlier batch's records and hand-overs (outbox + audit, the caller's transaction)."""
    refuse_in_production(ctx)
    _check(body, today)
    plan_id = f"{PLAN_PREFIX}{body.batch}"
    items = []
    for x in body.handovers:
        ids = _ids(body.batch, x.uscc, x.site_id)
        city, county = city_of(x.region_code), county_of(x.region_code)
        at = dt.datetime.combine(x.handed_over_on, dt.time(16, 0), CHINA)
        findings = [{"no": n + 1, "item_code": q.item_code, "text": q.text, "fixed_on_site": False} for n, q in enumerate(x.problems)]
        common = {**ids, "plan_id": plan_id, "uscc": x.uscc, "enterprise_name": x.enterprise_name, "site_id": x.site_id,
                  "site_address": x.site_address, "region_code": x.region_code, "city_code": city, "county_code": county,
                  "demo_history": True, "batch": body.batch}
        record = {**common, "plan_name": body.plan_name, "bureau": regions.bureau(city, county), "product_categories": list(x.categories),
                  "completed_on": x.handed_over_on, "inspected": True, "not_inspected": None,
                  "outcome": {"categories": ["problem_pending"], "follow_up": "order_correction"}, "findings": findings}
        record["content_hash"] = digest({k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in record.items()})
        summary = {**common, "licences": [lic.model_dump(mode="json", exclude_none=True) for lic in x.licences],
                   "problems": [{**f, "evidence": []} for f in findings],
                   "products": [category_name(c) for c in x.categories],
                   "period": x.period.model_dump(), "handed_over_at": at, "handed_over_on": x.handed_over_on}
        await ctx.emit(s, "record", "submitted", record, subject_id=ids["record_id"], request_id=rid, actor=p.sub)
        await ctx.emit(s, "problem_summary", "handed_over", summary, subject_id=ids["summary_id"], request_id=rid, actor=p.sub)
        await ctx.audit(s, p, "demo_history.handed_over", "problem_summary", ids["summary_id"],
                        after={**summary, "handed_over_at": at.isoformat(), "handed_over_on": x.handed_over_on.isoformat()},
                        detail={"demo_history": True, "batch": body.batch, "plan_name": body.plan_name,
                                "emitted_on": today.isoformat()}, request_id=rid)
        items.append({"summary_id": ids["summary_id"], "record_id": ids["record_id"], "uscc": x.uscc, "handed_over_on": x.handed_over_on})
    return {"batch": body.batch, "plan_id": plan_id, "demo_history": True, "items": items}

