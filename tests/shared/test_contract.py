"""The kernel's contract: problem schema and real statuses in every service's document, typed
success bodies and headers where routes declare them, public ``instance``, offline docs."""
from __future__ import annotations

import json
import re

import pytest

from services.registry.app import create_app
from shared.auth import TokenVerifier
from shared.migrations import upgrade_async
from shared.settings import settings_for
from tests.helpers import running


@pytest.fixture(scope="module")
async def reg(databases, nats_url, keys):
    url = await databases.create("contract")
    await upgrade_async("services.registry", url)
    app = create_app(settings_for("registry", database_url=url, nats_url=nats_url, events_prefix="tcontractdocs"),
                     verifier=TokenVerifier("spotcheck-gateway", "spotcheck", jwks=keys.jwks), start_background=False)
    async with running(app) as client:
        yield client, app


def _ops(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            yield path, method, op


async def test_no_fastapi_validation_error_and_problems_documented(reg):
    client, app = reg
    spec = (await client.get("/openapi.json")).json()
    text = json.dumps(spec)
    assert "HTTPValidationError" not in text
    assert "ProblemDetail" in spec["components"]["schemas"]
    props = spec["components"]["schemas"]["ProblemDetail"]["properties"]
    assert {"type", "title", "status", "detail", "instance", "errors", "request_id"} <= set(props)
    for path, method, op in _ops(spec):
        for status, resp in op["responses"].items():
            if status.startswith(("4", "5")):
                assert list(resp["content"]) == ["application/problem+json"], (path, method, status)
                assert resp["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/ProblemDetail"}
        if path.startswith(("/enterprises", "/admin", "/audit", "/licences", "/sites")):
            assert {"401", "403"} <= set(op["responses"]), (path, method)
        if path in ("/health", "/ready", "/regions"):  # public: no 401/403 promised
            assert "401" not in op["responses"], path
        if "{" in path:
            assert "404" in op["responses"], (path, method)
        if method in ("post", "put", "patch"):
            assert {"409", "413", "422"} <= set(op["responses"]), (path, method)


async def test_declared_success_bodies_and_headers(reg):
    client, _ = reg
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    lst = spec["paths"]["/enterprises"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    page = schemas[lst["$ref"].rsplit("/", 1)[1]]
    assert set(page["properties"]) == {"items", "next_cursor", "limit"}
    assert page["properties"]["items"]["items"] == {"$ref": "#/components/schemas/EnterpriseOut"}
    create = spec["paths"]["/enterprises"]["post"]
    assert {"ETag", "Idempotent-Replayed"} <= set(create["responses"]["201"]["headers"])
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in create["parameters"])
    patch = spec["paths"]["/enterprises/{uscc}"]["patch"]
    assert any(p["name"] == "If-Match" and p["required"] for p in patch["parameters"])
    assert {"412", "428"} <= set(patch["responses"])
    assert "ETag" in patch["responses"]["200"]["headers"]
    # the kernel's own operations are typed in every service
    for path in ("/health", "/ready", "/audit", "/audit/verify", "/admin/parked"):
        assert "x-untyped" not in spec["paths"][path]["get"], path
        assert spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]


async def test_problem_instance_is_the_public_path(reg, keys):
    client, _ = reg
    r = await client.get("/enterprises")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["instance"] == "/api/v1/registry/enterprises"
    h = keys.headers(sub="p", roles=("province_admin",), region="140000")
    r = await client.get("/enterprises", params={"limit": 0}, headers=h)
    assert r.status_code == 422 and r.json()["instance"] == "/api/v1/registry/enterprises"
    assert r.json()["errors"][0]["field"] == "limit"
    r = await client.post("/enterprises", content=b"x" * 10, headers={**h, "Content-Type": "text/xml"})
    assert r.status_code == 415 and r.json()["instance"] == "/api/v1/registry/enterprises"


async def test_docs_served_without_a_cdn(reg):
    client, _ = reg
    for page in ("/docs", "/redoc"):
        r = await client.get(page)
        assert r.status_code == 200
        assert not re.search(r"(src|href)=\"https?://", r.text), r.text
        for asset in re.findall(r"(?:src|href)=\"(docs-assets/[^\"]+)\"", r.text) + re.findall(r"'(docs-assets/[^']+)'", r.text):
            a = await client.get("/" + asset)
            assert a.status_code == 200 and len(a.content) > 1000, asset
    js = await client.get("/docs-assets/swagger-ui-bundle.js")
    assert js.headers["content-type"].startswith("application/javascript")
    assert (await client.get("/docs-assets/..%2Fcore.py")).status_code == 404
