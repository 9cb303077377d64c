"""Issue 7 points 4 and 5, as decided in docs/architecture.md (threat model):
- a conflict of interest (回避) belongs to the person: whoever covers the person (or the person)
  declares it against any valid USCC, wherever the enterprise is, without the registry saying
  whether that USCC is registered; it is visible to those covering the person, not to the
  enterprise's region (the draws apply every conflict; who avoids whom is the person's data);
- registering a USCC already registered elsewhere is refused with the same neutral 409 as in
  one's own region, naming nothing of the other record, which stays 404."""
from __future__ import annotations

from services.registry.app import create_app
from shared.auth import TokenVerifier
from shared.migrations import upgrade_async
from shared.settings import settings_for
from tests.helpers import running
from tests.registry.conftest import enterprise_body, make_uscc


async def test_conflict_and_existence_policy(databases, nats_url, events_prefix, keys):
    url = await databases.create("registry")
    await upgrade_async("services.registry", url)
    app = create_app(settings_for("registry", database_url=url, nats_url=nats_url, events_prefix=events_prefix),
                     verifier=TokenVerifier("spotcheck-gateway", "spotcheck", jwks=keys.jwks))
    prov = keys.headers(sub="prov", roles=("province_admin",), region="140000")
    taiyuan = keys.headers(sub="ty", roles=("city_admin",), region="140100")
    datong = keys.headers(sub="dt", roles=("city_admin",), region="140200")
    async with running(app) as c:
        r = await c.post("/inspectors", json={"id": "insp-0801", "name": "太原人员", "level": "city", "region_code": "140100",
                                              "organisation": "太原市市场监督管理局"}, headers=prov)
        assert r.status_code == 201, r.text
        dt_ent = (await c.post("/enterprises", json=enterprise_body("140212", name="大同某某机密企业有限公司"), headers=prov)).json()

        # 4. Taiyuan declares its own person's conflict with a Datong enterprise: allowed
        r = await c.post("/conflicts", json={"person_id": "insp-0801", "uscc": dt_ent["uscc"], "reason": "配偶在该企业任职"}, headers=taiyuan)
        assert r.status_code == 201, r.text
        # ... and with a USCC nobody registered: the same answer (no existence oracle)
        r = await c.post("/conflicts", json={"person_id": "insp-0801", "uscc": make_uscc("140212"), "reason": "亲属拟入职"}, headers=taiyuan)
        assert r.status_code == 201, r.text
        # visible to those covering the person, not to the enterprise's city
        assert len((await c.get("/conflicts", headers=taiyuan)).json()["items"]) == 2
        assert (await c.get("/conflicts", headers=datong)).json()["items"] == []
        assert len((await c.get("/conflicts", headers=prov, params={"uscc": dt_ent["uscc"]})).json()["items"]) == 1
        # Datong cannot declare or withdraw for Taiyuan's person
        r = await c.post("/conflicts", json={"person_id": "insp-0801", "uscc": dt_ent["uscc"], "reason": "x"}, headers=datong)
        assert r.status_code == 404

        # 5. the same neutral refusal whether the USCC is registered here or elsewhere
        own = (await c.post("/enterprises", json=enterprise_body("140105"), headers=prov)).json()
        here = await c.post("/enterprises", json=enterprise_body("140105", uscc=own["uscc"]), headers=taiyuan)
        there = await c.post("/enterprises", json=enterprise_body("140105", uscc=dt_ent["uscc"]), headers=taiyuan)
        assert here.status_code == there.status_code == 409
        strip = lambda b: {k: v for k, v in b.items() if k not in ("request_id", "errors", "detail")}  # noqa: E731
        assert strip(here.json()) == strip(there.json())
        assert "机密" not in there.text and "region_code" not in there.text
        assert (await c.get(f"/enterprises/{dt_ent['uscc']}", headers=taiyuan)).status_code == 404
        # and in an import report
        csv_text = ",".join(["企业名称", "统一社会信用代码", "所在地区代码", "地址", "许可证编号", "产品类别", "发证日期"]) + "\n" + \
            f"山西测试,{dt_ent['uscc']},140105,太原某路1号,(晋)XK05-901-99991,rebar,2021-01-01\n"
        r = await c.post("/imports/enterprises", headers=taiyuan, files={"file": ("e.csv", csv_text.encode())})
        assert r.status_code == 422
        assert "机密" not in r.text and "大同" not in r.text
