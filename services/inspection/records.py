"""一企一表: opening a record on arrival, item conclusions, signatures, sealing, not-inspected
outcomes and amendments. Every change, its event and its audit entry in one transaction."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal
from shared.canonical import digest
from shared.db import utcnow
from shared.errors import Problem, not_found
from shared.etag import require_if_match
from shared import regions
from shared.vocabulary import FOLLOW_UP_MEASURES, NOT_INSPECTED_REASONS, RESULT_CATEGORIES

from . import checklist
from .models import Amendment, Evidence, ItemAnswer, ProblemSummary, Record, Signature, Task, Team
from .scope import china_date, member_of, read_filter

CONCLUSION_LABELS = checklist.CONCLUSIONS


def record_filter(p: Principal):
    return read_filter(p, Record.region_code, Record.team_id)


def task_filter(p: Principal):
    return read_filter(p, Task.region_code, Task.team_id)


async def get_record(s: AsyncSession, p: Principal, record_id: str, *, for_update: bool = False) -> Record:
    q = select(Record).where(Record.id == record_id, record_filter(p))
    if for_update:
        q = q.with_for_update()
    r = (await s.execute(q)).scalars().first()
    if r is None:
        raise not_found("检查记录", record_id)
    return r


async def get_task(s: AsyncSession, p: Principal, task_id: str) -> Task:
    t = (await s.execute(select(Task).where(Task.id == task_id, task_filter(p)))).scalars().first()
    if t is None or not t.region_code:
        raise not_found("检查任务", task_id)
    return t


def _conflict(slug: str, title: str, detail: str) -> Problem:
    return Problem(409, slug, title, detail=detail)


def ensure_open(r: Record) -> None:
    if r.state == "sealed":
        raise _conflict("record-sealed", "检查记录已提交封存", "记录已封存为只读；如需更正请提出修订（须组长批准）")
    if r.state == "not_inspected":
        raise _conflict("record-not-inspected", "该记录已记为未实施检查", "记录已封存为只读；如需更正请提出修订（须组长批准）")


# ---------------------------------------------------------------- shapes
def item_out(a: ItemAnswer, sub: dict) -> dict:
    return {"code": a.code, "item_no": sub["item_no"], "item_name": sub["item_name"], "text": sub["text"], "allowed": sub["conclusions"],
            "rule_note": sub["note"], "conclusion": a.conclusion, "conclusion_label": CONCLUSION_LABELS.get(a.conclusion or ""),
            "preset": a.preset, "reason": a.reason, "record": a.text, "fixed_on_site": a.fixed_on_site, "fix_note": a.fix_note,
            "version": a.version, "updated_by": a.updated_by, "updated_at": a.updated_at}


def record_head(r: Record) -> dict:
    return {"id": r.id, "task_id": r.task_id, "team_id": r.team_id, "plan_id": r.plan_id, "uscc": r.uscc, "enterprise_name": r.enterprise_name,
            "site_id": r.site_id, "site_address": r.site_address, "region_code": r.region_code, "city_code": r.city_code,
            "county_code": r.county_code, "categories": r.categories, "product_type": r.product_type,
            "product_type_label": checklist.PRODUCT_TYPES[r.product_type], "checklist_version": r.checklist_version, "state": r.state,
            "production_status": r.production_status, "arrived_at": r.arrived_at, "present": r.present, "gps": r.gps,
            "opened_by": r.opened_by, "enterprise_confirmation": r.enterprise_confirmation, "not_inspected": r.not_inspected,
            "follow_up_inspection": bool(r.not_inspected), "outcome": r.outcome, "completed_on": r.completed_on, "sealed_at": r.sealed_at,
            "sealed_by": r.sealed_by, "content_hash": r.content_hash, "current_hash": r.current_hash,
            "amendment_count": r.amendment_count, "version": r.version, "updated_at": r.updated_at}


async def load(s: AsyncSession, r: Record) -> dict:
    items = list((await s.execute(select(ItemAnswer).where(ItemAnswer.record_id == r.id))).scalars())
    subs = {x["code"]: x for x in checklist.sub_items(r.checklist_version)}
    order = list(subs)
    items.sort(key=lambda a: order.index(a.code))
    ev = list((await s.execute(select(Evidence).where(Evidence.record_id == r.id).order_by(Evidence.uploaded_at, Evidence.id))).scalars())
    sigs = list((await s.execute(select(Signature).where(Signature.record_id == r.id).order_by(Signature.signed_at, Signature.id))).scalars())
    ams = list((await s.execute(select(Amendment).where(Amendment.record_id == r.id).order_by(Amendment.seq))).scalars())
    summary = (await s.execute(select(ProblemSummary.id, ProblemSummary.state).where(ProblemSummary.record_id == r.id))).first()
    out = record_head(r)
    out["items"] = [item_out(a, subs[a.code]) for a in items]
    out["evidence"] = [evidence_out(e) for e in ev]
    out["signatures"] = [{"person_id": g.person_id, "name": g.name, "role": g.role, "image_sha256": g.image_sha256, "signed_at": g.signed_at} for g in sigs]
    out["amendments"] = [amendment_out(a) for a in ams]
    if any(a.status == "approved" for a in ams):
        out["current_items"] = effective_items(out["items"], [a for a in ams if a.status == "approved"])
    out["problem_summary"] = {"id": summary.id, "state": summary.state} if summary else None
    return out


def evidence_out(e: Evidence) -> dict:
    return {"id": e.id, "item_code": e.item_code, "purpose": e.purpose, "sha256": e.sha256, "size": e.size, "media_type": e.media_type,
            "filename": e.filename, "note": e.note, "uploaded_by": e.uploaded_by, "uploaded_at": e.uploaded_at}


def amendment_out(a: Amendment) -> dict:
    return {"id": a.id, "seq": a.seq, "reason": a.reason, "changes": a.changes, "outcome": a.outcome, "status": a.status,
            "proposed_by": a.proposed_by, "proposed_person_id": a.proposed_person_id, "proposed_at": a.proposed_at,
            "decided_by": a.decided_by, "decided_person_id": a.decided_person_id, "decided_at": a.decided_at,
            "decision_note": a.decision_note, "content_hash": a.content_hash}


def effective_items(items: list[dict], approved: list[Amendment]) -> list[dict]:
    """The items as corrected by the approved amendments, in order (the original stays as it was)."""
    cur = {i["code"]: dict(i) for i in items}
    for a in sorted(approved, key=lambda a: a.seq):
        for ch in a.changes:
            it = cur[ch["code"]]
            it.update({"conclusion": ch["conclusion"], "conclusion_label": CONCLUSION_LABELS[ch["conclusion"]], "record": ch.get("text"),
                       "fixed_on_site": bool(ch.get("fixed_on_site")), "amended_by": a.id})
    return [cur[c] for c in cur]


async def clear_signatures(s: AsyncSession, r: Record, bump: bool = True) -> int:
    """The members' signatures of a record whose content changed (they confirmed what they saw); the
    record moves a version on when there were any (unless the caller moves it anyway), so a screen
    holding the old state is told (412)."""
    cleared = (await s.execute(delete(Signature).where(Signature.record_id == r.id))).rowcount or 0
    if cleared and bump:
        r.version += 1
        r.updated_at = utcnow()
    return cleared


# ---------------------------------------------------------------- open (arrival)
async def open_record(ctx, s: AsyncSession, p: Principal, task_id: str, body, rid) -> Record:
    task = await get_task(s, p, task_id)
    me = await member_of(s, p, task.team_id)
    if task.status == "cancelled":
        raise _conflict("task-cancelled", "检查任务已取消", f"该任务已取消：{task.cancel_reason or ''}")
    if (await s.execute(select(Record.id).where(Record.task_id == task.id))).first():
        raise _conflict("record-exists", "该任务已有检查记录", "一户企业（生产地址）一份检查记录：请打开已有记录")
    team = await s.get(Team, task.team_id)
    members = {m["person_id"]: m for m in team.members}
    errors = []
    present = []
    for i, pid in enumerate(body.present):
        if pid not in members:
            errors.append({"field": f"present.{i}", "message": f"{pid} 不是本检查组现任成员"})
        elif pid not in [m["person_id"] for m in present]:
            present.append(members[pid])
    if me["person_id"] not in [m["person_id"] for m in present]:
        errors.append({"field": "present", "message": "录入人本人必须在到场人员之中"})
    officers = [m for m in present if m.get("law_enforcement")]
    if len(officers) < 2:
        errors.append({"field": "present", "message": f"到场执法人员须不少于 2 名（现为 {len(officers)} 名）"})
    now = utcnow()
    if body.arrived_at > now + dt.timedelta(minutes=10):
        errors.append({"field": "arrived_at", "message": "到场时间不能晚于当前时间"})
    if errors:
        raise Problem(422, "validation", "到场信息不符合要求", detail="；".join(e["message"] for e in errors), errors=errors)
    product_type = checklist.product_type_of(task.categories)
    r = Record(task_id=task.id, team_id=task.team_id, plan_id=task.plan_id, uscc=task.uscc, enterprise_name=task.enterprise_name,
               site_id=task.site_id, site_address=task.site_address, region_code=task.region_code, city_code=task.city_code,
               county_code=task.county_code, categories=task.categories, product_type=product_type, checklist_version=checklist.CURRENT,
               production_status=body.production_status, arrived_at=body.arrived_at, present=present,
               gps=body.gps.model_dump() if body.gps else None, opened_by=p.sub, updated_at=now)
    s.add(r)
    await s.flush()
    for sub in checklist.sub_items(r.checklist_version):
        reason = checklist.preset(sub, product_type, body.production_status, task.categories)
        s.add(ItemAnswer(record_id=r.id, code=sub["code"], conclusion="not_applicable" if reason else None, preset=bool(reason),
                         reason=reason, updated_at=now, updated_by="rule" if reason else None))
    await s.flush()
    data = {"record_id": r.id, "task_id": r.task_id, "plan_id": r.plan_id, "team_id": r.team_id, "uscc": r.uscc,
            "enterprise_name": r.enterprise_name, "site_id": r.site_id, "region_code": r.region_code, "city_code": r.city_code,
            "county_code": r.county_code, "arrived_at": r.arrived_at}
    await ctx.emit(s, "record", "opened", data, subject_id=r.id, request_id=rid, actor=p.sub)
    await ctx.audit(s, p, "record.opened", "record", r.id, after=record_head(r), detail={"present": [m["person_id"] for m in present]}, request_id=rid)
    return r


# ---------------------------------------------------------------- items
async def update_item(ctx, s: AsyncSession, p: Principal, record_id: str, code: str, body, request, rid) -> tuple[dict, int]:
    r = await get_record(s, p, record_id, for_update=True)
    await member_of(s, p, r.team_id)
    ensure_open(r)
    a = (await s.execute(select(ItemAnswer).where(ItemAnswer.record_id == r.id, ItemAnswer.code == code))).scalars().first()
    sub = checklist.sub_item(r.checklist_version, code)
    if a is None or sub is None:
        raise not_found("检查项目", code)
    require_if_match(request, a.version)
    if a.preset:
        raise Problem(409, "item-not-applicable", "该项目不适用", detail=f"{code}：{a.reason}（按适用规则预置为不适用，不能填写）",
                      errors=[{"field": "conclusion", "message": a.reason}])
    validate_answer(sub, r.product_type, body.conclusion, body.text, body.fixed_on_site, field_prefix="")
    before = {"conclusion": a.conclusion, "text": a.text, "fixed_on_site": a.fixed_on_site, "version": a.version}
    a.conclusion, a.text, a.fixed_on_site = body.conclusion, body.text, bool(body.fixed_on_site)
    a.fix_note = body.fix_note if body.fixed_on_site else None
    a.reason = body.text if body.conclusion == "not_applicable" else None
    a.version += 1
    a.updated_by, a.updated_at = p.sub, utcnow()
    r.version += 1
    r.updated_at = a.updated_at
    # a signature confirms the content it saw: a change after signing asks for the signatures again
    cleared = await clear_signatures(s, r, bump=False)  # (the answer moved the record's version already)
    await s.flush()
    after = {"conclusion": a.conclusion, "text": a.text, "fixed_on_site": a.fixed_on_site, "version": a.version}
    await ctx.audit(s, p, "record.item_updated", "record", r.id, before=before, after=after, detail={"code": code, "signatures_cleared": cleared}, request_id=rid)
    return {**item_out(a, sub), "signatures_cleared": cleared}, a.version


def validate_answer(sub: dict, product_type: str, conclusion: str, text: str | None, fixed: bool | None, field_prefix: str) -> None:
    f = field_prefix
    if conclusion not in sub["conclusions"]:
        allowed = "/".join(CONCLUSION_LABELS[c] for c in sub["conclusions"])
        raise Problem(422, "validation", detail=f"{sub['code']} 只能填写 {allowed}", errors=[{"field": f + "conclusion", "message": f"只能填写 {allowed}"}])
    if conclusion == "not_applicable" and not checklist.may_choose_na(sub, product_type):
        raise Problem(422, "validation", detail=f"{sub['code']} 对本企业适用，不能填写不适用（{sub['note'] or '适用于所有产品'}）",
                      errors=[{"field": f + "conclusion", "message": "对本企业适用，不能填写不适用"}])
    if conclusion in ("nonconforming", "not_applicable") and not (text and text.strip()):
        what = "不符合须写明检查记录（发现的问题）" if conclusion == "nonconforming" else "不适用须写明理由"
        raise Problem(422, "validation", detail=f"{sub['code']}：{what}", errors=[{"field": f + "text", "message": what}])
    if fixed and conclusion != "nonconforming":
        raise Problem(422, "validation", detail="只有不符合项才能记为当场整改", errors=[{"field": f + "fixed_on_site", "message": "只有不符合项才能记为当场整改"}])


# ---------------------------------------------------------------- signatures
async def _image(s: AsyncSession, r: Record, sha: str | None, field: str) -> None:
    if sha is None:
        return
    ok = (await s.execute(select(Evidence.id).where(Evidence.record_id == r.id, Evidence.sha256 == sha,
                                                    Evidence.media_type.in_(("image/png", "image/jpeg", "image/webp", "application/pdf"))))).first()
    if not ok:
        raise Problem(422, "validation", detail=f"{field}: 签名图像须先作为本记录的文件上传", errors=[{"field": field, "message": "签名图像或签字扫描件须先上传到本记录"}])


async def sign(ctx, s: AsyncSession, p: Principal, record_id: str, body, rid) -> dict:
    r = await get_record(s, p, record_id, for_update=True)
    me = await member_of(s, p, r.team_id)
    ensure_open(r)
    if me["person_id"] not in [m["person_id"] for m in r.present]:
        raise Problem(403, "not-present", "未到场人员不能签字", detail="只有到场的检查组成员签字确认")
    missing = await unanswered(s, r)
    if missing:
        raise _conflict("record-incomplete", "检查项目尚未填写完整", f"以下项目尚未填写结论：{'、'.join(missing)}")
    await _image(s, r, body.image_sha256, "image_sha256")
    if (await s.execute(select(Signature.id).where(Signature.record_id == r.id, Signature.person_id == me["person_id"]))).first():
        raise _conflict("already-signed", "已签字", "您已对当前内容签字确认")
    g = Signature(record_id=r.id, person_id=me["person_id"], name=me.get("name"), role=me.get("role"), image_sha256=body.image_sha256,
                  signed_by=p.sub, signed_at=utcnow())
    s.add(g)
    await s.flush()
    await ctx.audit(s, p, "record.signed", "record", r.id, detail={"person_id": g.person_id, "image_sha256": g.image_sha256}, request_id=rid)
    return {"person_id": g.person_id, "name": g.name, "role": g.role, "image_sha256": g.image_sha256, "signed_at": g.signed_at}


async def confirm_enterprise(ctx, s: AsyncSession, p: Principal, record_id: str, body, request, rid) -> Record:
    r = await get_record(s, p, record_id, for_update=True)
    await member_of(s, p, r.team_id)
    ensure_open(r)
    require_if_match(request, r.version)
    await _image(s, r, body.image_sha256, "image_sha256")
    before = r.enterprise_confirmation
    r.enterprise_confirmation = {**body.model_dump(), "recorded_by": p.sub, "recorded_at": utcnow().isoformat()}
    r.version += 1
    r.updated_at = utcnow()
    await s.flush()
    await ctx.audit(s, p, "record.enterprise_confirmation", "record", r.id, before=before, after=r.enterprise_confirmation, request_id=rid)
    return r


async def unanswered(s: AsyncSession, r: Record) -> list[str]:
    rows = (await s.execute(select(ItemAnswer.code).where(ItemAnswer.record_id == r.id, ItemAnswer.conclusion.is_(None)))).scalars().all()
    return sorted(rows, key=lambda c: [int(x) for x in c.split(".")])


# ---------------------------------------------------------------- sealing
def derive_outcome(items: list[dict]) -> dict:
    bad = [i for i in items if i["conclusion"] == "nonconforming"]
    if not bad:
        return {"categories": ["no_problem"], "follow_up": "none_needed"}
    if all(i["fixed_on_site"] for i in bad):
        return {"categories": ["problem_corrected"], "follow_up": "none_needed"}
    return {"categories": ["problem_pending"], "follow_up": "order_correction"}


def check_outcome(outcome: dict | None, derived: dict, field: str = "outcome") -> dict:
    if outcome is None:
        return derived
    cats, fu = outcome["categories"], outcome["follow_up"]
    errors = [{"field": f"{field}.categories", "message": f"未知的结果类别 {c}"} for c in cats if c not in RESULT_CATEGORIES]
    if fu not in FOLLOW_UP_MEASURES:
        errors.append({"field": f"{field}.follow_up", "message": f"未知的后续处置措施 {fu}"})
    if "no_problem" in cats and derived["categories"] != ["no_problem"]:
        errors.append({"field": f"{field}.categories", "message": "记录中有不符合项，不能公示为未发现问题"})
    if derived["categories"] == ["problem_pending"] and "problem_corrected" in cats:
        errors.append({"field": f"{field}.categories", "message": "尚有未当场整改的问题，不能公示为已责令改正"})
    if errors:
        raise Problem(422, "validation", detail="；".join(e["message"] for e in errors), errors=errors)
    return {"categories": list(dict.fromkeys(cats)), "follow_up": fu}


def findings(items: list[dict]) -> list[dict]:
    out = []
    for i in items:
        if i["conclusion"] == "nonconforming":
            out.append({"no": len(out) + 1, "item_code": i["code"], "text": i["record"], "fixed_on_site": i["fixed_on_site"]})
    return out


def content_of(full: dict, items: list[dict]) -> dict:
    """What the seal's hash covers: the record's facts, every item, evidence hashes, signatures."""
    keys = ("id", "task_id", "team_id", "plan_id", "uscc", "enterprise_name", "site_id", "site_address", "region_code", "categories",
            "product_type", "checklist_version", "production_status", "arrived_at", "present", "gps", "enterprise_confirmation",
            "not_inspected", "outcome", "completed_on")
    return {**{k: full[k] for k in keys},
            "items": [{k: i[k] for k in ("code", "conclusion", "preset", "reason", "record", "fixed_on_site", "fix_note")} for i in items],
            "evidence": sorted([{"sha256": e["sha256"], "item_code": e["item_code"], "purpose": e["purpose"]} for e in full["evidence"]],
                               key=lambda e: (e["sha256"], e["item_code"] or "", e["purpose"])),
            "signatures": [{k: g[k] for k in ("person_id", "name", "role", "image_sha256")} for g in full["signatures"]]}


def bureau_of(r: Record) -> dict:
    return regions.bureau(r.city_code, r.county_code)


async def outcome_event(s: AsyncSession, r: Record, items: list[dict], content_hash: str) -> dict:
    team = await s.get(Team, r.team_id)
    return {"record_id": r.id, "task_id": r.task_id, "plan_id": r.plan_id, "plan_name": team.plan_name if team else None, "team_id": r.team_id,
            "uscc": r.uscc, "enterprise_name": r.enterprise_name, "site_id": r.site_id, "site_address": r.site_address,
            "region_code": r.region_code, "city_code": r.city_code, "county_code": r.county_code, "bureau": bureau_of(r),
            "product_categories": r.categories, "completed_on": r.completed_on, "inspected": r.state != "not_inspected",
            "not_inspected": r.not_inspected, "outcome": r.outcome, "findings": findings(items) if r.state != "not_inspected" else [],
            "content_hash": content_hash}


async def submit(ctx, s: AsyncSession, p: Principal, record_id: str, body, request, rid) -> dict:
    r = await get_record(s, p, record_id, for_update=True)
    await member_of(s, p, r.team_id)
    ensure_open(r)
    require_if_match(request, r.version)
    full = await load(s, r)
    problems = []
    missing = [i["code"] for i in full["items"] if i["conclusion"] is None]
    if missing:
        problems.append({"field": "items", "message": f"以下项目尚未填写结论：{'、'.join(missing)}"})
    ev_items = {e["item_code"] for e in full["evidence"] if e["item_code"]}
    for i in full["items"]:
        if i["fixed_on_site"] and i["code"] not in ev_items:
            problems.append({"field": f"items.{i['code']}", "message": "当场整改项须附整改证据（备注(3)）"})
    signed = {g["person_id"] for g in full["signatures"]}
    unsigned = [m.get("name") or m["person_id"] for m in r.present if m["person_id"] not in signed]
    if unsigned:
        problems.append({"field": "signatures", "message": f"到场检查组成员尚未签字：{'、'.join(unsigned)}"})
    if not r.enterprise_confirmation:
        problems.append({"field": "enterprise_confirmation", "message": "企业负责人须签字确认，拒绝签字的予以注明"})
    if problems:
        raise Problem(409, "record-incomplete", "检查记录尚不能提交", detail="；".join(e["message"] for e in problems), errors=problems)
    now = utcnow()
    r.outcome = check_outcome(body.outcome.model_dump() if body.outcome else None, derive_outcome(full["items"]))
    r.completed_on = china_date(now)
    r.state, r.sealed_at, r.sealed_by = "sealed", now, p.sub
    full.update(outcome=r.outcome, completed_on=r.completed_on)
    h = digest(content_of(full, full["items"]))
    r.content_hash = r.current_hash = h
    r.version += 1
    r.updated_at = now
    await s.flush()
    await ctx.audit(s, p, "record.sealed", "record", r.id, after=content_of(full, full["items"]), detail={"content_hash": h, "note": body.note}, request_id=rid)
    await ctx.emit(s, "record", "submitted", await outcome_event(s, r, full["items"], h), subject_id=r.id, request_id=rid, actor=p.sub)
    full.update(record_head(r))  # items, evidence and signatures are as loaded: nothing else changed them
    return full


NOT_INSPECTED_OUTCOME = {
    "stopped": (["no_activity"], "refer_daily"),
    "changed_production": (["no_activity"], "refer_daily"),
    "closed": (["closed_or_liquidating"], "refer_daily"),
    "unreachable": (["unreachable"], "refer_daily"),
    "refused": (["refused_serious"], "case_referral"),
    "other": (["no_activity"], "refer_daily"),
}


async def not_inspected(ctx, s: AsyncSession, p: Principal, record_id: str, body, request, rid) -> dict:
    r = await get_record(s, p, record_id, for_update=True)
    await member_of(s, p, r.team_id)
    ensure_open(r)
    require_if_match(request, r.version)
    if body.reason not in NOT_INSPECTED_REASONS:
        raise Problem(422, "validation", detail=f"reason: 未知的原因 {body.reason}", errors=[{"field": "reason", "message": "取值不在允许范围内"}])
    ev = list((await s.execute(select(Evidence).where(Evidence.record_id == r.id, Evidence.purpose == "not_inspected"))).scalars())
    if not ev:
        raise Problem(409, "evidence-required", "须附未实施检查的证据", detail="对企业因停产、转产等原因未实施检查的，要做好详细记录：请先上传现场照片或说明材料（purpose=not_inspected）",
                      errors=[{"field": "evidence", "message": "至少上传一份证据"}])
    cats, fu = NOT_INSPECTED_OUTCOME[body.reason]
    now = utcnow()
    r.not_inspected = {"reason": body.reason, "reason_label": NOT_INSPECTED_REASONS[body.reason], "detail": body.detail,
                       "follow_up_inspection": True, "evidence": [e.sha256 for e in ev], "recorded_by": p.sub}
    r.outcome = check_outcome(body.outcome.model_dump() if body.outcome else None, {"categories": cats, "follow_up": fu})
    r.completed_on = china_date(now)
    r.state, r.sealed_at, r.sealed_by = "not_inspected", now, p.sub
    r.version += 1
    r.updated_at = now
    await s.flush()
    full = await load(s, r)
    h = digest(content_of(full, full["items"]))
    r.content_hash = r.current_hash = h
    await s.flush()
    await ctx.audit(s, p, "record.not_inspected", "record", r.id, after=content_of(full, full["items"]), detail={"content_hash": h}, request_id=rid)
    await ctx.emit(s, "record", "submitted", await outcome_event(s, r, full["items"], h), subject_id=r.id, request_id=rid, actor=p.sub)
    full["content_hash"] = full["current_hash"] = h
    return full


# ---------------------------------------------------------------- amendments
async def propose_amendment(ctx, s: AsyncSession, p: Principal, record_id: str, body, rid) -> Amendment:
    r = await get_record(s, p, record_id, for_update=True)
    me = await member_of(s, p, r.team_id)
    if r.state == "open":
        raise _conflict("record-open", "记录尚未提交", "尚未封存的记录直接修改检查项目即可")
    if (await s.execute(select(Amendment.id).where(Amendment.record_id == r.id, Amendment.status == "pending"))).first():
        raise _conflict("amendment-pending", "已有待批准的修订", "请等待组长批准或驳回上一项修订")
    subs = {x["code"]: x for x in checklist.sub_items(r.checklist_version)}
    preset = set((await s.execute(select(ItemAnswer.code).where(ItemAnswer.record_id == r.id, ItemAnswer.preset.is_(True)))).scalars())
    if not body.changes and body.outcome is None:
        raise Problem(422, "validation", detail="更正须至少包含一个检查项目或检查结果",
                      errors=[{"field": "changes", "message": "请至少更正一个检查项目或检查结果"}])
    if r.state == "not_inspected" and body.changes:
        raise Problem(422, "validation", detail="未实施检查的记录只能修订公示结果", errors=[{"field": "changes", "message": "未实施检查的记录没有检查项目可修订"}])
    seen = set()
    for n, ch in enumerate(body.changes):
        if ch.code not in subs:
            raise Problem(422, "validation", detail=f"changes.{n}.code: 未知的检查项目 {ch.code}", errors=[{"field": f"changes.{n}.code", "message": "未知的检查项目"}])
        if ch.code in preset:
            raise Problem(422, "validation", detail=f"{ch.code} 按适用规则不适用", errors=[{"field": f"changes.{n}.code", "message": "按适用规则不适用，不能修订"}])
        if ch.code in seen:
            raise Problem(422, "validation", detail=f"{ch.code} 重复", errors=[{"field": f"changes.{n}.code", "message": "同一项目只能出现一次"}])
        seen.add(ch.code)
        validate_answer(subs[ch.code], r.product_type, ch.conclusion, ch.text, ch.fixed_on_site, field_prefix=f"changes.{n}.")
    if body.outcome:
        check_outcome(body.outcome.model_dump(), {"categories": ["no_problem"], "follow_up": "none_needed"})  # codes only; consistency on approval
    seq = ((await s.execute(select(func.max(Amendment.seq)).where(Amendment.record_id == r.id))).scalar() or 0) + 1
    a = Amendment(record_id=r.id, seq=seq, reason=body.reason, changes=[c.model_dump() for c in body.changes],
                  outcome=body.outcome.model_dump() if body.outcome else None, proposed_by=p.sub, proposed_person_id=me["person_id"],
                  proposed_at=utcnow())
    s.add(a)
    await s.flush()
    await ctx.audit(s, p, "record.amendment_proposed", "record", r.id, after=amendment_out(a), request_id=rid)
    return a


async def decide_amendment(ctx, s: AsyncSession, p: Principal, record_id: str, amendment_id: str, approve: bool, note: str | None, rid) -> dict:
    r = await get_record(s, p, record_id, for_update=True)
    me = await member_of(s, p, r.team_id)
    a = (await s.execute(select(Amendment).where(Amendment.id == amendment_id, Amendment.record_id == r.id))).scalars().first()
    if a is None:
        raise not_found("修订", amendment_id)
    withdrawal = not approve and (a.proposed_by == p.sub or a.proposed_person_id == me.get("person_id"))
    if not withdrawal and me.get("role") not in ("leader", "deputy"):  # anyone may withdraw their own; deciding is the leader's
        raise Problem(403, "leader-only", "修订须由组长批准", detail="检查记录封存后的更正须经检查组组长批准")
    if a.status != "pending":
        raise _conflict("amendment-decided", "该修订已处理", f"该修订已{('批准' if a.status == 'approved' else '驳回')}")
    check_four_eyes(me, p.sub, a, approve, proposer_role=await _role_of(s, r.team_id, a.proposed_person_id))
    now = utcnow()
    a.status = "approved" if approve else "rejected"
    a.decided_by, a.decided_person_id, a.decided_at, a.decision_note = p.sub, me["person_id"], now, note
    await s.flush()
    if not approve:
        await ctx.audit(s, p, "record.amendment_rejected", "record", r.id, after=amendment_out(a), request_id=rid)
        return await load(s, r)
    full = await load(s, r)
    items = full.get("current_items") or full["items"]
    derived = derive_outcome(items) if r.state == "sealed" else r.outcome
    outcome = check_outcome(a.outcome, derived, field="amendment.outcome") if a.outcome else derived
    # the original outcome stays on the record; the current one travels with the amendment
    a.outcome = outcome  # the outcome the record has from this amendment on
    r.amendment_count = a.seq
    current = {**full, "outcome": outcome}
    h = digest({"original": r.content_hash, "amendments": [amendment_out(x) | {"content_hash": None} for x in
                                                            (await _approved(s, r.id))], "current": content_of(current, items)})
    a.content_hash = h
    r.current_hash = h
    r.version += 1
    r.updated_at = now
    await s.flush()
    await ctx.audit(s, p, "record.amended", "record", r.id, after=amendment_out(a), detail={"content_hash": h, "original_hash": r.content_hash}, request_id=rid)
    data = await outcome_event(s, r, items, h)
    data.update(outcome=outcome, amendment_id=a.id, reason=a.reason, version=a.seq, original_hash=r.content_hash)
    await ctx.emit(s, "record", "amended", data, subject_id=r.id, request_id=rid, actor=p.sub)
    return await load(s, r)


def check_four_eyes(me: dict, sub: str, a: Amendment, approve: bool, proposer_role: str | None) -> None:
    """Four eyes (双人复核): nobody approves their own amendment. The leader decides the members'
    amendments; the leader's own amendment is decided by the deputy leader (副组长). Withdrawing
    one's own amendment (rejecting it) stays possible."""
    own = a.proposed_by == sub or (a.proposed_person_id is not None and a.proposed_person_id == me.get("person_id"))
    if own and approve:
        raise Problem(403, "four-eyes", "不能批准本人提出的更正",
                      detail="封存记录的更正须由提出人以外的人批准：组长提出的更正由副组长批准")
    if own:
        return
    decider = "deputy" if proposer_role == "leader" else "leader"
    if me.get("role") != decider:
        raise Problem(403, "leader-only", "修订须由组长批准",
                      detail="组长提出的更正须由副组长批准" if decider == "deputy" else "检查记录封存后的更正须经检查组组长批准")


async def _role_of(s: AsyncSession, team_id: str, person_id: str | None) -> str | None:
    if person_id is None:
        return None
    team = await s.get(Team, team_id)
    return next((m.get("role") for m in (team.members if team else []) if m.get("person_id") == person_id), None)


async def _approved(s: AsyncSession, record_id: str) -> list[Amendment]:
    return list((await s.execute(select(Amendment).where(Amendment.record_id == record_id, Amendment.status == "approved").order_by(Amendment.seq))).scalars())


def current_outcome(full: dict) -> dict | None:
    """The outcome after the last approved amendment that changed it, else the sealed one."""
    out = full["outcome"]
    for a in full["amendments"]:
        if a["status"] == "approved" and a["outcome"]:
            out = a["outcome"]
    return out
