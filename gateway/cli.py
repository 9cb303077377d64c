"""``spotcheck create-user`` / ``spotcheck create-client``: bootstrap accounts from the command
line (the first province administrator in production). Audited as actor ``cli``."""
from __future__ import annotations

import asyncio
import getpass
import os
import sys

from shared.errors import Problem


def _password(args) -> str:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if not value:
            raise SystemExit(f"环境变量 {args.password_env} 未设置")
        return value
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("密码：")
    if first != getpass.getpass("再次输入密码："):
        raise SystemExit("两次输入的密码不一致")
    return first


async def _create_user(args) -> int:
    from shared.db import Database

    from .models import kernel
    from .passwords import check_password_policy
    from .schemas import UserCreate
    from .settings import gateway_settings
    from .users import check_person_free, username_taken, user_view, validate_identity_fields, insert_user
    from shared.errors import Problem
    from shared import audit
    from shared.events.outbox import emit

    settings = gateway_settings()
    password = _password(args)
    body = UserCreate(username=args.username, display_name=args.name, roles=args.role, region_code=args.region,
                      organisation=args.organisation, uscc=args.uscc, person_id=args.person_id, password=password)
    validate_identity_fields(body.roles, body.region_code, body.uscc, body.person_id)
    check_password_policy(password, body.username, settings.production)
    db = Database(settings.resolved_database_url())
    try:
        async with db.transaction() as s:
            if await username_taken(s, body.username):
                print(f"用户名 {body.username} 已存在（或与机器客户端编号相同）", file=sys.stderr)
                return 1
            try:
                await check_person_free(s, body.person_id)
            except Problem as exc:
                print(f"{exc.title}：{exc.detail}", file=sys.stderr)
                return 1
            user, roles = await insert_user(s, body, password, "cli")
            view = user_view(user, roles)
            await audit.append(s, kernel, actor="cli", action="user.create", entity_type="user", entity_id=user.id, after=view)
            await emit(s, kernel, "gateway", "user", "created", view, prefix=settings.events_prefix, subject_id=user.id, actor="cli")
    finally:
        await db.dispose()
    print(f"已创建用户 {body.username}（{', '.join(roles)}，{body.region_code}），编号 {view['id']}")
    return 0


async def _create_client(args) -> int:
    from shared import audit
    from shared.db import Database
    from shared.events.outbox import emit

    from .clients import client_view, insert_client
    from .models import kernel
    from .passwords import generate_secret
    from .schemas import ClientCreate
    from .settings import gateway_settings

    settings = gateway_settings()
    body = ClientCreate(client_id=args.client_id, name=args.name, role=args.role, region_code=args.region)
    secret = generate_secret()
    db = Database(settings.resolved_database_url())
    try:
        async with db.transaction() as s:
            c = await insert_client(s, body, secret, "cli")
            view = client_view(c)
            await audit.append(s, kernel, actor="cli", action="client.create", entity_type="client", entity_id=c.client_id, after=view)
            await emit(s, kernel, "gateway", "client", "created", view, prefix=settings.events_prefix, subject_id=c.client_id, actor="cli")
    finally:
        await db.dispose()
    print(f"已登记客户端 {body.client_id}（{body.role}）。密钥仅显示这一次：\n{secret}")
    return 0


def _run(coro_fn):
    def run(args) -> int:
        try:
            return asyncio.run(coro_fn(args))
        except Problem as p:
            details = "；".join(f"{e['field']}: {e['message']}" for e in p.errors) or p.detail or p.title
            print(f"{p.title}：{details}", file=sys.stderr)
            return 2
        except ValueError as exc:  # pydantic validation of the arguments
            print(f"参数错误：{exc}", file=sys.stderr)
            return 2

    return run


def register(subparsers) -> None:
    p = subparsers.add_parser("create-user", help="创建用户（生产环境用于创建首个省局管理员）")
    p.add_argument("--username", required=True)
    p.add_argument("--name", required=True, help="姓名/显示名")
    p.add_argument("--role", action="append", required=True, help="角色，可重复，如 province_admin")
    p.add_argument("--region", required=True, help="行政区划代码，如 140000")
    p.add_argument("--organisation")
    p.add_argument("--uscc")
    p.add_argument("--person-id", dest="person_id")
    p.add_argument("--password-env", help="从该环境变量读取密码（否则交互输入或读标准输入一行）")
    p.set_defaults(func=_run(_create_user))

    p = subparsers.add_parser("create-client", help="登记机器客户端（gov_client / credit_system）")
    p.add_argument("--client-id", dest="client_id", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--role", required=True, choices=["gov_client", "credit_system"])
    p.add_argument("--region", default="140000")
    p.set_defaults(func=_run(_create_client))
