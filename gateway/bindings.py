"""Checks of an account's binding to a directory person (inspector/expert) or to an enterprise
(统一社会信用代码) against the registry, made with the *creator's* token.

The gateway has no registry database. It asks the registry's own API, presenting the token of
the administrator creating (or changing) the account: the registry answers a person or an
enterprise only when it lies in that administrator's jurisdiction (its queries are scoped in
SQL; anything else is a 404), so a city administrator cannot bind an account to a provincial
leader, another city's inspector or another city's enterprise. The answer also gives the
person's kind and region, which must agree with the account: the person's kind is one of the
account's roles, and the person or enterprise lies inside the account's own region.

Fail closed: when the registry cannot be asked, the account is not created (503)."""
from __future__ import annotations

import logging
from urllib.parse import quote

import httpx
from fastapi import Request

from shared.auth import bearer_token, region_covers
from shared.errors import Problem

log = logging.getLogger("spotcheck.gateway.bindings")

NOT_FOUND = {
    "person_id": "人员不存在或不在您的管辖范围内",
    "uscc": "企业不存在或不在您的管辖范围内",
}


def _refuse(field: str, message: str) -> Problem:
    return Problem(422, "binding-invalid", "账号绑定无效", detail=f"{field}: {message}", errors=[{"field": field, "message": message}])


async def _fetch(request: Request, path: str, field: str) -> dict:
    upstreams = request.app.state.upstreams
    token = bearer_token(request)
    try:
        resp = await upstreams.client.get(
            upstreams.base("registry") + path,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
    except httpx.HTTPError as exc:
        log.warning("binding check: registry unreachable: %s", exc)
        raise Problem(503, "binding-unverifiable", "暂时无法核验账号绑定", detail="名录库服务暂不可用，未创建或修改账号，请稍后再试",
                      headers={"Retry-After": "5"}) from None
    if resp.status_code in (403, 404):
        raise _refuse(field, NOT_FOUND[field])
    if resp.status_code != 200:
        log.warning("binding check: registry answered %s for %s", resp.status_code, path)
        raise Problem(503, "binding-unverifiable", "暂时无法核验账号绑定", detail="名录库服务未能确认绑定，未创建或修改账号，请稍后再试")
    try:
        return resp.json()
    except ValueError:
        raise Problem(503, "binding-unverifiable", "暂时无法核验账号绑定") from None


async def check_bindings(request: Request, roles: list[str], region_code: str, uscc: str | None, person_id: str | None) -> None:
    """Raise unless every binding of the account lies in the caller's and the account's region."""
    if person_id:
        kind = "expert" if person_id.startswith("exp-") else "inspector"
        if kind not in roles:
            raise _refuse("person_id", f"人员编号 {person_id} 与账号角色不符")
        person = await _fetch(request, f"/{kind}s/{quote(person_id, safe='')}", "person_id")
        if person.get("kind", kind) != kind:
            raise _refuse("person_id", NOT_FOUND["person_id"])
        if not region_covers(region_code, str(person.get("region_code") or "")):
            raise _refuse("region_code", "账号所属区划应覆盖所绑定人员的所在地区")
    if uscc:
        enterprise = await _fetch(request, f"/enterprises/{quote(uscc, safe='')}", "uscc")
        if not region_covers(region_code, str(enterprise.get("region_code") or "")):
            raise _refuse("region_code", "账号所属区划应覆盖所绑定企业的所在地区")
