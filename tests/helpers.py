"""Helpers shared by the tests (imported from conftest and from test modules)."""
from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from jose import jwt

from shared.keys import generate_private_pem, public_jwk

ISSUER, AUDIENCE = "spotcheck-gateway", "spotcheck"


# ---------------------------------------------------------------- tokens
class Keys:
    def __init__(self, tmp: Path):
        self.private_pem = generate_private_pem()
        self.jwk = public_jwk(self.private_pem)
        self.jwks = {"keys": [self.jwk]}
        self.jwks_file = tmp / "jwks.json"
        self.jwks_file.write_text(json.dumps(self.jwks))

    def mint(self, sub="tester", roles=("province_admin",), region="140000", level=None, ttl=600, **extra) -> str:
        from shared.auth import region_level

        now = int(time.time())
        claims = {
            "sub": sub, "roles": list(roles), "region": region, "level": level or region_level(region),
            "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + ttl, "jti": secrets.token_hex(8), "typ": "access",
        }
        claims.update(extra)
        return jwt.encode(claims, self.private_pem.decode(), algorithm="RS256", headers={"kid": self.jwk["kid"]})

    def headers(self, **kw) -> dict:
        return {"Authorization": f"Bearer {self.mint(**kw)}"}


# ---------------------------------------------------------------- apps
@asynccontextmanager
async def running(app, base_url="http://test"):
    """Run an app's lifespan and give an httpx client talking to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


async def eventually(check, timeout=15.0, interval=0.1):
    """Await ``check()`` until it returns truthy; return that value or fail."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


# ---------------------------------------------------------------- processes
class ProcessOutput:
    """Collects a process's output in a thread, so the test can wait for a line."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._pump, args=(proc,), daemon=True)
        self.thread.start()

    def _pump(self, proc):
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, proc: subprocess.Popen, needle: str, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(needle in line for line in self.lines):
                return list(self.lines)
            if proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"'{needle}' not printed; output so far:\n" + "\n".join(self.lines))
