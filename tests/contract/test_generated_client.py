"""The merged OpenAPI document as other government systems use it: validated with
openapi-spec-validator, a Python client generated from it (openapi-python-client), and
operations called through that client against the live stack (`spotcheck run`): a list with
paging, a create with Idempotency-Key (replayed), an update with If-Match, a problem answer."""
from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from tests.contract.conftest import token
from tests.registry.conftest import enterprise_body


def test_merged_document_is_valid_and_problems_documented(live):
    from openapi_spec_validator import validate

    base, _ = live
    spec = httpx.get(f"{base}/openapi.json", timeout=20).json()
    validate(spec)
    assert "HTTPValidationError" not in json.dumps(spec)
    op = spec["paths"]["/api/v1/registry/enterprises"]["get"]
    assert {"401", "403", "422", "503", "504"} <= set(op["responses"])
    titles = [v.get("title") for v in spec["components"]["schemas"].values()]
    assert len(titles) == len(set(titles)), "schema titles collide (generated clients drop models)"


def test_generated_python_client_calls_the_live_api(live):
    base, tmp = live
    spec_path = tmp / "openapi.json"
    spec_path.write_text(httpx.get(f"{base}/openapi.json", timeout=20).text)
    out = tmp / "spotcheck_client"
    gen = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent)) or "openapi-python-client"
    r = subprocess.run([gen, "generate", "--path", str(spec_path), "--output-path", str(out), "--meta", "none", "--overwrite"],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "duplicate models" not in r.stdout + r.stderr, r.stdout[-3000:]
    sys.path.insert(0, str(tmp))
    try:
        client_mod = importlib.import_module("spotcheck_client")
        api = importlib.import_module("spotcheck_client.api")
        ops = {}
        for mod_path in Path(api.__path__[0]).rglob("*.py"):
            ops[mod_path.stem] = mod_path

        def load(stem):
            path = ops[stem]
            rel = path.relative_to(tmp).with_suffix("")
            return importlib.import_module(".".join(rel.parts))
        lst = load("registry_list_enterprises_enterprises_get")
        create = load("registry_create_enterprise_enterprises_post")
        get = load("registry_get_enterprise_enterprises_uscc_get")
        patch = load("registry_patch_enterprise_enterprises_uscc_patch")
        models = importlib.import_module("spotcheck_client.models")

        prov = client_mod.AuthenticatedClient(base_url=base, token=token(base, "demo_province"), timeout=20)
        # a list with paging: typed pages, the cursor handed back
        first = lst.sync(client=prov, limit=5)
        assert type(first).__name__.endswith("PageEnterpriseOut") and len(first.items) == 5 and first.limit == 5
        second = lst.sync(client=prov, limit=5, cursor=first.next_cursor)
        assert {e.uscc for e in first.items}.isdisjoint({e.uscc for e in second.items})
        assert all(isinstance(e.version, int) for e in second.items)

        # a create with Idempotency-Key, replayed with Idempotent-Replayed
        body_cls = next(getattr(models, n) for n in dir(models) if n.endswith("EnterpriseIn"))
        body = body_cls.from_dict(enterprise_body("140105"))
        made = create.sync_detailed(client=prov, body=body, idempotency_key="contract-1")
        assert made.status_code == 201, made.content
        again = create.sync_detailed(client=prov, body=body, idempotency_key="contract-1")
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert again.parsed.uscc == made.parsed.uscc

        # an update with If-Match (the ETag from GET), then a stale one: 412 problem
        got = get.sync_detailed(client=prov, uscc=made.parsed.uscc)
        etag = got.headers["etag"]
        patch_cls = next(getattr(models, n) for n in dir(models) if n.endswith("EnterprisePatch"))
        ok = patch.sync_detailed(client=prov, uscc=made.parsed.uscc, body=patch_cls.from_dict({"address": "山西省太原市新地址1号"}), if_match=etag)
        assert ok.status_code == 200 and ok.parsed.address == "山西省太原市新地址1号"
        stale = patch.sync_detailed(client=prov, uscc=made.parsed.uscc, body=patch_cls.from_dict({"address": "又一个"}), if_match=etag)
        assert stale.status_code == 412
        assert type(stale.parsed).__name__.endswith("ProblemDetail") and stale.parsed.status == 412

        # a problem: another city's enterprise is not found for a city admin, at its public path
        ty = client_mod.AuthenticatedClient(base_url=base, token=token(base, "demo_datong"), timeout=20)
        missing = get.sync_detailed(client=ty, uscc=made.parsed.uscc)
        assert missing.status_code == 404
        assert missing.parsed.instance == f"/api/v1/registry/enterprises/{made.parsed.uscc}"
    finally:
        sys.path.remove(str(tmp))
