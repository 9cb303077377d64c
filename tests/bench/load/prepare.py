"""What the busiest day works on, made through the stack's own API after the demo campaign:
tokens of bureaus and team members, inspection records opened for many tasks (so inspectors do
not all write one record), evidence photos, the public paths. Written to the JSON file the
locustfile reads (``SPOTCHECK_LOAD_DATA``)."""
from __future__ import annotations

import base64
from pathlib import Path

import httpx

from shared.demo_campaign import CampaignClient, run_campaign
from shared.topology import enabled_services

TOKEN_TTL = 900  # the longest the services accept; a run is shorter


async def prepare(gateway: str, var: Path, records: int = 24) -> dict:
    await run_campaign(gateway, var, log=lambda m: None)
    async with httpx.AsyncClient(base_url=gateway, timeout=120) as http:
        c = CampaignClient(http, var / "demo-campaign.json", (var / "keys" / "jwt-private.pem").read_bytes(), log=lambda m: None)
        P = await c.login("demo_province")
        data: dict = {"province_token": P["Authorization"].split()[1]}
        services = set(enabled_services())
        if "scheduling" in services:
            tasks = await c.all("/scheduling/tasks", P)
            bureaus = sorted({(t.get("county_code") or t["city_code"]) for t in tasks})
            data["bureau_tokens"] = [
                c.token(f"bureau:{b}", ["city_admin" if b.endswith("00") else "county_admin"], b, ttl=TOKEN_TTL)["Authorization"].split()[1]
                for b in bureaus[:20]]
        else:
            data["bureau_tokens"] = [data["province_token"]]
        sp = c.state.get("sampling", {})
        if sp.get("enterprise_draw_id"):
            data["public_draw_path"] = f"/api/v1/sampling/public/draws/{sp['enterprise_draw_id']}"
        if "disclosure" in services:
            data["public_results_path"] = "/api/v1/disclosure/public/results"
        if "inspection" in services:
            data["records"] = await _open_records(c, P, records)
            from services.inspection.demo_campaign import photo_jpeg

            data["photos"] = [base64.b64encode(photo_jpeg(f"现场照片 {i}")).decode() for i in range(16)]
    return data


async def _open_records(c: CampaignClient, P: dict, wanted: int) -> list[dict]:
    """Records open for entry: the demo's, then one per task without a record, as each team's leader."""
    from services.inspection.demo_campaign import _record, _Team

    tasks = [t for t in await c.all("/inspection/tasks", P) if t["status"] != "cancelled"]
    teams: dict[str, _Team] = {}
    out = []
    for t in sorted(tasks, key=lambda t: (t["record"] is None, t["id"])):
        if len(out) >= wanted:
            break
        if t["record"] and t["record"]["state"] != "open":
            continue
        if t["team_id"] not in teams:
            teams[t["team_id"]] = _Team(c, (await c.get(f"/inspection/teams/{t['team_id']}/report", P))["members"])
        team = teams[t["team_id"]]
        try:
            rec = await _record(c, team, t)
        except Exception:  # noqa: BLE001 - a task the demo cannot open (visit rules): take the next
            continue
        if rec.get("state") != "open":
            continue
        leader = team.leader
        token = c.as_person(leader["person_id"], "inspector", name=leader.get("name"))["Authorization"].split()[1]
        codes = [i["code"] for i in rec["items"] if not i.get("preset")]
        out.append({"token": token, "path": f"/api/v1/inspection/records/{rec['id']}",
                    "item_path": f"/api/v1/inspection/records/{rec['id']}/items/{{code}}", "codes": codes,
                    "evidence_path": f"/api/v1/inspection/records/{rec['id']}/evidence/upload"})
    return out
