"""One OpenAPI document for the whole system: the gateway's own paths plus each service's,
re-prefixed ``/api/v1/<service>``, with component names namespaced ``<service>__<Name>``."""
from __future__ import annotations

import asyncio
import copy
import logging
import time
from typing import Any

import httpx
from fastapi import FastAPI

from shared.contract import _problem_response

log = logging.getLogger("spotcheck.gateway.openapi")

# component sections whose entries are referenced by "$ref": "#/components/<section>/<name>"
REF_SECTIONS = ("schemas", "responses", "parameters", "examples", "requestBodies", "headers", "links", "callbacks")
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _rename_refs(node: Any, service: str) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/"):
                _, _, section, name = value.split("/", 3)
                out[key] = f"#/components/{section}/{service}__{name}" if section in REF_SECTIONS else value
            else:
                out[key] = _rename_refs(value, service)
        return out
    if isinstance(node, list):
        return [_rename_refs(v, service) for v in node]
    return node


def namespace_spec(service: str, spec: dict) -> tuple[dict, dict]:
    """The service's paths under ``/api/v1/<service>`` and its components renamed."""
    spec = _rename_refs(copy.deepcopy(spec), service)
    paths = {}
    seen: set[str] = set()
    for path, item in (spec.get("paths") or {}).items():
        item = dict(item)
        for method, op in item.items():
            if method in HTTP_METHODS and isinstance(op, dict):
                if "operationId" in op:
                    op_id = f"{service}__{op['operationId']}"
                    if op_id in seen:  # a route serving several methods repeats its id
                        op_id = f"{op_id}_{method}"
                    seen.add(op_id)
                    op["operationId"] = op_id
                op["tags"] = [f"{service}：{t}" for t in op.get("tags", [])] or [service]
        paths[f"/api/v1/{service}{path}"] = item
    components: dict[str, dict] = {}
    for section, entries in (spec.get("components") or {}).items():
        if section == "schemas":
            # client generators name types after "title": namespace it too, or the kernel's models
            # (ProblemDetail, AuditListOut...) of two services collide and are dropped
            components[section] = {f"{service}__{name}": ({**v, "title": f"{service}__{name}"} if isinstance(v, dict) else v)
                                   for name, v in entries.items()}
        elif section in REF_SECTIONS:
            components[section] = {f"{service}__{name}": v for name, v in entries.items()}
        else:  # securitySchemes: referenced by name from "security"; same bearer scheme everywhere
            components[section] = dict(entries)
    return paths, components


class MergedOpenAPI:
    def __init__(self, app: FastAPI, cache_seconds: float, fetch_timeout: float = 3.0):
        self.app = app
        self.cache_seconds = cache_seconds
        self.fetch_timeout = fetch_timeout
        self._cached: dict | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()

    async def _fetch(self, name: str, base: str) -> dict | None:
        client: httpx.AsyncClient = self.app.state.upstreams.client
        try:
            resp = await client.get(f"{base}/openapi.json", timeout=self.fetch_timeout)
            resp.raise_for_status()
            doc = resp.json()
            return doc if isinstance(doc, dict) and "paths" in doc else None
        except (httpx.HTTPError, ValueError) as exc:
            log.info("openapi of %s unavailable: %s", name, exc)
            return None

    async def build(self) -> dict:
        own = copy.deepcopy(self.app.openapi())
        upstreams = self.app.state.upstreams
        from shared.topology import enabled_services

        present = set(enabled_services())  # a service not installed here is not part of this deployment
        names = [n for n in upstreams.urls if n in present]
        docs = await asyncio.gather(*(self._fetch(n, upstreams.urls[n]) for n in names))
        unavailable = []
        own.setdefault("paths", {})
        own.setdefault("components", {})
        services = []
        for name, doc in zip(names, docs):
            if doc is None:
                unavailable.append(name)
                continue
            services.append({"name": name, "title": doc.get("info", {}).get("title"), "version": doc.get("info", {}).get("version")})
            paths, components = namespace_spec(name, doc)
            own["paths"].update(paths)
            for section, entries in components.items():
                own["components"].setdefault(section, {}).update(entries)
            # the gateway's answers for a proxied operation: service unreachable or too slow
            for item in paths.values():
                for method, op in item.items():
                    if method in HTTP_METHODS and isinstance(op, dict):
                        for status in (502, 503, 504):
                            op.setdefault("responses", {})[str(status)] = _problem_response(status)
        own["info"]["x-services"] = services
        own["info"]["x-unavailable"] = unavailable
        # services read the bearer token themselves; declare it once so Swagger UI can log in and send it
        own["components"].setdefault("securitySchemes", {})["SpotcheckOAuth2"] = {
            "type": "oauth2",
            "description": "网关签发的访问令牌（人员用 password，其他系统用 client_credentials）",
            "flows": {
                "password": {"tokenUrl": "/auth/token", "refreshUrl": "/auth/token", "scopes": {}},
                "clientCredentials": {"tokenUrl": "/auth/token", "scopes": {}},
            },
        }
        own.setdefault("security", [{"SpotcheckOAuth2": []}])
        return own

    async def get(self) -> dict:
        async with self._lock:
            if self._cached is None or time.monotonic() - self._at > self.cache_seconds:
                self._cached = await self.build()
                self._at = time.monotonic()
            return self._cached
