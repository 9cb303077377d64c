"""Two updates of one resource with the same If-Match, at the same moment: exactly one wins, the
other gets 412 — on SQLite too, where a transaction's reads used to run outside it until its first
write (so both read version N, both passed the check, and the second overwrote the first)."""
from __future__ import annotations

import asyncio

from tests.gateway.conftest import auth_headers


async def test_concurrent_updates_with_one_etag_one_wins(gw):
    prov = await auth_headers(gw.client, "demo_province")
    users = (await gw.client.get("/admin/users", headers=prov, params={"limit": 50})).json()["items"]
    target = next(u for u in users if u["username"] == "demo_xiaodian")
    got = await gw.client.get(f"/admin/users/{target['id']}", headers=prov)
    etag = got.headers["etag"]
    for rnd in range(5):
        answers = await asyncio.gather(*(
            gw.client.patch(f"/admin/users/{target['id']}", headers={**prov, "If-Match": etag},
                            json={"display_name": f"并发改名 {rnd}-{i}"})
            for i in range(4)))
        codes = sorted(a.status_code for a in answers)
        assert codes == [200, 412, 412, 412], codes
        etag = next(a for a in answers if a.status_code == 200).headers["etag"]
