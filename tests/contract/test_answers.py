"""The opt-in answer checker (tests/contract/answers.py) notices a body or a status the document does not promise."""
from __future__ import annotations

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from shared.contract import install_openapi, op
from tests.contract.answers import check


class Thing(BaseModel):
    id: str
    size: int


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/things/{tid}", **op(Thing))
    async def thing(tid: str):
        return {"id": tid, "size": "big"} if tid == "bad" else {"id": tid, "size": 3}

    @app.post("/things", **op(Thing, status=201))
    async def make():
        from fastapi.responses import JSONResponse

        return JSONResponse({"id": "x", "size": 1}, status_code=202)

    install_openapi(app)
    return app


async def test_checker_flags_wrong_bodies_and_undocumented_statuses():
    app = _app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        good = await client.get("/things/a")
        bad = await client.get("/things/bad")
        odd = await client.post("/things")
    assert check(app, "get", "/things/a", good) == []
    found = check(app, "get", "/things/bad", bad)
    assert len(found) == 1 and found[0].startswith("GET /things/{tid} → 200: size:")
    assert check(app, "post", "/things", odd) == ["POST /things → 202: status not documented"]
