"""Legal outcomes of a case, each with its legal basis on the record: proposed by the city bureau
(or the province), decided by a province official other than the proposer. Licensing is
provincial and may not be delegated, so 撤销/吊销/注销 are decided by 省局 only; a decided licence
outcome reaches the registry as ``rectification.outcome.decided``."""
from __future__ import annotations

import datetime as dt
import json
import os
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select

from shared.auth import Principal
from shared.db import first_or_404, utcnow
from shared.errors import Problem
from shared.etag import require_if_match

from . import cases
from .models import Case, Outcome
from .scope import case_filter, deny, is_city_of, today

KINDS = {
    "revoke": "撤销生产许可证",
    "revoke_penalty": "吊销生产许可证",
    "cancel": "注销生产许可证",
    "file_case": "立案查处（移交执法办案机构）",
    "transfer_judicial": "移送司法机关",
    "refer_department": "抄告、移送相关部门",
}
LICENCE_KINDS = {"revoke": "撤销", "revoke_penalty": "吊销", "cancel": "注销"}
NEEDS_BODY = {"file_case", "transfer_judicial", "refer_department"}
# decided outcome kind -> case resolution (refer_department informs another body and leaves the case as it is)
CLOSES = {"revoke": "licence_revoked", "revoke_penalty": "licence_revoked_penalty", "cancel": "licence_cancelled",
          "file_case": "case_filed", "transfer_judicial": "transferred_judicial"}
REQUIREMENT_TEXT = {"overdue": "案件已逾期未整改", "recheck_failed": "整改复查不合格",
                    "licence_expired": "案件所涉生产许可证已超过有效期（有效期截止日早于今天）"}


@lru_cache(maxsize=1)
def _bases_from(path: str) -> dict[str, dict]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {b["code"]: b for b in data["bases"]}


def legal_bases() -> dict[str, dict]:
    """The legal-basis table (data: ``SPOTCHECK_RECTIFICATION_LEGAL_BASES_FILE`` or the shipped file)."""
    path = os.environ.get("SPOTCHECK_RECTIFICATION_LEGAL_BASES_FILE") or str(Path(__file__).parent / "data" / "legal_bases.json")
    return _bases_from(path)


def basis_out(b: dict) -> dict:
    return {"code": b["code"], "kind": b["kind"], "kind_label": KINDS[b["kind"]], "label": b["label"], "citation": b["citation"],
            "requires": b.get("requires", []), "confirmed": bool(b.get("confirmed")),
            "note": None if b.get("confirmed") else "条款待省局法规部门核对"}


def outcome_out(o: Outcome) -> dict:
    return {"id": o.id, "case_id": o.case_id, "kind": o.kind, "kind_label": KINDS.get(o.kind, o.kind), "basis_code": o.basis_code,
            "legal_basis": o.legal_basis, "facts": o.facts, "receiving_body": o.receiving_body, "evidence": o.evidence,
            "licences": o.licences, "status": o.status, "proposed_by": o.proposed_by, "proposed_by_name": o.proposed_by_name,
            "proposed_at": o.proposed_at, "decided_by": o.decided_by, "decided_by_name": o.decided_by_name,
            "decided_at": o.decided_at, "decision_note": o.decision_note, "version": o.version}


# the 文书格式范本 each referral kind is recorded as (《市场监督管理行政处罚文书格式范本（2021年修订版）》)
DOCUMENTS = {"file_case": "案件来源登记表", "transfer_judicial": "涉嫌犯罪案件移送书", "refer_department": "案件移送函"}


def referral_document(o: Outcome, c: Case) -> dict | None:
    """The referral as the receiving body gets it: source, party, facts, evidence, basis."""
    if o.kind not in DOCUMENTS:
        return None
    return {"form": DOCUMENTS[o.kind], "source": "“双随机、一公开”监督检查及整改复查", "case_id": c.id, "record_id": c.record_id,
            "party": {"name": c.enterprise_name, "uscc": c.uscc, "address": c.site_address, "region_code": c.region_code},
            "licences": [lic.get("number") for lic in c.licences], "facts": o.facts, "evidence": o.evidence,
            "legal_basis": o.legal_basis, "receiving_body": o.receiving_body, "registered_by": o.decided_by,
            "registered_at": o.decided_at, "status": o.status}


def _valid_until(lic: dict) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(lic.get("valid_until"))[:10]) if lic.get("valid_until") else None
    except ValueError:
        return None


def expired_licences(c: Case, on: dt.date) -> list[str]:
    """Numbers of the case's licences whose validity ended before ``on`` (a licence valid until today is still valid)."""
    return [lic["number"] for lic in c.licences if (v := _valid_until(lic)) is not None and v < on]


def _case_state_ok(c: Case, req: str, on: dt.date) -> bool:
    if req == "overdue":
        return bool(c.overdue)
    if req == "recheck_failed":
        return c.recheck_passed is False
    if req == "licence_expired":
        return bool(expired_licences(c, on))
    return req == "none"  # a requirement this code does not know is never taken as met


async def propose(ctx, s, principal: Principal, case_id: str, body) -> tuple[dict, int]:
    c = await cases.get_case(s, principal, case_id, for_update=True)
    if not (is_city_of(principal, c) or principal.has("province_admin")):
        raise deny("处理建议由案件所在市局或省局提出")
    if c.status == "closed":
        raise Problem(409, "case-closed", "案件已结案", detail=f"结案方式：{cases.RESOLUTIONS.get(c.resolution, ('',))[0]}")
    basis = legal_bases().get(body.basis_code)
    if basis is None:
        raise Problem(422, "validation", errors=[{"field": "basis_code", "message": "未知的法律依据代码，见 GET /legal-bases"}])
    on = today(ctx)
    unmet = [REQUIREMENT_TEXT.get(r, r) for r in basis.get("requires", []) if not _case_state_ok(c, r, on)]
    if unmet:
        raise Problem(409, "basis-not-met", "不满足该处理依据的前提", detail=f"“{basis['label']}”要求：{'、'.join(unmet)}")
    kind = basis["kind"]
    if kind in NEEDS_BODY and not body.receiving_body:
        raise Problem(422, "validation", errors=[{"field": "receiving_body", "message": "立案查处、移送司法机关、抄告移送须写明承办机构或接收部门"}])
    licences: list[dict] = []
    if kind in LICENCE_KINDS:
        known = {lic["number"]: lic for lic in c.licences}
        # on an expiry basis only the expired licences may be cancelled (and are, by default)
        allowed = set(expired_licences(c, on)) if "licence_expired" in basis.get("requires", []) else set(known)
        wanted = body.licences if body.licences is not None else [n for n in known if n in allowed]
        unknown = [n for n in wanted if n not in known]
        if unknown or not wanted:
            raise Problem(422, "validation", errors=[{"field": "licences", "message": f"许可证不属于本案件：{'、'.join(unknown) or '（无许可证）'}"}])
        still_valid = [n for n in wanted if n not in allowed]
        if still_valid:
            raise Problem(422, "validation", errors=[{"field": "licences", "message": f"许可证尚在有效期内，不能以“{basis['label']}”注销：{'、'.join(still_valid)}"}])
        licences = [{"licence_id": known[n].get("licence_id"), "number": n, "category": known[n].get("category")} for n in wanted]
    pending = (await s.execute(select(Outcome.id).where(Outcome.case_id == c.id, Outcome.kind == kind, Outcome.status == "proposed"))).first()
    if pending:
        raise Problem(409, "outcome-pending", "已有待决定的同类处理建议", detail=f"处理建议 {pending[0]} 尚待决定")
    await cases._check_evidence(s, c, body.evidence)
    o = Outcome(case_id=c.id, kind=kind, basis_code=basis["code"], legal_basis=f"{basis['label']}：{basis['citation']}",
                facts=body.facts, receiving_body=body.receiving_body, evidence=body.evidence, licences=licences,
                proposed_by=principal.sub, proposed_by_name=principal.name, proposed_at=utcnow())
    s.add(o)
    s.add(cases._action(c, principal, "outcome", measure=kind, text=f"提出处理建议：{KINDS[kind]}（{basis['label']}）", on=today(ctx)))
    await s.flush()
    await ctx.emit(s, "outcome", "proposed", {"case_id": c.id, "outcome_id": o.id, "kind": kind, "uscc": c.uscc,
                                             "region_code": c.region_code, "city_code": c.city_code, "legal_basis": o.legal_basis,
                                             "proposed_by": principal.sub}, subject_id=o.id, actor=principal.sub)
    await ctx.audit(s, principal, "outcome.proposed", "outcome", o.id, after=outcome_out(o), detail={"case_id": c.id, "basis": basis["code"]})
    return outcome_out(o), o.version


async def get_outcome(s, principal: Principal, outcome_id: str, *, for_update: bool = False) -> tuple[Outcome, Case]:
    q = select(Outcome, Case).join(Case, Case.id == Outcome.case_id).where(Outcome.id == outcome_id, case_filter(principal))
    row = await first_or_404(s, q, "处理决定", outcome_id, for_update=for_update)
    return row[0], row[1]


async def decide(ctx, principal: Principal, outcome_id: str, body, request) -> Outcome:
    async with ctx.db.transaction() as s:
        o, c = await get_outcome(s, principal, outcome_id, for_update=True)
        if o.kind in LICENCE_KINDS:
            if not principal.has("province_admin"):
                raise deny("撤销、吊销、注销生产许可证由省局决定（许可为省级事权，不得下放）")
        elif not (principal.has("province_admin") or is_city_of(principal, c)):
            raise deny("立案查处、移送、抄告由省局或案件所在市局决定")
        require_if_match(request, o.version)
        if o.status != "proposed":
            raise Problem(409, "outcome-decided", "处理建议已决定", detail=f"当前状态：{o.status}")
        if o.proposed_by == principal.sub:
            raise Problem(403, "same-official", "提出人不能决定自己的处理建议",
                          detail="处理建议须由提出人以外的另一名官员决定（两人原则）")
        c = (await s.execute(select(Case).where(Case.id == c.id).with_for_update())).scalars().one()
        if o.kind in CLOSES and c.status == "closed":
            raise Problem(409, "case-closed", "案件已结案", detail="案件已以其他方式结案，请驳回该建议")
        before = outcome_out(o)
        now = utcnow()
        o.status = "decided" if body.approve else "rejected"
        o.decided_by, o.decided_by_name, o.decided_at, o.decision_note = principal.sub, principal.name, now, body.note
        o.version += 1
        s.add(cases._action(c, principal, "outcome", measure=o.kind, on=today(ctx),
                            text=f"{'决定' if body.approve else '驳回'}：{KINDS[o.kind]}。{body.note}"))
        c.version += 1
        await s.flush()
        await ctx.audit(s, principal, "outcome.decided" if body.approve else "outcome.rejected", "outcome", o.id,
                        before=before, after=outcome_out(o), detail={"case_id": c.id, "proposed_by": o.proposed_by})
        if body.approve:
            data = {"case_id": c.id, "outcome_id": o.id, "kind": o.kind, "kind_label": KINDS[o.kind], "uscc": c.uscc,
                    "enterprise_name": c.enterprise_name, "region_code": c.region_code, "city_code": c.city_code,
                    "county_code": c.county_code, "licences": o.licences, "licence_status": LICENCE_KINDS.get(o.kind),
                    "basis_code": o.basis_code, "legal_basis": o.legal_basis, "facts": o.facts, "receiving_body": o.receiving_body,
                    "evidence": o.evidence, "proposed_by": o.proposed_by, "decided_by": principal.sub, "decided_at": now}
            await ctx.emit(s, "outcome", "decided", data, subject_id=o.id, actor=principal.sub)
            if o.kind in CLOSES:
                await cases.close(ctx, s, c, CLOSES[o.kind], today(ctx), principal.sub, outcome_id=o.id)
        return o
