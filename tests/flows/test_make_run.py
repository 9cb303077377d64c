"""`spotcheck run` (what `make run` calls) from an empty data directory: every process comes up,
demo data loads, a city admin logs in at the gateway and sees only its city's enterprises, and
Ctrl-C stops everything (the ``demo_stack`` fixture's teardown checks the exit status: the stack
is shared with the browser and contract tests, see tests/conftest.py). The rectification demo has cases
in every state (counted through the API), the revocation reached the registry, and disclosure took
the closed cases of the 往期检查 (demo history) batch."""
from __future__ import annotations

import time

import httpx


def test_spotcheck_run_end_to_end(demo_stack):
    out = demo_stack.lines
    assert any("demo_taiyuan" in line for line in out)
    assert not any("演示检查活动未完成" in line for line in out), "\n".join(out)
    assert any("· scheduling:" in line for line in out), "\n".join(out)  # the demo campaign ran its steps
    base = demo_stack.base
    tok = httpx.post(f"{base}/auth/token", data={"grant_type": "password", "username": "demo_taiyuan",
                                                 "password": "spotcheck-demo"}, timeout=10)
    assert tok.status_code == 200, tok.text
    auth = {"Authorization": f"Bearer {tok.json()['access_token']}"}
    seen = 0
    cursor = None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        r = httpx.get(f"{base}/api/v1/registry/enterprises", headers=auth, params=params, timeout=10)
        assert r.status_code == 200, r.text
        page = r.json()
        for item in page["items"]:
            assert item["region_code"].startswith("1401"), item
        seen += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert seen > 20  # the demo registry has plenty of 太原 enterprises
    spec = httpx.get(f"{base}/openapi.json", timeout=10).json()
    assert any(p.startswith("/api/v1/registry/") for p in spec["paths"])


def _login(base: str, username: str) -> dict:
    tok = httpx.post(f"{base}/auth/token", data={"grant_type": "password", "username": username, "password": "spotcheck-demo"}, timeout=10)
    assert tok.status_code == 200, tok.text
    return {"Authorization": f"Bearer {tok.json()['access_token']}"}


def _all(base: str, path: str, auth: dict, **params) -> list[dict]:
    items, cursor = [], None
    while True:
        r = httpx.get(f"{base}/api/v1{path}", headers=auth, params={**params, "limit": 200, **({"cursor": cursor} if cursor else {})}, timeout=20)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json().get("next_cursor")
        if not cursor:
            return items


def test_make_run_shows_rectification_cases_in_every_state(demo_stack):
    base = demo_stack.base
    P = _login(base, "demo_province")
    cases = _all(base, "/rectification/cases", P)
    counts = {
        "待整改": sum(1 for x in cases if x["status"] == "open" and not x["overdue"]),
        "企业已报告整改": sum(1 for x in cases if x["status"] == "reported"),
        "复查合格结案": sum(1 for x in cases if x["status"] == "closed" and x["resolution"] == "rectified"),
        "逾期": sum(1 for x in cases if x["status"] == "open" and x["overdue"]),
        "撤销": sum(1 for x in cases if x["status"] == "closed" and x["resolution"] == "licence_revoked"),
        "立案查处/移送": sum(1 for x in cases if x["status"] == "closed" and x["resolution"] in ("case_filed", "transferred_judicial")),
    }
    assert all(counts.values()), (counts, [(x["enterprise_name"], x["status"], x["overdue"], x["resolution"]) for x in cases])
    print("rectification cases per state:", counts)
    # overdue only by the sweep, on cases handed over (demo history) before their deadline passed
    for x in cases:
        if x["overdue"]:
            assert x["deadline"] < x["overdue_on"] and x["handed_over_on"] < x["deadline"], x
    # the revocation: proposed by the city, decided by a second (province) official, applied by the registry
    revoked = next(x for x in cases if x["resolution"] == "licence_revoked")
    outcome = next(o for o in _all(base, "/rectification/outcomes", P) if o["case_id"] == revoked["id"])
    assert outcome["status"] == "decided" and outcome["decided_by"] != outcome["proposed_by"], outcome
    ids = [lic["licence_id"] for lic in revoked["licences"] if lic.get("licence_id")]
    assert ids, revoked
    for i in ids:
        r = httpx.get(f"{base}/api/v1/registry/licences/{i}", headers=P, timeout=10)
        assert r.status_code == 200 and r.json()["status"] == "撤销", r.text
    # disclosure has the results of the cases closed by an outcome, with what the case now says
    closed = [x for x in cases if x["resolution"] in ("licence_revoked", "case_filed", "transferred_judicial")]
    deadline = time.monotonic() + 90
    while True:
        results = {r["record_id"]: r for r in _all(base, "/disclosure/results", P)}
        taken = [x for x in closed if (results.get(x["record_id"]) or {}).get("suggestion_source", "").startswith("rectification case")]
        if len(taken) == len(closed) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert len(taken) == len(closed), [(x["record_id"], results.get(x["record_id"])) for x in closed]
    for svc in ("rectification", "disclosure", "risk", "registry"):
        r = httpx.get(f"{base}/api/v1/{svc}/admin/parked", headers=P, timeout=10)
        assert r.status_code == 200 and r.json()["open"] == 0, (svc, r.text)
