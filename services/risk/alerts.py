"""Early-warning alerts. Rules are data (``ALERT_RULES``); each is evaluated after an
enterprise's facts change and in the monthly batch (time passes: licences come due).

Dedup: an alert has a ``subject_key`` (rule + enterprise, or rule + city + category + item for a
cluster) and, while open, an ``open_key`` with a unique index. A trigger finding an open alert
with the same key merges into it (occurrences + 1, evidence replaced) when the evidence is new,
and does nothing when it is the same; a closed alert is not raised again for the same evidence.
The responsible bureau is the enterprise's county (else its city)."""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.canonical import digest
from shared.db import utcnow
from shared.vocabulary import category_name, city_of

from . import indicators
from .models import Alert, OpenIssue, RiskEnterprise, RiskFact


@dataclass(frozen=True)
class AlertRule:
    code: str
    name: str
    kind: str  # fact_count | open_issue | renewal_due | cluster
    fact: str | None = None
    issue: str | None = None
    window_days: int | None = None
    threshold: int = 1
    rate: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


ALERT_RULES: tuple[AlertRule, ...] = (
    AlertRule("repeat_failures", "两年内两次及以上检查发现问题", "fact_count", fact="failed_inspection", window_days=730, threshold=2),
    AlertRule("rectification_overdue", "整改逾期未完成", "open_issue", issue="rectification_overdue"),
    AlertRule("licence_expiring", "许可证6个月内到期且未换证", "renewal_due", window_days=183),
    AlertRule("cluster_nonconformity", "同一设区市、同一产品类别、同一不符合项异常集中", "cluster", fact="nonconformity",
              window_days=365, threshold=3, rate=0.25),
)
RULES = {r.code: r for r in ALERT_RULES}


def bureau_of(region_code: str) -> str:
    """County-level code when there is one, else the city's."""
    return region_code if not region_code.endswith("00") else city_of(region_code)


def alert_out(a: Alert) -> dict[str, Any]:
    return {"id": a.id, "rule": a.rule, "rule_name": RULES[a.rule].name if a.rule in RULES else a.rule, "uscc": a.uscc,
            "enterprise_name": a.enterprise_name, "region_code": a.region_code, "bureau_code": a.bureau_code,
            "reason": a.reason, "evidence": a.evidence, "occurrences": a.occurrences, "status": a.status,
            "raised_at": a.raised_at, "last_seen_at": a.last_seen_at,
            "acknowledged_by": a.acknowledged_by, "acknowledged_at": a.acknowledged_at, "acknowledge_note": a.acknowledge_note,
            "closed_by": a.closed_by, "closed_at": a.closed_at, "close_note": a.close_note, "version": a.version}


def _event(a: Alert) -> dict[str, Any]:
    return {"alert_id": a.id, "uscc": a.uscc, "enterprise_name": a.enterprise_name, "region_code": a.region_code,
            "bureau_code": a.bureau_code, "rule": a.rule, "reason": a.reason, "evidence": a.evidence,
            "occurrences": a.occurrences, "status": a.status}


async def raise_or_merge(session: AsyncSession, ctx, rule: AlertRule, subject: str, *, uscc: str | None, name: str | None,
                         region_code: str, reason: str, evidence: dict[str, Any]) -> str:
    """Returns ``raised``, ``merged`` or ``unchanged``."""
    key = f"{rule.code}:{subject}"[:200]
    ev_digest = digest(evidence)
    open_alert = (await session.execute(select(Alert).where(Alert.open_key == key))).scalar_one_or_none()
    now = utcnow()
    if open_alert is not None:
        if open_alert.evidence_digest == ev_digest:
            return "unchanged"
        open_alert.evidence, open_alert.evidence_digest, open_alert.reason = evidence, ev_digest, reason
        open_alert.occurrences += 1
        open_alert.last_seen_at = now
        open_alert.version += 1
        await session.flush()
        await ctx.emit(session, "alert", "merged", _event(open_alert), subject_id=open_alert.id)
        return "merged"
    closed_same = (await session.execute(select(Alert.id).where(Alert.subject_key == key, Alert.evidence_digest == ev_digest).limit(1))).first()
    if closed_same is not None:
        return "unchanged"
    a = Alert(rule=rule.code, open_key=key, subject_key=key, evidence_digest=ev_digest, uscc=uscc, enterprise_name=name,
              region_code=region_code, bureau_code=bureau_of(region_code), reason=reason, evidence=evidence,
              raised_at=now, last_seen_at=now)
    session.add(a)
    await session.flush()
    await ctx.emit(session, "alert", "raised", _event(a), subject_id=a.id)
    await ctx.audit(session, "risk-service", "alert.raise", "alert", a.id, after=_event(a))
    return "raised"


async def evaluate_enterprise(session: AsyncSession, ctx, ent: RiskEnterprise, facts, as_of: dt.date) -> list[str]:
    """Evaluate the per-enterprise rules; ``facts`` are (kind, occurred_on, value)."""
    out = []
    for rule in ALERT_RULES:
        evidence = None
        if rule.kind == "fact_count":
            dated = sorted(on for k, on, _ in facts if k == rule.fact and on <= as_of and (as_of - on).days < rule.window_days)
            if len(dated) >= rule.threshold:
                refs = (await session.execute(select(RiskFact.ref, RiskFact.occurred_on).where(
                    RiskFact.uscc == ent.uscc, RiskFact.kind == rule.fact).order_by(RiskFact.occurred_on))).all()
                evidence = {"count": len(dated), "window_days": rule.window_days,
                            "records": [{"record_id": r, "on": on.isoformat()} for r, on in refs if (as_of - on).days < rule.window_days][:20]}
                reason = f"{rule.window_days // 365}年内 {len(dated)} 次检查发现问题（{', '.join(d.isoformat() for d in dated[:5])}）"
        elif rule.kind == "open_issue":
            refs = list((await session.execute(select(OpenIssue.ref, OpenIssue.since).where(
                OpenIssue.uscc == ent.uscc, OpenIssue.kind == rule.issue, OpenIssue.status == "open").order_by(OpenIssue.ref))).all())
            if refs:
                evidence = {"cases": [{"case_id": r, "deadline": s.isoformat()} for r, s in refs[:20]]}
                reason = f"整改逾期未完成：{len(refs)} 个整改案件（期限 {refs[0][1].isoformat()}）"
        elif rule.kind == "renewal_due":
            due = indicators.renewals_due((ent.licences or {}).values(), as_of, rule.window_days)
            if due:
                evidence = {"licences": [{"number": x.get("number"), "category": x.get("category"), "expiry_date": x.get("expiry_date")} for x in due][:20]}
                reason = "许可证将于6个月内到期且未换证：" + "、".join(f"{x.get('number')}（{x.get('expiry_date')}）" for x in due[:5])
        if evidence is not None:
            out.append(await raise_or_merge(session, ctx, rule, ent.uscc, uscc=ent.uscc, name=ent.name,
                                            region_code=ent.region_code, reason=reason, evidence=evidence))
    return out


async def evaluate_cluster(session: AsyncSession, ctx, data: dict[str, Any], as_of: dt.date) -> list[str]:
    """The same non-conformity item in one city and category at an unusual rate: at least
    ``threshold`` enterprises and at least ``rate`` of the enterprises inspected there in the window."""
    rule = RULES["cluster_nonconformity"]
    region = data.get("region_code")
    cats = data.get("product_categories") or []
    items = {str(f.get("item_code") or "") for f in (data.get("findings") or [])[:500]} - {""}
    if not region or not cats or not items:
        return []
    city = city_of(region)
    since = as_of - dt.timedelta(days=rule.window_days)
    in_city = (RiskFact.region_code.startswith(city[:4]), RiskFact.category == cats[0], RiskFact.occurred_on > since, RiskFact.occurred_on <= as_of)
    inspected = (await session.execute(select(func.count(distinct(RiskFact.uscc))).where(RiskFact.kind == "inspection", *in_city))).scalar_one()
    out = []
    for item in sorted(items):
        usccs = sorted((await session.execute(select(RiskFact.uscc).distinct().where(
            RiskFact.kind == rule.fact, RiskFact.item_code == item, *in_city))).scalars())
        if len(usccs) >= rule.threshold and inspected and len(usccs) / inspected >= rule.rate:
            evidence = {"city_code": city, "category": cats[0], "item_code": item, "enterprises": usccs[:50],
                        "affected": len(usccs), "inspected": inspected, "window_days": rule.window_days}
            reason = (f"{category_name(cats[0])}：近一年本市 {inspected} 家受检企业中 {len(usccs)} 家出现同一不符合项 {item}"
                      f"（{len(usccs) / inspected:.0%}）")
            out.append(await raise_or_merge(session, ctx, rule, f"{city}:{cats[0]}:{item}", uscc=None, name=None,
                                            region_code=city, reason=reason, evidence=evidence))
    return out
