"""Production mode: a private key file is required, demo accounts are never seeded and an
instance still holding demo secrets refuses to start; the first province administrator comes
from ``spotcheck create-user``."""
from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from gateway.app import create_app
from gateway.settings import gateway_settings
from shared.cli import main as spotcheck
from shared.keys import generate_private_pem
from shared.migrations import upgrade_async
from tests.gateway.conftest import auth_headers
from tests.helpers import running


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "jwt.pem"
    path.write_bytes(generate_private_pem())
    return str(path)


async def test_production_requires_a_private_key_and_refuses_demo_seeding(databases, key_file, tmp_path):
    url = await databases.create("gwprod")
    with pytest.raises(ValidationError, match="private_key_file"):
        gateway_settings(mode="production", database_url=url)
    with pytest.raises(ValidationError, match="文件不存在"):
        gateway_settings(mode="production", database_url=url, private_key_file=str(tmp_path / "missing.pem"))
    settings = gateway_settings(mode="production", database_url=url, private_key_file=key_file)
    with pytest.raises(RuntimeError):
        create_app(settings, seed=True)


async def test_production_refuses_to_start_with_demo_secrets(databases, nats_url, events_prefix, key_file, keys):
    url = await databases.create("gwprod")
    await upgrade_async("gateway", url)
    demo = create_app(gateway_settings(database_url=url, nats_url=nats_url, events_prefix=events_prefix), private_pem=keys.private_pem)
    async with running(demo):
        pass  # seeds the demo accounts
    prod = create_app(gateway_settings(mode="production", database_url=url, nats_url=nats_url, events_prefix=events_prefix,
                                       private_key_file=key_file))
    with pytest.raises(RuntimeError, match="演示口令"):
        async with running(prod):
            pass


async def test_bootstrap_admin_by_cli_then_production_rules(databases, nats_url, events_prefix, key_file, monkeypatch):
    url = await databases.create("gwprod")
    monkeypatch.setenv("SPOTCHECK_GATEWAY_DATABASE_URL", url)
    monkeypatch.setenv("BOOT_PW", "Pr0vince-admin-pw")
    assert await asyncio.to_thread(spotcheck, ["migrate", "gateway"]) == 0
    assert await asyncio.to_thread(spotcheck, ["create-user", "--username", "sheng_admin", "--name", "省局管理员", "--role", "province_admin",
                      "--region", "140000", "--password-env", "BOOT_PW"]) == 0
    assert await asyncio.to_thread(spotcheck, ["create-user", "--username", "sheng_admin", "--name", "重复", "--role", "province_admin",
                      "--region", "140000", "--password-env", "BOOT_PW"]) == 1
    assert await asyncio.to_thread(spotcheck, ["create-user", "--username", "wrong_level", "--name", "错级", "--role", "city_admin",
                      "--region", "140000", "--password-env", "BOOT_PW"]) == 2

    settings = gateway_settings(mode="production", database_url=url, nats_url=nats_url, events_prefix=events_prefix,
                                private_key_file=key_file)
    async with running(create_app(settings)) as client:
        demo_login = await client.post("/auth/token", data={"grant_type": "password", "username": "demo_province", "password": "spotcheck-demo"})
        assert demo_login.status_code == 400
        admin = await auth_headers(client, "sheng_admin", "Pr0vince-admin-pw")
        weak = await client.post("/admin/users", headers=admin, json={
            "username": "new_user", "display_name": "新用户", "roles": ["inspector"], "region_code": "140100", "password": "spotcheck-demo"})
        assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "password"
        audit = (await client.get("/audit", headers=admin)).json()["items"]
        assert audit[0]["actor"] == "cli" and audit[0]["action"] == "user.create"
