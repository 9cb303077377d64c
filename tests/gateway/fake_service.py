"""A small service built on the real service frame, to stand behind the gateway in tests."""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from pydantic import BaseModel

from shared.auth import PrincipalDep, TokenVerifier
from shared.db import new_metadata
from shared.service import create_service_app
from shared.settings import settings_for
from shared.tables import KernelTables


class Thing(BaseModel):
    name: str
    size: int = 1


def fake_service(name: str, jwks: dict, database_url: str):
    router = APIRouter()

    @router.get("/whoami", tags=["身份"])
    async def whoami(principal: PrincipalDep):
        return {"sub": principal.sub, "roles": list(principal.roles), "region": principal.region}

    async def echo(rest: str, request: Request):
        body = await request.body()
        headers = {k: v for k, v in request.headers.items()}
        return {
            "method": request.method, "path": request.url.path, "query": request.url.query,
            "headers": headers, "body_len": len(body), "body_head": body[:64].decode("latin-1"),
            "request_id": getattr(request.state, "request_id", None),
        }

    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):  # one route per method: distinct operation ids
        router.add_api_route("/echo/{rest:path}", echo, methods=[method], tags=["回显"], operation_id=f"echo_{method.lower()}")

    @router.post("/things", status_code=201, tags=["物品"])
    async def create_thing(thing: Thing) -> Thing:
        return thing

    @router.get("/cookie")
    async def cookie():
        from fastapi.responses import JSONResponse

        resp = JSONResponse({"ok": True}, headers={"ETag": '"v7"'})
        resp.set_cookie("upstream", "secret-of-one-caller")
        return resp

    @router.get("/slow")
    async def slow():
        await asyncio.sleep(30)
        return {"late": True}

    settings = settings_for(name, database_url=database_url)
    return create_service_app(
        name, f"测试服务 {name}", settings, KernelTables(new_metadata()), routers=[router],
        verifier=TokenVerifier("spotcheck-gateway", "spotcheck", jwks=jwks), start_background=False,
    )
