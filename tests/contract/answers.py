"""Opt-in pytest plugin: every answer the in-process tests receive is checked against the service's
own OpenAPI document — its status must be documented, and a 2xx JSON body must validate against the
declared schema. Schemathesis sends a few generated requests per operation; the service tests reach
the states it cannot (sealed records, decided outcomes, rotated secrets...). Run with

    .venv/bin/python -m pytest -p tests.contract.answers tests/inspection tests/risk ...

Violations are listed at the end and make the run fail. (Answers of apps without ``openapi()``, and
operations the document does not know, are ignored.)"""
from __future__ import annotations

import re

import httpx
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

_documents: dict[int, tuple[list, Registry]] = {}
violations: list[str] = []


def _document(app) -> tuple[list, Registry]:
    if id(app) not in _documents:
        spec = app.openapi()
        paths = sorted(((p.count("{"), re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(p)) + "$"), p, item)
                        for p, item in spec["paths"].items()), key=lambda x: x[0])
        registry = Registry().with_resource("urn:spec", Resource.from_contents({**spec, "$schema": "https://json-schema.org/draft/2020-12/schema"}))
        _documents[id(app)] = (paths, registry)
    return _documents[id(app)]


def check(app, method: str, path: str, resp: httpx.Response) -> list[str]:
    paths, registry = _document(app)
    found = next(((tmpl, item[method]) for _, rx, tmpl, item in paths if rx.match(path) and method in item), None)
    if found is None:
        return []
    tmpl, operation = found
    status = str(resp.status_code)
    where = f"{method.upper()} {tmpl} → {status}"
    answer = operation.get("responses", {}).get(status)
    if answer is None:
        return [f"{where}: status not documented"]
    if resp.status_code >= 300 or not resp.headers.get("content-type", "").startswith("application/json"):
        return []
    if "application/json" not in (answer.get("content") or {}):
        return [f"{where}: JSON answer, but the document declares {sorted(answer.get('content') or {})}"]
    pointer = "/paths/" + tmpl.replace("~", "~0").replace("/", "~1") + f"/{method}/responses/{status}/content/application~1json/schema"
    validator = Draft202012Validator({"$ref": "urn:spec#" + pointer}, registry=registry)
    return [f"{where}: {'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message[:300]}" for e in list(validator.iter_errors(resp.json()))[:3]]


_send = httpx.AsyncClient.send


async def _checked_send(self, request, **kwargs):
    resp = await _send(self, request, **kwargs)
    app = getattr(self._transport, "app", None)
    if app is not None and hasattr(app, "openapi") and not kwargs.get("stream"):
        await resp.aread()
        violations.extend(check(app, request.method.lower(), request.url.path, resp))
    return resp


def pytest_configure(config):
    httpx.AsyncClient.send = _checked_send


def pytest_unconfigure(config):
    httpx.AsyncClient.send = _send


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if violations:
        terminalreporter.section("answers that contradict the OpenAPI document")
        for v in sorted(set(violations)):
            terminalreporter.write_line(v)


def pytest_sessionfinish(session, exitstatus):
    if violations and session.exitstatus == 0:
        session.exitstatus = 1
