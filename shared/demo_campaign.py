"""The demo campaign: once ``make run`` has every service up, one 2022 campaign is driven through
the gateway's public API, through each service's own code paths, so that the demo shows every
stage of the work (draws, teams, records, rectification, publication, risk).

Each service with a part in it provides ``services/<name>/demo_campaign.py`` with

    async def run(c: CampaignClient) -> str   # one line saying what it did

Steps run in ``shared.topology.FLOW_ORDER``. A step must be idempotent: it looks at what is already
there (``c.state`` survives in ``var/demo-campaign.json``, and the APIs can be asked) and does only
what is missing, so a second ``make run`` changes nothing. Steps talk HTTP only (never a database),
as the demo users would; a directory person without a gateway account (a team member, an
enterprise) gets a token minted with the demo signing key (demo mode only), as the gateway would
issue to that person's account.
"""
from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from .settings import DEMO_PASSWORD
from .topology import FLOW_ORDER, SERVICES

API = "/api/v1"


class CampaignError(RuntimeError):
    pass


class CampaignClient:
    """An HTTP client to the gateway with the demo identities and the campaign's saved state."""

    def __init__(self, client: httpx.AsyncClient, state_file: Path | None, private_pem: bytes | None,
                 issuer: str = "spotcheck-gateway", audience: str = "spotcheck", log: Callable[[str], None] = print):
        self.http = client
        self.state_file = state_file
        self.private_pem = private_pem
        self.issuer, self.audience = issuer, audience
        self.log = log
        self.state: dict[str, Any] = {}
        if state_file and state_file.exists():
            self.state = json.loads(state_file.read_text(encoding="utf-8"))
        self._logins: dict[str, dict] = {}

    def save(self) -> None:
        if self.state_file:
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.state, ensure_ascii=False, indent=1), encoding="utf-8")
            tmp.replace(self.state_file)

    # ------------------------------------------------------------ identities
    async def login(self, username: str) -> dict:
        """Headers of a demo account (password grant through the gateway)."""
        if username not in self._logins:
            r = await self.http.post("/auth/token", data={"grant_type": "password", "username": username, "password": DEMO_PASSWORD})
            if r.status_code != 200:
                raise CampaignError(f"演示账号 {username} 登录失败: {r.status_code} {r.text[:200]}")
            self._logins[username] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        return self._logins[username]

    def token(self, sub: str, roles: list[str], region: str, *, person_id: str | None = None, uscc: str | None = None,
              name: str | None = None, ttl: int = 600) -> dict:
        """Headers for a directory person or an enterprise without a demo login (demo signing key)."""
        if not self.private_pem:
            raise CampaignError("没有演示签名密钥：只能在演示模式下为名录人员签发令牌")
        from jose import jwt

        from .auth import region_level
        from .keys import public_jwk

        now = int(time.time())
        claims = {"sub": sub, "roles": roles, "region": region, "level": region_level(region), "iss": self.issuer,
                  "aud": self.audience, "iat": now, "exp": now + ttl, "jti": secrets.token_hex(8), "typ": "access"}
        if person_id:
            claims["person_id"] = person_id
        if uscc:
            claims["uscc"] = uscc
        if name:
            claims["name"] = name
        kid = public_jwk(self.private_pem)["kid"]
        return {"Authorization": f"Bearer {jwt.encode(claims, self.private_pem.decode(), algorithm='RS256', headers={'kid': kid})}"}

    def as_person(self, person_id: str, kind: str = "inspector", region: str = "140000", name: str | None = None) -> dict:
        return self.token(f"person:{person_id}", [kind], region, person_id=person_id, name=name)

    def as_enterprise(self, uscc: str, region: str) -> dict:
        return self.token(f"enterprise:{uscc}", ["enterprise"], region, uscc=uscc)

    # ------------------------------------------------------------ calls
    async def call(self, method: str, path: str, headers: dict, *, expect=(200, 201), **kw) -> httpx.Response:
        r = await self.http.request(method, API + path if path.startswith("/") and not path.startswith(API) else path, headers=headers, **kw)
        if expect and r.status_code not in expect:
            raise CampaignError(f"{method} {path} → {r.status_code}: {r.text[:500]}")
        return r

    async def get(self, path: str, headers: dict, **params) -> Any:
        return (await self.call("GET", path, headers, params=params)).json()

    async def post(self, path: str, headers: dict, body: Any = None, *, expect=(200, 201), **kw) -> Any:
        r = await self.call("POST", path, headers, json=body if body is not None else {}, expect=expect, **kw)
        return r.json() if r.content else None

    async def all(self, path: str, headers: dict, **params) -> list:
        items, cursor = [], None
        while True:
            page = await self.get(path, headers, **{**params, "limit": 500, **({"cursor": cursor} if cursor else {})})
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    async def eventually(self, check: Callable[[], Awaitable[Any]], what: str, timeout: float = 90, interval: float = 0.5) -> Any:
        """Await ``check()`` until truthy (events travel through JetStream between services)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await check()
            if value:
                return value
            await asyncio.sleep(interval)
        raise CampaignError(f"等待超时（{timeout:.0f} 秒）：{what}")


def steps() -> list[tuple[str, Callable[[CampaignClient], Awaitable[str]]]]:
    """The services' campaign steps present in this installation, in the order work flows."""
    found = []
    for name in FLOW_ORDER:
        pkg = SERVICES[name][0] if name in SERVICES else "services." + name
        try:
            if importlib.util.find_spec(pkg + ".demo_campaign") is None:
                continue
        except ModuleNotFoundError:
            continue
        found.append((name, importlib.import_module(pkg + ".demo_campaign").run))
    return found


async def run_campaign(base_url: str, var_dir: Path, *, transport: httpx.AsyncBaseTransport | None = None,
                       log: Callable[[str], None] = print, private_pem: bytes | None = None) -> dict[str, str]:
    """Run every step; returns {service: summary}. Raises CampaignError naming the step that failed."""
    if private_pem is None:
        pem_path = var_dir / "keys" / "jwt-private.pem"
        private_pem = pem_path.read_bytes() if pem_path.exists() else None
    out: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=base_url, transport=transport, timeout=120) as http:
        c = CampaignClient(http, var_dir / "demo-campaign.json", private_pem, log=log)
        for name, step in steps():
            try:
                summary = await step(c)
            except CampaignError:
                raise
            except Exception as exc:  # a step's bug names the step
                raise CampaignError(f"演示流程 {name} 步骤失败: {exc!r}") from exc
            finally:
                c.save()
            out[name] = summary
            log(f"  · {name}: {summary}")
    return out
