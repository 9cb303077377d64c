"""Where a draw's population comes from: the registry's population endpoints, read once.

``PopulationSource`` is the protocol; ``RegistryClient`` (default) calls the registry over HTTP
at ``shared.topology.service_url("registry")``, forwarding the caller's Authorization header,
following ``next_cursor`` with ``limit=5000``. ``StaticPopulation`` serves contract-shaped
dicts from memory (tests, offline rehearsals of a draw).
"""
from __future__ import annotations

from typing import Any, Protocol

import httpx

from shared.auth import region_prefix
from shared.errors import Problem
from shared.topology import service_url

PAGE_LIMIT = 5000
UNAVAILABLE = "名录库服务不可用，无法冻结总体"


class PopulationSource(Protocol):
    async def enterprises(self, plan: dict[str, Any], token: str | None) -> list[dict[str, Any]]: ...

    async def people(self, plan: dict[str, Any], token: str | None) -> list[dict[str, Any]]: ...


class RegistryClient:
    def __init__(self, base_url: str | None = None, timeout: float = 30.0, transport: httpx.AsyncBaseTransport | None = None):
        self.base_url = (base_url or service_url("registry")).rstrip("/")
        self.timeout = timeout
        self.transport = transport

    async def _all_pages(self, path: str, params: dict[str, Any], token: str | None) -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout, transport=self.transport) as client:
                while True:
                    q = {**params, "limit": PAGE_LIMIT}
                    if cursor:
                        q["cursor"] = cursor
                    resp = await client.get(path, params=q, headers=headers)
                    if resp.status_code >= 500:
                        raise Problem(503, "registry-unavailable", UNAVAILABLE, detail=f"名录库返回 {resp.status_code}")
                    if resp.status_code in (401, 403):
                        raise Problem(resp.status_code, "registry-refused", "名录库拒绝了读取总体的请求",
                                      detail=_detail(resp))
                    if resp.status_code != 200:
                        raise Problem(502, "registry-bad-response", "名录库响应错误", detail=_detail(resp))
                    body = resp.json()
                    items.extend(body["items"])
                    cursor = body.get("next_cursor")
                    if not cursor:
                        return items
        except httpx.HTTPError as exc:
            raise Problem(503, "registry-unavailable", UNAVAILABLE, detail=type(exc).__name__) from None

    async def enterprises(self, plan: dict[str, Any], token: str | None) -> list[dict[str, Any]]:
        params = {"catalogue": plan["catalogue"], "licence_status": plan["licence_status"], "region": plan["owner_region"]}
        return await self._all_pages("/population/enterprises", params, token)

    async def people(self, plan: dict[str, Any], token: str | None) -> list[dict[str, Any]]:
        out = []
        for kind in ("inspector", "expert"):
            out += await self._all_pages("/population/people", {"kind": kind, "active": "true"}, token)
        return out


def _detail(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("detail") or resp.json().get("title"))
    except Exception:
        return f"HTTP {resp.status_code}"


class StaticPopulation:
    """In-memory population in the registry's contract shape (filters as the registry does)."""

    def __init__(self, enterprises: list[dict[str, Any]] | None = None, people: list[dict[str, Any]] | None = None):
        self._enterprises = enterprises or []
        self._people = people or []
        self.calls = 0

    async def enterprises(self, plan: dict[str, Any], token: str | None) -> list[dict[str, Any]]:
        self.calls += 1
        prefix = region_prefix(plan["owner_region"])
        return sorted((e for e in self._enterprises if e["region_code"].startswith(prefix)), key=lambda e: e["uscc"])

    async def people(self, plan: dict[str, Any], token: str | None) -> list[dict[str, Any]]:
        self.calls += 1
        return sorted((p for p in self._people if p.get("active")), key=lambda p: p["id"])


# ---------------------------------------------------------------- credit-risk classes (risk service)
class RiskClassSource(Protocol):
    async def classes(self, usccs: list[str], token: str | None) -> dict[str, Any]: ...


RISK_CHUNK = 20_000


class RiskClassClient:
    """Asks the risk service (``POST /population/classes``, province roles only) for the class of
    each enterprise of a population being frozen, forwarding the caller's token."""

    def __init__(self, base_url: str | None = None, timeout: float = 60.0, transport: httpx.AsyncBaseTransport | None = None):
        self.base_url = (base_url or service_url("risk")).rstrip("/")
        self.timeout = timeout
        self.transport = transport

    async def classes(self, usccs: list[str], token: str | None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        out: dict[str, Any] = {"classes": {}}
        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout, transport=self.transport) as client:
                for i in range(0, max(len(usccs), 1), RISK_CHUNK):
                    resp = await client.post("/population/classes", json={"uscc": usccs[i:i + RISK_CHUNK]}, headers=headers)
                    if resp.status_code in (401, 403):
                        raise Problem(403, "risk-refused", "信用风险服务拒绝了查询分类的请求（仅省局可按风险分类抽取）", detail=_detail(resp))
                    if resp.status_code != 200:
                        raise Problem(503 if resp.status_code >= 500 else 502, "risk-bad-response", "信用风险服务响应错误", detail=_detail(resp))
                    body = resp.json()
                    if out.get("model_version") not in (None, body.get("model_version")):
                        raise Problem(409, "risk-model-changed", "查询期间评分卡版本发生变化，请重新冻结")
                    out["model_version"] = body.get("model_version")
                    out["classes"].update(body.get("classes") or {})
        except httpx.HTTPError as exc:
            raise Problem(503, "risk-unavailable", "信用风险服务不可用，无法按风险分类冻结总体", detail=type(exc).__name__) from None
        return out


class StaticRiskClasses:
    """In-memory classes (tests, offline rehearsals)."""

    def __init__(self, classes: dict[str, str], model_version: int = 1):
        self._classes = classes
        self.model_version = model_version

    async def classes(self, usccs: list[str], token: str | None) -> dict[str, Any]:
        return {"model_version": self.model_version, "classes": {u: self._classes.get(u) for u in usccs}}
