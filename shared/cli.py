"""``spotcheck`` operations CLI. Services add subcommands through ``<package>.cli.register``."""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from .topology import SERVICES


def _migrate(args) -> int:
    from .migrations import upgrade
    from .settings import settings_for
    from .topology import enabled_services

    targets = [args.service] if args.service else ["gateway", *enabled_services()]
    for name in targets:
        pkg = "gateway" if name == "gateway" else SERVICES[name][0]
        url = settings_for(name).resolved_database_url()
        upgrade(pkg, url)
        print(f"已迁移 {name}: {url.split('@')[-1]}")
    return 0


def _makemigration(args) -> int:
    import tempfile

    from alembic import command

    from .migrations import alembic_config

    pkg = "gateway" if args.service == "gateway" else SERVICES[args.service][0]
    tmp = tempfile.mkdtemp()
    cfg = alembic_config(pkg, f"sqlite+aiosqlite:///{tmp}/autogen.db")
    command.upgrade(cfg, "head")
    command.revision(cfg, message=args.message, autogenerate=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spotcheck", description="Spotcheck 双随机、一公开 运维命令")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("migrate", help="执行数据库迁移（全部服务或指定服务）")
    p.add_argument("service", nargs="?")
    p.set_defaults(func=_migrate)

    p = sub.add_parser("makemigration", help="为服务生成新的迁移（开发用）")
    p.add_argument("service")
    p.add_argument("message")
    p.set_defaults(func=_makemigration)

    from . import holidays_cli

    holidays_cli.register(sub)

    if importlib.util.find_spec("shared.launcher"):
        from . import launcher

        launcher.register(sub)

    for pkg in ["gateway", *(p for p, _ in SERVICES.values())]:
        name = f"{pkg}.cli"
        try:
            if importlib.util.find_spec(name) is None:
                continue
        except ModuleNotFoundError:
            continue
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
