"""`spotcheck run` (what `make run` calls) from an empty data directory: every process comes up,
demo data loads, a city admin logs in at the gateway and sees only its city's enterprises, and
Ctrl-C stops everything (the ``demo_stack`` fixture's teardown checks the exit status: the stack
is shared with the browser and contract tests, see tests/conftest.py)."""
from __future__ import annotations

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
