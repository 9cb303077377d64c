"""Rectification cases: opened from the handed-over problem summary, the enterprise's reports per
problem, the county's handling, the city's recheck, closing with what publication should now say."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update

from shared.auth import Principal
from shared.db import first_or_404, utcnow
from shared.errors import Problem, check_text
from shared.etag import require_if_match
from shared.vocabulary import FOLLOW_UP_MEASURES, RESULT_CATEGORIES

from . import deadlines
from .models import Case, CaseAction, CaseEvidence, CaseProblem, Outcome
from .schemas import HandedOver
from .scope import case_filter, deny, is_city_of, is_county_of, is_enterprise_of, today
from .sweep import overdue_data, overdue_text

MAX_CASE_EVIDENCE = 200
BUREAU_ROLES = ("province_admin", "city_admin", "county_admin", "discipline")
STATUS_LABELS = {"open": "待整改", "reported": "企业已报告整改", "failed": "复查不合格", "closed": "已结案"}
MEASURES = {"order_correction": "责令改正", "interview": "约谈", "follow_up": "跟踪整改"}
# resolution -> (label, disclosure result categories, follow-up measure): what the published result says now
RESOLUTIONS: dict[str, tuple[str, list[str], str]] = {
    "fixed_on_site": ("问题已现场整改", ["problem_corrected"], "none_needed"),
    "rectified": ("整改复查合格", ["problem_corrected"], "none_needed"),
    "licence_revoked": ("撤销生产许可证", ["licence_revoked"], "other"),
    "licence_revoked_penalty": ("吊销生产许可证", ["licence_revoked_by_penalty"], "other"),
    "licence_cancelled": ("注销生产许可证", ["no_activity"], "other"),
    "case_filed": ("立案查处", ["problem_pending"], "case_referral"),
    "transferred_judicial": ("移送司法机关", ["problem_pending"], "case_referral"),
}


def disclosure_block(resolution: str) -> dict:
    label, cats, follow = RESOLUTIONS[resolution]
    return {
        "categories": cats,
        "category_labels": [RESULT_CATEGORIES[c] for c in cats],
        "follow_up": follow,
        "follow_up_label": FOLLOW_UP_MEASURES[follow],
        "resolution_label": label,
    }


def flags_of(c: Case) -> list[str]:
    out = []
    if c.overdue:
        out.append("overdue")
    if c.recheck_passed is False:
        out.append("recheck_failed")
    if c.deadline is None and c.deadline_problem:
        out.append("deadline_unknown")
    return out


def case_out(c: Case, on: dt.date | None = None) -> dict:
    out = {
        "id": c.id, "summary_id": c.summary_id, "record_id": c.record_id, "task_id": c.task_id, "plan_id": c.plan_id,
        "uscc": c.uscc, "enterprise_name": c.enterprise_name, "site_id": c.site_id, "site_address": c.site_address,
        "region_code": c.region_code, "city_code": c.city_code, "county_code": c.county_code, "licences": c.licences,
        "period": {"value": c.period_value, "unit": c.period_unit}, "handed_over_on": c.handed_over_on,
        "deadline": c.deadline, "deadline_problem": c.deadline_problem,
        "status": c.status, "status_label": STATUS_LABELS.get(c.status, c.status),
        "overdue": c.overdue, "overdue_on": c.overdue_on, "flags": flags_of(c),
        "problems_total": c.problems_total, "problems_open": c.problems_open,
        "recheck_passed": c.recheck_passed, "rechecked_on": c.rechecked_on,
        "resolution": c.resolution, "resolution_label": RESOLUTIONS[c.resolution][0] if c.resolution in RESOLUTIONS else None,
        "closed_on": c.closed_on, "reminded_on": c.reminded_on, "opened_at": c.opened_at, "version": c.version,
    }
    if on is not None and c.deadline is not None and c.status in ("open", "reported"):
        out["days_left"] = (c.deadline - on).days
    return out


def problem_out(p: CaseProblem) -> dict:
    return {"no": p.no, "item_code": p.item_code, "text": p.text, "fixed_on_site": p.fixed_on_site, "status": p.status,
            "evidence": p.evidence, "report_text": p.report_text, "report_evidence": p.report_evidence or [],
            "reported_by": p.reported_by, "reported_at": p.reported_at}


def action_out(a: CaseAction) -> dict:
    return {"id": a.id, "kind": a.kind, "problem_no": a.problem_no, "measure": a.measure,
            "measure_label": MEASURES.get(a.measure) if a.measure else None, "passed": a.passed, "on": a.on, "text": a.text,
            "people": a.people, "evidence": a.evidence, "actor": a.actor, "actor_name": a.actor_name,
            "actor_region": a.actor_region, "at": a.at}


def _event_base(c: Case) -> dict:
    return {"case_id": c.id, "uscc": c.uscc, "region_code": c.region_code, "city_code": c.city_code, "county_code": c.county_code}


# ---------------------------------------------------------------- opening (consumer)
async def open_from_event(ctx, s, data: dict, event_id: str) -> Case | None:
    """One case per handed-over summary (a summary seen again is ignored)."""
    ev = HandedOver.model_validate(data)
    if (await s.execute(select(Case.id).where(Case.summary_id == ev.summary_id))).first():
        return None
    cal = deadlines.calendar_of(ctx)
    deadline, remind_on, problem = deadlines.compute(cal, ev.handed_over_on, ev.period.value, ev.period.unit)
    open_count = sum(1 for p in ev.problems if not p.fixed_on_site)
    c = Case(
        summary_id=ev.summary_id, record_id=ev.record_id, task_id=ev.task_id, plan_id=ev.plan_id, uscc=ev.uscc,
        enterprise_name=ev.enterprise_name, site_id=ev.site_id, site_address=ev.site_address, region_code=ev.region_code,
        city_code=ev.city_code, county_code=ev.county_code,
        licences=[lic.model_dump(mode="json", exclude_none=True) for lic in ev.licences],
        period_value=ev.period.value, period_unit=ev.period.unit, handed_over_on=ev.handed_over_on,
        deadline=deadline, remind_on=remind_on, deadline_problem=problem,
        problems_total=len(ev.problems), problems_open=open_count, opened_at=utcnow(), event_id=event_id,
    )
    s.add(c)
    for p in ev.problems:
        s.add(CaseProblem(case_id=c.id, no=p.no, item_code=p.item_code, text=p.text, fixed_on_site=p.fixed_on_site,
                          status="fixed_on_site" if p.fixed_on_site else "open", evidence=list(p.evidence)))
    await s.flush()
    data_out = {**_event_base(c), "summary_id": c.summary_id, "record_id": c.record_id, "task_id": c.task_id,
                "plan_id": c.plan_id, "enterprise_name": c.enterprise_name, "site_id": c.site_id, "deadline": c.deadline,
                "deadline_problem": problem, "problems_total": c.problems_total, "problems_open": c.problems_open}
    await ctx.emit(s, "case", "opened", data_out, subject_id=c.id, actor="rectification")
    await ctx.audit(s, "rectification", "case.opened", "case", c.id, after=case_out(c),
                    detail={"summary_id": c.summary_id, "event_id": event_id, "deadline_problem": problem})
    if open_count == 0:  # every problem was put right on the spot
        await close(ctx, s, c, "fixed_on_site", today(ctx), "rectification")
    return c


# ---------------------------------------------------------------- reading
def visible(principal: Principal, case_id: str):
    return select(Case).where(Case.id == case_id, case_filter(principal))


async def get_case(s, principal: Principal, case_id: str, *, for_update: bool = False) -> Case:
    row = await first_or_404(s, visible(principal, case_id), "整改案件", case_id, for_update=for_update)
    return row[0]


async def detail(s, principal: Principal, case_id: str, on: dt.date) -> tuple[Case, dict]:
    c = await get_case(s, principal, case_id)
    problems = (await s.execute(select(CaseProblem).where(CaseProblem.case_id == c.id).order_by(CaseProblem.no))).scalars().all()
    actions = (await s.execute(select(CaseAction).where(CaseAction.case_id == c.id).order_by(CaseAction.at, CaseAction.id))).scalars().all()
    outcomes = (await s.execute(select(Outcome).where(Outcome.case_id == c.id).order_by(Outcome.proposed_at, Outcome.id))).scalars().all()
    evidence = (await s.execute(select(CaseEvidence).where(CaseEvidence.case_id == c.id).order_by(CaseEvidence.uploaded_at))).scalars().all()
    from .outcomes import outcome_out

    if enterprise_view(principal):
        # the enterprise sees decisions, not the bureaus' pending or rejected proposals, and of the files only
        # its own uploads and those attached to what it sees (never, e.g., material for a pending referral)
        outcomes, actions = _enterprise_sees(outcomes, actions)
        shown = _attached(problems, actions, outcomes)
        evidence = [e for e in evidence if e.uploaded_as in ENTERPRISE_UPLOADS or e.sha256 in shown]
    else:
        shown = None
    out = {**case_out(c, on), "problems": [problem_out(p) for p in problems], "actions": [action_out(a) for a in actions],
           "outcomes": [outcome_out(o) for o in outcomes], "evidence": [_evidence_out(e, shown) for e in evidence]}
    if c.resolution in RESOLUTIONS:
        out["disclosure"] = disclosure_block(c.resolution)
    return c, out


# ---------------------------------------------------------------- evidence
ENTERPRISE_UPLOADS = ("enterprise", "both")


def enterprise_view(p: Principal) -> bool:
    """An enterprise account (not also a bureau): sees part of its case only."""
    return p.has("enterprise") and not p.has(*BUREAU_ROLES)


def _enterprise_sees(outcomes: list, actions: list) -> tuple[list, list]:
    return [o for o in outcomes if o.status == "decided"], [a for a in actions if a.kind != "outcome"]


def _attached(problems, actions, outcomes) -> set[str]:
    """The files cited by these problems (on-site evidence, reports), timeline entries and outcomes."""
    shas: set[str] = set()
    for p in problems:
        shas.update(p.evidence or ())
        shas.update(p.report_evidence or ())
    for x in (*actions, *outcomes):
        shas.update(x.evidence or ())
    return shas


async def enterprise_visible(s, c: Case) -> set[str]:
    """SHA-256 of the case's files its enterprise may see: its own uploads and the files attached to the problems,
    reports, handling/recheck entries and *decided* outcomes it sees."""
    problems = (await s.execute(select(CaseProblem).where(CaseProblem.case_id == c.id))).scalars().all()
    actions = (await s.execute(select(CaseAction).where(CaseAction.case_id == c.id))).scalars().all()
    outcomes = (await s.execute(select(Outcome).where(Outcome.case_id == c.id))).scalars().all()
    outcomes, actions = _enterprise_sees(outcomes, actions)
    own = set((await s.execute(select(CaseEvidence.sha256).where(CaseEvidence.case_id == c.id,
                                                                 CaseEvidence.uploaded_as.in_(ENTERPRISE_UPLOADS)))).scalars())
    return own | _attached(problems, actions, outcomes)


async def evidence_for_download(s, principal: Principal, case_id: str, sha256: str) -> CaseEvidence | None:
    """The file's row if the caller may download it; None (→ 404, existence not confirmed) otherwise."""
    c = await get_case(s, principal, case_id)
    e = (await s.execute(select(CaseEvidence).where(CaseEvidence.case_id == c.id, CaseEvidence.sha256 == sha256))).scalars().first()
    if e is not None and enterprise_view(principal) and sha256 not in await enterprise_visible(s, c):
        return None
    return e


def _evidence_out(e: CaseEvidence, enterprise_shown: set[str] | None) -> dict:
    """A case file as the reader may see it. For an enterprise (``enterprise_shown``: the files attached
    to what it sees), a file it holds only because it uploaded the same bytes as the bureau carries no
    name, uploader or time: those are the bureau's, and would confirm what the bureau holds."""
    out = {"sha256": e.sha256, "media_type": e.media_type, "size": e.size, "filename": e.filename,
           "uploaded_by": e.uploaded_by, "uploaded_as": e.uploaded_as, "uploaded_at": e.uploaded_at}
    if enterprise_shown is not None and e.uploaded_as == "both" and e.sha256 not in enterprise_shown:
        out.update(filename=None, uploaded_by=None, uploaded_as="enterprise", uploaded_at=None)
    return out


async def add_evidence(ctx, principal: Principal, case_id: str, upload, store) -> dict:
    async with ctx.db.session() as s:
        c = await get_case(s, principal, case_id)
    if not (is_enterprise_of(principal, c) or is_county_of(principal, c) or is_city_of(principal, c) or principal.has("province_admin")):
        raise deny("证据由本企业、案件所在县（区）局、市局或省局上传")
    if c.status == "closed":
        raise Problem(409, "case-closed", "案件已结案", detail="已结案的案件不再接收证据")
    async with ctx.db.session() as s:
        count = (await s.execute(select(func.count()).select_from(CaseEvidence).where(CaseEvidence.case_id == c.id))).scalar_one()
    if count >= MAX_CASE_EVIDENCE:
        raise Problem(409, "evidence-limit", "证据文件数量已达上限", detail=f"每个案件最多 {MAX_CASE_EVIDENCE} 个证据文件")
    name = (getattr(upload, "filename", None) or "")[:200] or None
    check_text("file", name)
    stored = await store.save_upload(upload)
    side = "enterprise" if enterprise_view(principal) else "bureau"
    async with ctx.db.transaction() as s:
        existing = (await s.execute(select(CaseEvidence).where(CaseEvidence.case_id == c.id, CaseEvidence.sha256 == stored.sha256)
                                    .with_for_update())).scalars().first()
        # "already present" as this side knows it: an enterprise is never told that the bureau holds the same bytes
        present = existing is not None and (side == "bureau" or stored.sha256 in await enterprise_visible(s, c))
        detail = {"sha256": stored.sha256, "media_type": stored.media_type, "size": stored.size, "uploaded_as": side}
        if existing is None:
            s.add(CaseEvidence(case_id=c.id, sha256=stored.sha256, media_type=stored.media_type, size=stored.size, filename=name,
                               uploaded_by=principal.sub, uploaded_as=side, uploaded_at=utcnow()))
            await ctx.audit(s, principal, "evidence.uploaded", "case", c.id, detail=detail)
        elif existing.uploaded_as not in (side, "both"):
            existing.uploaded_as = "both"  # the other side uploaded the same bytes: both may see them now
            await ctx.audit(s, principal, "evidence.uploaded", "case", c.id, detail={**detail, "also_uploaded_by_other_side": True})
    return {"sha256": stored.sha256, "media_type": stored.media_type, "size": stored.size, "already_present": present}


async def _check_evidence(s, c: Case, shas: list[str], principal: Principal | None = None) -> None:
    """Every cited file is on the case (and, for an enterprise, one it may see: the same answer either way)."""
    if not shas:
        return
    have = set((await s.execute(select(CaseEvidence.sha256).where(CaseEvidence.case_id == c.id, CaseEvidence.sha256.in_(shas)))).scalars())
    if principal is not None and enterprise_view(principal):
        have &= await enterprise_visible(s, c)
    missing = [x for x in shas if x not in have]
    if missing:
        raise Problem(422, "evidence-unknown", "证据未上传", errors=[
            {"field": f"evidence[{shas.index(x)}]", "message": f"证据 {x[:12]}… 尚未上传到本案件"} for x in missing[:10]])


def _action(c: Case, principal: Principal, kind: str, **kw) -> CaseAction:
    return CaseAction(case_id=c.id, kind=kind, actor=principal.sub, actor_name=principal.name, actor_region=principal.region,
                      at=utcnow(), evidence=kw.pop("evidence", []), **kw)


# ---------------------------------------------------------------- the enterprise's report
async def _overdue_if_late(ctx, s, c: Case) -> None:
    """A report after the deadline on a case the sweep has not flagged yet: flag it here, exactly as the sweep
    would have (timeline row, ``case.overdue`` event, audit entry), in the report's transaction. The case row
    is locked (``for_update``) and the flag is checked under the lock, so the sweep and the report never both
    flag it (the sweep's own update is conditional on ``overdue = false`` too)."""
    on = today(ctx)
    if c.status != "open" or c.overdue or c.deadline is None or on <= c.deadline:
        return
    before = case_out(c)
    c.overdue, c.overdue_on = True, on
    c.version += 1
    s.add(CaseAction(case_id=c.id, kind="overdue", on=on, text=overdue_text(c), evidence=[], actor="rectification", at=utcnow()))
    await s.flush()
    await ctx.emit(s, "case", "overdue", overdue_data(c, on), subject_id=c.id, actor="rectification")
    await ctx.audit(s, "rectification", "case.overdue", "case", c.id, before=before, after=case_out(c),
                    detail={"deadline": c.deadline.isoformat(), "on": on.isoformat(), "found_by": "late_report"})


async def report(ctx, s, principal: Principal, case_id: str, no: int, body) -> tuple[dict, int]:
    c = await get_case(s, principal, case_id, for_update=True)
    if not (is_enterprise_of(principal, c) or is_county_of(principal, c)):
        raise deny("整改报告由被检查企业提交，或由案件所在县（区）局录入")
    if c.status not in ("open", "reported"):
        raise Problem(409, "case-not-open", "案件不在整改阶段", detail=f"案件当前状态：{STATUS_LABELS.get(c.status, c.status)}")
    p = (await s.execute(select(CaseProblem).where(CaseProblem.case_id == c.id, CaseProblem.no == no))).scalars().first()
    if p is None:
        raise Problem(404, "not-found", "问题不存在", detail=f"案件 {c.id} 没有第 {no} 项问题")
    if p.fixed_on_site:
        raise Problem(409, "fixed-on-site", "该问题已现场整改", detail="现场整改的问题无需再报告")
    await _check_evidence(s, c, body.evidence, principal)
    before = case_out(c)
    await _overdue_if_late(ctx, s, c)
    now = utcnow()
    p.status, p.report_text, p.report_evidence, p.reported_by, p.reported_at = "reported", body.text, body.evidence, principal.sub, now
    s.add(_action(c, principal, "report", problem_no=no, text=body.text, evidence=body.evidence, on=today(ctx)))
    await s.flush()
    c.problems_open = (await s.execute(select(func.count()).select_from(CaseProblem).where(
        CaseProblem.case_id == c.id, CaseProblem.status == "open"))).scalar_one()
    became_reported = c.status == "open" and c.problems_open == 0
    if became_reported:
        c.status = "reported"
    c.version += 1
    await s.flush()
    late = c.deadline is not None and today(ctx) > c.deadline
    await ctx.audit(s, principal, "case.problem_reported", "case", c.id, before=before, after=case_out(c),
                    detail={"problem_no": no, "evidence": body.evidence, "late": late})
    if became_reported:
        await ctx.emit(s, "case", "reported", {**_event_base(c), "reported_on": today(ctx), "late": late,
                                               "problems_total": c.problems_total}, subject_id=c.id, actor=principal.sub)
    return {**case_out(c, today(ctx)), "problem": problem_out(p)}, c.version


# ---------------------------------------------------------------- the county's handling
async def handling(ctx, s, principal: Principal, case_id: str, body) -> tuple[dict, int]:
    c = await get_case(s, principal, case_id, for_update=True)
    if not (is_county_of(principal, c) or (c.county_code is None and is_city_of(principal, c))):
        raise deny("责令改正、约谈、跟踪整改由案件所在县（区）局录入（市辖无县级的由市局录入）")
    if c.status == "closed":
        raise Problem(409, "case-closed", "案件已结案")
    if body.on > today(ctx) or body.on < c.handed_over_on:
        raise Problem(422, "validation", errors=[{"field": "on", "message": "处理日期应在问题移交日期与今天之间"}])
    await _check_evidence(s, c, body.evidence)
    a = _action(c, principal, "handling", measure=body.measure, on=body.on, text=body.text, evidence=body.evidence)
    s.add(a)
    c.version += 1
    await s.flush()
    await ctx.audit(s, principal, "case.handling_recorded", "case", c.id, detail={"measure": body.measure, "on": body.on.isoformat()})
    return {**case_out(c, today(ctx)), "action": action_out(a)}, c.version


# ---------------------------------------------------------------- the city's recheck
async def recheck(ctx, principal: Principal, case_id: str, body, request) -> Case:
    async with ctx.db.transaction() as s:
        c = await get_case(s, principal, case_id, for_update=True)
        if not is_city_of(principal, c):
            raise deny("整改复查由案件所在市局牵头完成并录入")
        require_if_match(request, c.version)
        if c.status == "open" and not c.overdue:
            raise Problem(409, "not-reported", "企业尚未报告整改",
                          detail=f"还有 {c.problems_open} 项问题未报告整改，整改期限未届满前不能复查")
        if c.status not in ("open", "reported"):
            raise Problem(409, "not-rechecable", "案件不能复查", detail=f"案件当前状态：{STATUS_LABELS.get(c.status, c.status)}")
        on = today(ctx)
        if body.rechecked_on > on:
            raise Problem(422, "validation", errors=[{"field": "rechecked_on", "message": "复查日期不能晚于今天"}])
        if body.rechecked_on < c.handed_over_on:
            raise Problem(422, "validation", errors=[{"field": "rechecked_on", "message": "复查日期不能早于问题移交日期"}])
        await _check_evidence(s, c, body.evidence)
        before = case_out(c)
        s.add(_action(c, principal, "recheck", passed=body.passed, on=body.rechecked_on, text=body.text, people=body.inspectors,
                      evidence=body.evidence))
        c.recheck_passed, c.rechecked_on = body.passed, body.rechecked_on
        if body.passed:  # the recheck found every problem put right, reported or not
            await s.execute(update(CaseProblem).where(CaseProblem.case_id == c.id, CaseProblem.status.in_(("reported", "open")))
                            .values(status="accepted"))
            c.problems_open = 0
        else:
            c.status = "failed"
        c.version += 1
        await s.flush()
        await ctx.emit(s, "case", "rechecked", {**_event_base(c), "passed": body.passed, "rechecked_on": body.rechecked_on,
                                                "rechecked_by": principal.sub, "inspectors": body.inspectors},
                       subject_id=c.id, actor=principal.sub)
        await ctx.audit(s, principal, "case.rechecked", "case", c.id, before=before, after=case_out(c),
                        detail={"passed": body.passed, "rechecked_on": body.rechecked_on.isoformat(), "inspectors": body.inspectors})
        if body.passed:
            await close(ctx, s, c, "rectified", body.rechecked_on, principal.sub)
        return c


# ---------------------------------------------------------------- closing
async def close(ctx, s, c: Case, resolution: str, on: dt.date, actor: str, outcome_id: str | None = None) -> None:
    before = case_out(c)
    c.status, c.resolution, c.closed_on = "closed", resolution, on
    c.version += 1
    await s.flush()
    data = {**_event_base(c), "record_id": c.record_id, "task_id": c.task_id, "plan_id": c.plan_id, "summary_id": c.summary_id,
            "enterprise_name": c.enterprise_name, "closed_on": on, "resolution": resolution, "outcome_id": outcome_id,
            "overdue": c.overdue, "disclosure": disclosure_block(resolution)}
    await ctx.emit(s, "case", "closed", data, subject_id=c.id, actor=actor)
    await ctx.audit(s, actor, "case.closed", "case", c.id, before=before, after=case_out(c),
                    detail={"resolution": resolution, "outcome_id": outcome_id})
