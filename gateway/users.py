"""People's accounts: who may manage whom (rank and jurisdiction), queries scoped in SQL, and
every change written with its audit entry and event in one transaction."""
from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from stdnum.cn import uscc as uscc_check

from shared.auth import PROVINCE_CODE, ROLES, Principal, region_covers, region_level, region_prefix
from shared.db import first_or_404, utcnow
from shared.errors import Problem, field_error
from shared.pagination import PageParams, keyset, page_of
from shared.service import ServiceContext

from .models import User, UserRole
from .passwords import check_password_policy, generate_secret, hash_secret_async
from .schemas import UserCreate, UserPatch
from .tokens import revoke_user_tokens

ADMIN_ROLES = ("province_admin", "city_admin", "county_admin")
ADMIN_RANK = {"province_admin": 3, "city_admin": 2, "county_admin": 1}
MACHINE_ROLES = ("gov_client", "credit_system")
PERSON_ROLES = tuple(r for r in ROLES if r not in MACHINE_ROLES)
# roles only the province administration grants or manages: 纪检 watches the administrations; inspectors and
# experts are people of the province's directory (执法检查人员名录库), and a bureau that could create, rebind,
# reset or reactivate their accounts could log in as a member of any team one of its people sits on
# (a regression audit did: a county admin read and could write another city's team records)
PROVINCE_ONLY_ROLES = ("discipline", "province_admin", "inspector", "expert")
# an administrator role belongs to an administration of the same level
ADMIN_LEVEL = {"province_admin": "province", "city_admin": "city", "county_admin": "county"}


def rank(roles) -> int:
    return max((ADMIN_RANK.get(r, 0) for r in roles), default=0)


def same_rank_admin(own: int, target_roles) -> bool:
    """A city or county administrator account of the actor's own rank: created and managed (password
    reset, reactivation) only from the level above, or one official could hold a second account and
    be both pairs of eyes of a review. The province administration has no level above it: province
    administrators stay the province's (a bureau decision: see the threat model)."""
    target = rank(target_roles)
    return 0 < target == own < ADMIN_RANK["province_admin"]


def validate_identity_fields(roles: list[str], region_code: str, uscc: str | None, person_id: str | None, prefix: str = "") -> None:
    """Rules that hold whoever creates the account (also the bootstrap CLI)."""
    errors = []
    for i, role in enumerate(roles):
        if role in MACHINE_ROLES:
            errors.append({"field": f"{prefix}roles.{i}", "message": f"{ROLES[role]}角色只能授予机器客户端"})
        elif role not in ROLES:
            errors.append({"field": f"{prefix}roles.{i}", "message": f"未知角色 {role}"})
    if len(set(roles)) != len(roles):
        errors.append({"field": f"{prefix}roles", "message": "角色重复"})
    if not region_covers(PROVINCE_CODE, region_code):
        errors.append({"field": f"{prefix}region_code", "message": "行政区划代码不在本省范围内"})
    level = region_level(region_code)
    for role in roles:
        if role in ADMIN_LEVEL and ADMIN_LEVEL[role] != level:
            errors.append({"field": f"{prefix}region_code", "message": f"{ROLES[role]}的所属区划应为{ {'province': '省', 'city': '市', 'county': '县'}[ADMIN_LEVEL[role]] }级"})
    if "enterprise" in roles:
        if not uscc:
            errors.append({"field": f"{prefix}uscc", "message": "企业账号必须填写统一社会信用代码"})
        elif not uscc_check.is_valid(uscc):
            errors.append({"field": f"{prefix}uscc", "message": "统一社会信用代码格式或校验位错误"})
    elif uscc:
        errors.append({"field": f"{prefix}uscc", "message": "只有企业账号可以绑定统一社会信用代码"})
    if person_id and not {"inspector", "expert"} & set(roles):
        errors.append({"field": f"{prefix}person_id", "message": "只有执法人员或技术专家账号可以绑定人员编号"})
    if errors:
        raise Problem(422, "validation", detail="；".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)


def check_may_grant(actor: Principal, roles: list[str], region_code: str) -> None:
    """Nobody grants a role ranking above their own, nor a region outside their own."""
    own = rank(actor.roles)
    for i, role in enumerate(roles):
        if role in PROVINCE_ONLY_ROLES and not actor.has("province_admin"):
            raise Problem(403, "role-province-only", "该角色只能由省局授予",
                          detail=f"{ROLES.get(role, role)}账号只能由省局管理员创建",
                          errors=[{"field": f"roles.{i}", "message": f"不能授予{ROLES.get(role, role)}"}])
        if ADMIN_RANK.get(role, 0) > own:
            raise Problem(403, "role-above-own", "不能授予高于本人的角色",
                          detail=f"您不能授予{ROLES.get(role, role)}角色",
                          errors=[{"field": f"roles.{i}", "message": f"不能授予{ROLES.get(role, role)}"}])
        if same_rank_admin(own, [role]):
            raise Problem(403, "role-same-rank", "同级管理员账号由上级创建",
                          detail=f"{ROLES.get(role, role)}账号由上一级管理员创建：同级账号若由本人创建，"
                                 "录入与审核等“另一名工作人员”的复核就可能出自同一人",
                          errors=[{"field": f"roles.{i}", "message": f"不能授予{ROLES.get(role, role)}"}])
    if not actor.covers(region_code):
        raise Problem(403, "out-of-jurisdiction", "超出管辖范围",
                      detail=f"区划 {region_code} 不在您的管辖范围内",
                      errors=[{"field": "region_code", "message": "不在您的管辖范围内"}])


def user_view(user: User, roles: list[str]) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "roles": sorted(roles),
        "region_code": user.region_code,
        "level": user.level,
        "organisation": user.organisation,
        "uscc": user.uscc,
        "person_id": user.person_id,
        "active": user.active,
        "version": user.version,
        "created_at": user.created_at.isoformat(),
        "updated_at": user.updated_at.isoformat(),
    }


async def roles_of(session: AsyncSession, user_ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {uid: [] for uid in user_ids}
    if user_ids:
        rows = (await session.execute(select(UserRole.user_id, UserRole.role).where(UserRole.user_id.in_(user_ids)))).all()
        for uid, role in rows:
            out[uid].append(role)
    return out


def _scoped(actor: Principal):
    return select(User).where(User.region_code.startswith(actor.prefix, autoescape=True))


async def list_users(session: AsyncSession, actor: Principal, params: PageParams, *, role: str | None = None,
                     region: str | None = None, active: bool | None = None, q: str | None = None) -> dict:
    query = _scoped(actor)
    if region:
        query = query.where(User.region_code.startswith(region_prefix(region), autoescape=True))
    if role:
        query = query.where(User.id.in_(select(UserRole.user_id).where(UserRole.role == role)))
    if active is not None:
        query = query.where(User.active.is_(active))
    if q:
        query = query.where(or_(User.username.icontains(q, autoescape=True), User.display_name.icontains(q, autoescape=True)))
    rows = list((await session.execute(keyset(query, [User.username], params))).scalars())
    page = page_of(rows, params, lambda u: [u.username])
    users = page["rows"]
    roles = await roles_of(session, [u.id for u in users])
    return {"items": [user_view(u, roles[u.id]) for u in users], "next_cursor": page["next_cursor"], "limit": params.limit}


async def get_visible(session: AsyncSession, actor: Principal, user_id: str, *, for_update: bool = False) -> tuple[User, list[str]]:
    """The user if it lies in the actor's jurisdiction, else 404 (existence is not revealed)."""
    query = _scoped(actor).where(User.id == user_id)
    user = (await first_or_404(session, query, "用户", user_id, for_update=for_update))[0]
    return user, (await roles_of(session, [user.id]))[user.id]


def _check_may_manage(actor: Principal, target_roles: list[str]) -> None:
    if rank(target_roles) > rank(actor.roles):
        raise Problem(403, "role-above-own", "不能管理高于本人角色的账号")
    if same_rank_admin(rank(actor.roles), target_roles):
        raise Problem(403, "role-same-rank", "同级管理员账号由上级管理", detail="市、县局管理员账号的修改、停用、重置密码由上一级管理员办理")
    if set(PROVINCE_ONLY_ROLES) & set(target_roles) and not actor.has("province_admin"):
        raise Problem(403, "role-province-only", "该账号只能由省局管理", detail="驻局纪检监察组、省局及执法人员、技术专家账号只能由省局管理员管理")


async def username_taken(session: AsyncSession, username: str) -> bool:
    """A username is a token's subject: taken by a user or by a machine client (one namespace, or a
    county admin could create a user named like the credit system's client and, deactivating it,
    revoke the client's tokens; audit actors and four-eyes comparisons would mix the two too)."""
    from .models import MachineClient

    if (await session.execute(select(User.id).where(User.username == username))).first() is not None:
        return True
    return (await session.execute(select(MachineClient.client_id).where(MachineClient.client_id == username))).first() is not None


async def check_person_free(session: AsyncSession, person_id: str | None, except_user: str | None = None) -> None:
    """One working account per directory person: a second active account bound to the same inspector
    or expert would let whoever holds it open, fill and sign that person's team records."""
    if not person_id:
        return
    q = select(User.id).where(User.person_id == person_id, User.active.is_(True))
    if except_user is not None:
        q = q.where(User.id != except_user)
    if (await session.execute(q)).first() is not None:
        raise Problem(409, "person-has-account", "该人员已有在用账号",
                      detail="一名执法人员或技术专家只能有一个在用账号；如需更换，请先停用原账号",
                      errors=[{"field": "person_id", "message": "该人员编号已绑定在用账号"}])


async def insert_user(session: AsyncSession, body: UserCreate, password: str, created_by: str) -> tuple[User, list[str]]:
    now = utcnow()
    user = User(
        username=body.username, password_hash=await hash_secret_async(password), display_name=body.display_name,
        region_code=body.region_code, level=region_level(body.region_code), organisation=body.organisation,
        uscc=body.uscc, person_id=body.person_id, created_by=created_by, created_at=now, updated_at=now,
        password_changed_at=now,
    )
    session.add(user)
    await session.flush()
    for role in body.roles:
        session.add(UserRole(user_id=user.id, role=role))
    await session.flush()
    return user, list(body.roles)


async def create_user(ctx: ServiceContext, session: AsyncSession, actor: Principal, body: UserCreate, request_id: str | None) -> tuple[dict, str | None]:
    """Returns the new user's view and the generated password (None if the caller chose one)."""
    validate_identity_fields(body.roles, body.region_code, body.uscc, body.person_id)
    check_may_grant(actor, body.roles, body.region_code)
    generated = None
    if body.password is None:
        generated = generate_secret()
    else:
        check_password_policy(body.password, body.username, ctx.settings.production)
    if await username_taken(session, body.username):
        raise Problem(409, "username-taken", "用户名已存在", errors=[{"field": "username", "message": "用户名已被使用"}])
    await check_person_free(session, body.person_id)
    user, roles = await insert_user(session, body, generated or body.password, actor.sub)
    view = user_view(user, roles)
    await ctx.audit(session, actor, "user.create", "user", user.id, after=view, request_id=request_id)
    await ctx.emit(session, "user", "created", view, subject_id=user.id, request_id=request_id, actor=actor.sub)
    return view, generated


async def patch_user(ctx: ServiceContext, session: AsyncSession, actor: Principal, user: User, roles: list[str], body: UserPatch, request_id: str | None) -> dict:
    _check_may_manage(actor, roles)
    before = user_view(user, roles)
    changes = body.model_dump(exclude_unset=True)
    for key in ("display_name", "roles", "region_code"):
        if key in changes and changes[key] is None:
            raise field_error(key, "不能为空")
    new_roles = changes.get("roles", roles)
    new_region = changes.get("region_code", user.region_code)
    new_uscc = changes.get("uscc", user.uscc)
    new_person = changes.get("person_id", user.person_id)
    if user.username == actor.sub and ("roles" in changes or "region_code" in changes):
        raise Problem(403, "self-change", "不能修改本人的角色或区划")
    validate_identity_fields(new_roles, new_region, new_uscc, new_person)
    check_may_grant(actor, new_roles, new_region)
    if new_person != user.person_id and user.active:
        await check_person_free(session, new_person, except_user=user.id)
    for key in ("display_name", "organisation", "uscc", "person_id", "region_code"):
        if key in changes:
            setattr(user, key, changes[key])
    user.level = region_level(user.region_code)
    if "roles" in changes and sorted(new_roles) != sorted(roles):
        await session.execute(delete(UserRole).where(UserRole.user_id == user.id))
        for role in new_roles:
            session.add(UserRole(user_id=user.id, role=role))
        roles = list(new_roles)
    user.version += 1
    user.updated_at = utcnow()
    session.add(user)
    await session.flush()
    after = user_view(user, roles)
    await ctx.audit(session, actor, "user.update", "user", user.id, before=before, after=after,
                    detail={"fields": sorted(changes)}, request_id=request_id)
    await ctx.emit(session, "user", "updated", after, subject_id=user.id, request_id=request_id, actor=actor.sub)
    return after


async def set_active(ctx: ServiceContext, session: AsyncSession, actor: Principal, user: User, roles: list[str], active: bool, request_id: str | None) -> dict:
    _check_may_manage(actor, roles)
    if user.username == actor.sub and not active:
        raise Problem(403, "self-change", "不能停用本人账号")
    before = user_view(user, roles)
    if active and not user.active:  # reactivating: the person may have a new account meanwhile
        await check_person_free(session, user.person_id, except_user=user.id)
    if user.active != active:
        user.active = active
        user.version += 1
        user.updated_at = utcnow()
        session.add(user)
        if not active:
            await revoke_user_tokens(session, user.id, "user deactivated")
        await session.flush()
        after = user_view(user, roles)
        verb = "activated" if active else "deactivated"
        await ctx.audit(session, actor, f"user.{'activate' if active else 'deactivate'}", "user", user.id,
                        before=before, after=after, request_id=request_id)
        await ctx.emit(session, "user", verb, after, subject_id=user.id, request_id=request_id, actor=actor.sub)
        return after
    return before


async def reset_password(ctx: ServiceContext, session: AsyncSession, actor: Principal, user: User, roles: list[str], password: str | None, request_id: str | None) -> tuple[dict, str | None]:
    if user.username == actor.sub:
        # a stolen access token must not be turned into the account for good (the new password comes
        # back in the answer and the owner's sessions end): another administrator resets it
        raise Problem(403, "self-change", "不能通过管理接口重置本人密码", detail="请由另一名管理员重置本人密码")
    _check_may_manage(actor, roles)
    generated = None
    if password is None:
        generated = generate_secret()
    else:
        check_password_policy(password, user.username, ctx.settings.production)
    user.password_hash = await hash_secret_async(generated or password)
    user.password_changed_at = utcnow()
    user.version += 1
    user.updated_at = utcnow()
    session.add(user)
    revoked = await revoke_user_tokens(session, user.id, "password reset")
    await session.flush()
    view = user_view(user, roles)
    await ctx.audit(session, actor, "user.reset_password", "user", user.id, after=view,
                    detail={"refresh_tokens_revoked": revoked, "generated": generated is not None}, request_id=request_id)
    await ctx.emit(session, "user", "password_reset", {"id": user.id, "username": user.username},
                   subject_id=user.id, request_id=request_id, actor=actor.sub)
    return view, generated
