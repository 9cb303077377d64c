"""Issue 7 point 14: every CSV the system writes neutralises cells a spreadsheet would run as
formulas; the JSON export stays exact and the offline verifier still reads it."""
from __future__ import annotations

import csv
import io
import json

from services.sampling.app import create_app
from services.sampling.population import StaticPopulation
from shared.auth import TokenVerifier
from shared.cli import main as spotcheck
from shared.migrations import upgrade_async
from shared.settings import settings_for
from shared.spreadsheet import FORMULA_TRIGGERS, safe_cell
from tests.helpers import running
from tests.sampling import population
from tests.sampling.test_draws import approved_plan, h

EVIL = ["=HYPERLINK(\"http://evil\",\"点此\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1+1"]
SEED = "31415926535897932384626"


def test_safe_cell_rule():
    assert [safe_cell(x) for x in EVIL] == ["'" + x for x in EVIL]
    assert safe_cell("山西测试企业") == "山西测试企业" and safe_cell(-5) == -5 and safe_cell(None) is None
    assert safe_cell("") == "" and safe_cell("a=b") == "a=b"


async def test_draw_csv_export_neutralises_formulas_json_exact(databases, nats_url, events_prefix, keys, tmp_path):
    ents = population.enterprises(60)
    for i, e in enumerate(ents):  # every enterprise's name is an attack, so the drawn ones are too
        e["name"] = EVIL[i % len(EVIL)]
    url = await databases.create("sampling")
    await upgrade_async("services.sampling", url)
    app = create_app(
        settings_for("sampling", database_url=url, nats_url=nats_url, events_prefix=events_prefix),
        population_source=StaticPopulation(ents, population.people()),
        verifier=TokenVerifier("spotcheck-gateway", "spotcheck", jwks=keys.jwks),
    )
    async with running(app) as c:
        plan = await approved_plan(c, keys)
        r = await c.post("/draws", json={"plan_id": plan["id"], "kind": "enterprise"}, headers=h(keys))
        did = r.json()["id"]
        assert (await c.post(f"/draws/{did}/freeze", headers=h(keys))).status_code == 200
        r = await c.post(f"/draws/{did}/seed", json={"seed": SEED, "beacon": "=WEBSERVICE(\"http://x\")"}, headers=h(keys, sub="official-a"))
        assert r.status_code == 200, r.text
        assert (await c.post(f"/draws/{did}/seed/confirm", json={"seed": SEED}, headers=h(keys, sub="official-b"))).status_code == 200
        assert (await c.post(f"/draws/{did}/commit", headers=h(keys))).status_code == 200
        j = await c.get(f"/draws/{did}/export", params={"format": "json"}, headers=h(keys))
        v = await c.get(f"/draws/{did}/export", params={"format": "csv"}, headers=h(keys))
    assert j.status_code == 200 and v.status_code == 200
    cells = [cell for row in csv.reader(io.StringIO(v.content.decode())) for cell in row]
    offending = [x for x in cells if x.startswith(FORMULA_TRIGGERS)]
    assert offending == []
    assert "'" + EVIL[0] in cells and "'=WEBSERVICE(\"http://x\")" in cells
    # the JSON export keeps the exact names and beacon, and verifies offline
    doc = json.loads(j.content)
    assert doc["beacon"] == "=WEBSERVICE(\"http://x\")"
    assert {u["data"]["name"] for u in doc["population"]} == set(EVIL)
    path = tmp_path / "draw.json"
    path.write_bytes(j.content)
    assert spotcheck(["verify-draw", str(path)]) == 0
