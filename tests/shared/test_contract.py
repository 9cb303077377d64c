"""The kernel's contract: problem schema and real statuses in every service's document, typed
success bodies and headers where routes declare them, public ``instance``, offline docs."""
from __future__ import annotations

import functools
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


# operations whose success body is not JSON and that declare only its media type (files): none may be
# x-untyped; this list names those allowed to answer without a JSON schema, and why. Empty: every
# file route declares its media type (PDF, CSV, XLSX, the evidence types) through op(None, media_type=...).
MEDIA_TYPE_ONLY: dict[str, str] = {}


@functools.lru_cache(maxsize=1)
def _merged():
    from gateway.openapi_dump import merged_document

    return merged_document()


def test_every_operation_of_the_merged_document_declares_its_success_answer():
    """A new route without op(...) (or a file route without its media type) fails here."""
    spec = _merged()
    untyped = sorted(f"{m.upper()} {p}" for p, item in spec["paths"].items() for m, o in item.items()
                     if isinstance(o, dict) and o.get("x-untyped") and f"{m.upper()} {p}" not in MEDIA_TYPE_ONLY)
    assert untyped == [], "operations without a declared success body (add **op(Model, ...) to the route):\n" + "\n".join(untyped)
    for p, item in spec["paths"].items():
        for m, o in item.items():
            if not isinstance(o, dict):
                continue
            ok = {c: r for c, r in o["responses"].items() if c.startswith("2") and c != "204"}
            assert ok or "204" in o["responses"], (m, p)
            for code, resp in ok.items():
                content = resp.get("content") or {}
                assert content, (m, p, code)
                for media, body in content.items():
                    schema = body.get("schema") or {}
                    if media == "application/json":
                        # a JSON answer names its model (or an object/array), never the empty "any" schema
                        assert schema.get("$ref") or schema.get("type") in ("object", "array") or "anyOf" in schema, (m, p, code, schema)
                    else:
                        assert schema.get("format") == "binary", (m, p, code, media)


def test_paged_lists_headers_and_second_success_status_are_documented():
    spec = _merged()
    schemas = spec["components"]["schemas"]

    def body(path, method, code="200"):
        ref = spec["paths"][path][method]["responses"][code]["content"]["application/json"]["schema"]["$ref"]
        return schemas[ref.rsplit("/", 1)[1]]

    for path in ("/api/v1/inspection/records", "/api/v1/inspection/tasks", "/api/v1/risk/alerts", "/api/v1/disclosure/results",
                 "/api/v1/scheduling/teams", "/api/v1/rectification/outcomes", "/api/v1/sampling/draws/{draw_id}/units"):
        assert {"items", "next_cursor", "limit"} <= set(body(path, "get")["properties"]), path
    # PUT of a production-status form: 201 when it creates, 200 when it updates; If-Match only for updates
    put = spec["paths"]["/api/v1/inspection/tasks/{task_id}/forms/{kind}"]["put"]
    assert {"200", "201", "412", "428"} <= set(put["responses"])
    assert body("/api/v1/inspection/tasks/{task_id}/forms/{kind}", "put", "201") == body("/api/v1/inspection/tasks/{task_id}/forms/{kind}", "put")
    assert {"ETag", "Idempotent-Replayed"} <= set(put["responses"]["201"]["headers"])
    if_match = next(p for p in put["parameters"] if p["name"] == "If-Match")
    assert if_match["required"] is False
    # a create answers 201 with its headers; an update with If-Match answers its ETag
    opened = spec["paths"]["/api/v1/inspection/tasks/{task_id}/record"]["post"]["responses"]
    assert "200" not in opened and {"ETag", "Idempotent-Replayed"} <= set(opened["201"]["headers"])
    item = spec["paths"]["/api/v1/inspection/records/{record_id}/items/{code}"]["put"]["responses"]["200"]
    assert "ETag" in item["headers"]
    # public results may answer 304 to If-None-Match
    assert "304" in spec["paths"]["/api/v1/disclosure/public/results"]["get"]["responses"]
    # a file route declares its media type, not JSON
    pdf = spec["paths"]["/api/v1/inspection/records/{record_id}/form.pdf"]["get"]["responses"]["200"]["content"]
    assert list(pdf) == ["application/pdf"]
    # evidence uploads say what a full or unreachable evidence store answers (507 / 503, with Retry-After)
    for path in ("/api/v1/inspection/records/{record_id}/evidence/upload", "/api/v1/rectification/cases/{case_id}/evidence"):
        responses = spec["paths"][path]["post"]["responses"]
        assert {"503", "507"} <= set(responses), path
        assert "Retry-After" in responses["507"]["headers"], path
