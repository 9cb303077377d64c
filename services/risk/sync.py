"""Bootstrap from the registry's population (``GET /population/enterprises``), read once with
the caller's token (a province admin), like sampling's freeze. Needed because the registry's
bulk-import events (``registry.enterprise.imported``) carry USCCs only: without this, imported
enterprises reach the risk service without region, flags or licences until a later event.
Flag dates are not in the population answer: a flag counts as inside its window until an
``enterprise.updated`` event brings the date."""
from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from shared.db import utcnow
from shared.errors import Problem
from shared.topology import service_url

from . import engine
from .facts import licence_key
from .models import RiskEnterprise

PAGE = 5000
MAX_ENTERPRISES = 500_000


class RegistryReader:
    def __init__(self, base_url: str | None = None, transport: httpx.AsyncBaseTransport | None = None, timeout: float = 60.0):
        self.base_url = (base_url or service_url("registry")).rstrip("/")
        self.transport, self.timeout = transport, timeout

    async def enterprises(self, token: str | None) -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        out: list[dict[str, Any]] = []
        cursor = None
        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout, transport=self.transport) as c:
                while True:
                    params = {"catalogue": "2024", "licence_status": "有效", "limit": PAGE, **({"cursor": cursor} if cursor else {})}
                    r = await c.get("/population/enterprises", params=params, headers=headers)
                    if r.status_code != 200:
                        raise Problem(502 if r.status_code < 500 else 503, "registry-bad-response", "名录库响应错误", detail=f"HTTP {r.status_code}")
                    body = r.json()
                    out += body["items"]
                    if len(out) > MAX_ENTERPRISES:
                        raise Problem(413, "too-many", "名录库企业数超过同步上限")
                    cursor = body.get("next_cursor")
                    if not cursor:
                        return out
        except httpx.HTTPError as exc:
            raise Problem(503, "registry-unavailable", "名录库服务不可用", detail=type(exc).__name__) from None


async def sync_registry(ctx, principal, token: str | None) -> dict[str, Any]:
    items = await (ctx.extras.get("registry_reader") or RegistryReader()).enterprises(token)
    created = updated = 0
    for k in range(0, len(items), 2000):
        chunk = items[k:k + 2000]
        async with ctx.db.transaction() as s:
            have = {e.uscc: e for e in (await s.execute(select(RiskEnterprise).where(RiskEnterprise.uscc.in_([i["uscc"] for i in chunk])))).scalars()}
            for it in chunk:
                e = have.get(it["uscc"])
                if e is None:
                    e = RiskEnterprise(uscc=it["uscc"])
                    s.add(e)
                    created += 1
                else:
                    updated += 1
                e.name, e.region_code = it.get("name") or e.name, it.get("region_code") or e.region_code
                e.production_status = it.get("production_status") or e.production_status
                e.flags = {**(e.flags or {}), **{f: bool(v) for f, v in (it.get("flags") or {}).items()}}
                lics = dict(e.licences or {})
                for lic in it.get("licences") or ():
                    lics[licence_key(lic)] = {**lics.get(licence_key(lic), {}), **{x: lic.get(x) for x in ("number", "category", "issue_date", "expiry_date", "status")}}
                e.licences = lics
                e.updated_at = utcnow()
            if k == 0:
                await ctx.audit(s, principal, "registry.sync", "registry", "population", detail={"enterprises": len(items)})
    async with ctx.db.session() as s:
        model = await engine.adopted_model(s, ctx)
    result = await engine.reclassify(ctx, model, "registry-sync", recompute_indicators=True, with_alerts=True) if model else {}
    return {"enterprises": len(items), "created": created, "updated": updated, "reclassified": result}
