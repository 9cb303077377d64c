"""From events to facts: ``interpret`` is a pure function of one CloudEvent (the demo history
generator and the fitting use it too); ``apply`` stores its effects in the risk database.

An amended inspection record or a corrected/withdrawn disclosure result replaces the facts
previously taken from the same record/result (``replace``), so corrections never double-count."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import insert_missing, new_id, utcnow

from .models import OpenIssue, RiskEnterprise, RiskFact

PROBLEM_RESULTS = frozenset({"problem_corrected", "problem_pending", "refused_serious", "unreachable"})
LICENCE_ACTIONS = frozenset({"暂停", "撤销", "吊销"})
MAX_FINDINGS = 500


@dataclass
class Effects:
    uscc: set[str] = field(default_factory=set)
    enterprise: dict[str, Any] | None = None  # full state (registered/updated)
    licence: dict[str, Any] | None = None  # one licence upsert
    replace: list[tuple[str, str]] = field(default_factory=list)  # (source, ref) whose facts go first
    facts: list[dict[str, Any]] = field(default_factory=list)
    open_issues: list[dict[str, Any]] = field(default_factory=list)
    close_issues: list[tuple[str, str]] = field(default_factory=list)  # (kind, ref)
    hint: dict[str, Any] = field(default_factory=dict)  # name/region carried by any event: fills empty fields only


def _date(v: Any, fallback: dt.date | None = None) -> dt.date | None:
    if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return v
    if v:
        try:
            return dt.date.fromisoformat(str(v)[:10])
        except ValueError:
            pass
    return fallback


def event_type(event: dict[str, Any]) -> str:
    """``registry.enterprise.registered`` from the event's type or subject."""
    t = str(event.get("type") or "")
    parts = t.split(".")
    return ".".join(parts[-3:]) if len(parts) >= 3 else t


def licence_key(d: dict[str, Any]) -> str:
    """Licences are keyed by number (every source carries it; only events carry the registry id)."""
    return str(d.get("number") or d.get("licence_id") or d.get("id"))


def _licence(d: dict[str, Any]) -> dict[str, Any]:
    return {"number": d.get("number"), "category": d.get("category"), "issue_date": d.get("issue_date"),
            "expiry_date": d.get("expiry_date"), "status": d.get("status")}


def interpret(event: dict[str, Any]) -> Effects:
    et = event_type(event)
    d = event.get("data") or {}
    when = _date(event.get("time"), dt.date.today())
    fx = Effects()
    uscc = d.get("uscc")
    if isinstance(uscc, str) and uscc:
        fx.uscc.add(uscc)
    region = d.get("region_code")
    fx.hint = {"name": d.get("enterprise_name") or d.get("name"), "region_code": region}

    def fact(kind, on, ref, source, value=1.0, **kw):
        fx.facts.append({"uscc": uscc, "kind": kind, "occurred_on": on, "value": value, "ref": str(ref)[:64],
                         "source": source, "region_code": region, **kw})

    if et in ("registry.enterprise.registered", "registry.enterprise.updated"):
        details = d.get("flag_details") or {}
        fx.enterprise = {
            "name": d.get("name"), "region_code": region, "production_status": d.get("production_status"),
            "flags": {k: bool(v) for k, v in (d.get("flags") or {}).items()},
            "flag_dates": {k: (v or {}).get("date") for k, v in details.items() if isinstance(v, dict)},
            "licences": {licence_key(lic): _licence(lic) for lic in d.get("licences") or () if lic.get("number") or lic.get("id")},
        }
    elif et == "registry.enterprise.imported":
        # the import event carries USCCs only: the enterprises are known, their state comes later
        fx.uscc.update(u for u in (d.get("uscc") or [])[:5000] if isinstance(u, str) and u)
    elif et == "scheduling.task.dispatched":
        ent, site = d.get("enterprise") or {}, d.get("site") or {}
        if ent.get("uscc"):
            fx.uscc.add(ent["uscc"])
            # the SITE's region, not the enterprise's: a hint that only fills an empty region (see ``apply``)
            fx.hint = {"name": ent.get("name"), "region_code": site.get("region_code") or d.get("county_code") or d.get("city_code")}
    elif et in ("registry.licence.issued", "registry.licence.updated", "registry.licence.status_changed"):
        lid = licence_key(d) if (d.get("number") or d.get("licence_id") or d.get("id")) else None
        lic = _licence(d)
        if et == "registry.licence.status_changed":
            lic["status"] = d.get("to") or d.get("status")
            if d.get("to") in LICENCE_ACTIONS:
                fact("licence_action", when, f"{lid}:{event.get('id')}", "registry.licence")
        if lid:
            fx.licence = {"id": lid, "state": lic, "name": d.get("enterprise_name"), "region_code": region}
    elif et in ("inspection.record.submitted", "inspection.record.amended"):
        rid = d.get("record_id")
        on = _date(d.get("completed_on"), when)
        fx.replace.append(("inspection.record", rid))
        cats = d.get("product_categories") or [None]
        outcome = d.get("outcome") or {}
        findings = (d.get("findings") or [])[:MAX_FINDINGS]
        if d.get("inspected", True):
            fact("inspection", on, rid, "inspection.record", category=cats[0])
            for f in findings:
                fact("nonconformity", on, rid, "inspection.record", category=cats[0], item_code=str(f.get("item_code") or "")[:60])
            if findings:
                fact("failed_inspection", on, rid, "inspection.record", value=float(len(findings)), category=cats[0])
            fx.close_issues.append(("not_inspected", uscc or ""))
        else:
            fact("not_inspected", on, rid, "inspection.record", category=cats[0])
            fx.open_issues.append({"kind": "not_inspected", "ref": uscc, "summary": "抽中未实施检查（停产、转产、无法联系等），须跟踪检查", "since": on})
        if "refused_serious" in (outcome.get("categories") or ()) or d.get("reason_not_inspected") == "refused":
            fact("refusal", on, rid, "inspection.record")
    elif et == "rectification.case.opened":
        cid = d.get("case_id")
        fx.open_issues.append({"kind": "rectification_open", "ref": cid, "since": _date(d.get("deadline"), when),
                               "summary": f"整改中：问题 {d.get('problems_open', d.get('problems_total', '?'))} 项，期限 {d.get('deadline')}"})
    elif et == "rectification.case.overdue":
        cid = d.get("case_id")
        on = _date(d.get("deadline"), when)
        fact("rect_overdue", on, cid, "rectification.case")
        fx.open_issues.append({"kind": "rectification_overdue", "ref": cid, "since": on, "summary": f"整改逾期（期限 {d.get('deadline')}）"})
    elif et == "rectification.case.rechecked":
        cid = d.get("case_id")
        on = _date(d.get("rechecked_on"), when)
        if d.get("passed") is False:
            fact("recheck_failed", on, f"{cid}:{on}", "rectification.case")
            fx.open_issues.append({"kind": "recheck_failed", "ref": cid, "since": on, "summary": f"复查未通过（{on}）"})
        else:
            fx.close_issues.append(("recheck_failed", cid))
    elif et == "rectification.case.closed":
        cid = d.get("case_id")
        for kind in ("rectification_open", "rectification_overdue", "recheck_failed"):
            fx.close_issues.append((kind, cid))
    elif et == "rectification.outcome.decided":
        on = _date(d.get("decided_at"), when)
        fact("enforcement", on, d.get("outcome_id") or d.get("case_id"), "rectification.outcome")
    elif et in ("disclosure.result.published", "disclosure.result.corrected", "disclosure.result.withdrawn"):
        rid = d.get("result_id")
        fx.replace.append(("disclosure.result", rid))
        if et != "disclosure.result.withdrawn" and PROBLEM_RESULTS.intersection(d.get("categories") or ()):
            fact("disclosed_problem", _date(d.get("completed_on"), when), rid, "disclosure.result")
        fx.close_issues.append(("disclosure_overdue", rid))
    elif et == "disclosure.result.overdue":
        rid = d.get("result_id")
        fx.open_issues.append({"kind": "disclosure_overdue", "ref": rid, "since": _date(d.get("due_on"), when),
                               "summary": f"检查结果逾期未公示（应于 {d.get('due_on')} 前）"})
    for i in fx.open_issues:
        i.setdefault("uscc", uscc)
        i.setdefault("region_code", region)
    fx.facts = [f for f in fx.facts if f["uscc"] and f["ref"]]
    fx.open_issues = [i for i in fx.open_issues if i["uscc"] and i["ref"]]
    return fx


async def apply(session: AsyncSession, fx: Effects, event_id: str) -> None:
    """Store ``fx`` (inside the consumer's transaction)."""
    for uscc in fx.uscc:
        # Written before it is read, so this transaction holds the row's lock (PostgreSQL) or the
        # database's write lock (SQLite, whose reads run outside the transaction until its first write)
        # while it merges: two consumers or replicas updating one enterprise's licences must not
        # overwrite each other's merge. A new enterprise's row is made by whichever comes first.
        await insert_missing(session, RiskEnterprise.__table__, {
            "uscc": uscc, "flags": {}, "flag_dates": {}, "licences": {}, "updated_at": utcnow()})
        await session.execute(update(RiskEnterprise).where(RiskEnterprise.uscc == uscc).values(updated_at=utcnow()))
        ent = await session.get(RiskEnterprise, uscc, populate_existing=True)
        if fx.enterprise is not None:
            for k, v in fx.enterprise.items():
                if v is not None:
                    setattr(ent, k, v)
        if fx.licence is not None:
            lics = dict(ent.licences or {})
            lics[fx.licence["id"]] = {**lics.get(fx.licence["id"], {}), **{k: v for k, v in fx.licence["state"].items() if v is not None}}
            ent.licences = lics
            ent.name = fx.licence.get("name") or ent.name
        # the enterprise's region comes from the registry's enterprise and licence events only; every other
        # event (task, inspection record, case, result) names a site or a bureau and may only fill an empty region
        region = (fx.enterprise or fx.licence or {}).get("region_code")
        if region:
            ent.region_code = region
        if not ent.region_code and isinstance(fx.hint.get("region_code"), str) and len(fx.hint["region_code"]) == 6:
            ent.region_code = fx.hint["region_code"]
        if not ent.name and isinstance(fx.hint.get("name"), str):
            ent.name = fx.hint["name"][:200]
        ent.updated_at = utcnow()
    for source, ref in fx.replace:
        if ref:
            await session.execute(delete(RiskFact).where(RiskFact.source == source, RiskFact.ref == str(ref)))
    if fx.facts:
        await session.execute(RiskFact.__table__.insert(), [{"id": new_id(), "event_id": event_id, "category": None, "item_code": None, **f} for f in fx.facts])
    now = utcnow()
    for kind, ref in fx.close_issues:
        if ref:
            await session.execute(update(OpenIssue).where(OpenIssue.kind == kind, OpenIssue.ref == str(ref), OpenIssue.status == "open").values(status="closed", updated_at=now))
    for i in fx.open_issues:
        row = (await session.execute(select(OpenIssue).where(OpenIssue.kind == i["kind"], OpenIssue.ref == str(i["ref"])))).scalar_one_or_none()
        if row is None:
            session.add(OpenIssue(kind=i["kind"], ref=str(i["ref"])[:64], uscc=i["uscc"], region_code=i.get("region_code"),
                                  status="open", summary=i["summary"], since=i["since"], updated_at=now))
        else:
            row.status, row.summary, row.since, row.updated_at = "open", i["summary"], i["since"], now
    await session.flush()
