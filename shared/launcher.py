"""``spotcheck run``: migrate, start NATS (or reuse one), load demo data once, start every
service and the gateway as uvicorn processes, print the URL and demo logins; Ctrl-C stops all."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import httpx

from .natsproc import ensure_nats
from .settings import CommonSettings, settings_for, var_dir
from .topology import SERVICES, enabled_services, service_port

DEMO_LOGINS = [
    ("demo_province", "省局管理员 province_admin · 140000"),
    ("demo_province2", "省局第二名工作人员 province_admin · 140000（种子仪式确认人）"),
    ("demo_taiyuan", "太原市局管理员 city_admin · 140100"),
    ("demo_datong", "大同市局管理员 city_admin · 140200"),
    ("demo_xiaodian", "小店区局管理员 county_admin · 140105"),
    ("demo_inspector", "执法人员 inspector · insp-0001"),
    ("demo_expert", "技术专家 expert · exp-0001"),
    ("demo_discipline", "驻局纪检监察组 discipline"),
]


def migrate_all() -> None:
    from .migrations import upgrade

    upgrade("gateway", settings_for("gateway").resolved_database_url())
    for name in enabled_services():
        upgrade(SERVICES[name][0], settings_for(name).resolved_database_url())


async def load_demo() -> None:
    """Load the demo registry and demo accounts (each loader is idempotent)."""
    from .db import Database

    from gateway.demo import seed_demo
    from services.registry.demo import load_demo as load_registry

    reg = Database(settings_for("registry").resolved_database_url())
    gw = Database(settings_for("gateway").resolved_database_url())
    try:
        await load_registry(reg, events_prefix=settings_for("registry").events_prefix)
        await seed_demo(gw)
    finally:
        await reg.dispose()
        await gw.dispose()


def _port_in_use(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def run(args) -> int:
    common = CommonSettings()
    vd = var_dir()
    print(f"数据目录: {vd}")
    nats_url, nats_proc = ensure_nats(common.nats_url, vd / "nats")
    print(f"NATS: {nats_url}" + ("（已启动本地 nats-server）" if nats_proc else "（复用已有服务器）"))
    env = dict(os.environ, NATS_URL=nats_url, SPOTCHECK_VAR_DIR=str(vd))
    os.environ.update(env)

    from .keys import load_or_create

    if common.mode != "production":
        load_or_create(vd / "keys")
    print("执行数据库迁移 …")
    migrate_all()
    if common.mode != "production" and not args.no_demo:
        print("载入山西演示数据（仅首次）…")
        asyncio.run(load_demo())

    procs: list[tuple[str, subprocess.Popen]] = []
    gateway_port = service_port("gateway")
    host = os.environ.get("SPOTCHECK_HOST", "127.0.0.1")
    targets = [(name, SERVICES[name][0] + ".app:create_app", service_port(name)) for name in enabled_services()]
    targets.append(("gateway", "gateway.app:create_app", gateway_port))
    env.setdefault("SPOTCHECK_DISCLOSURE_TRUSTED_PROXIES", "127.0.0.1")  # the gateway started here forwards X-Forwarded-For
    if common.mode != "production" and not args.no_demo and "disclosure" in enabled_services():
        # the demo's webhook receiver (verifies signatures); the disclosure service may deliver to it on loopback
        from services.disclosure.receiver import receiver_port

        env["SPOTCHECK_WEBHOOK_RECEIVER_PORT"] = os.environ["SPOTCHECK_WEBHOOK_RECEIVER_PORT"] = str(receiver_port())
        env.setdefault("SPOTCHECK_DISCLOSURE_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")
        targets.append(("webhook-receiver", "services.disclosure.receiver:create_app", int(env["SPOTCHECK_WEBHOOK_RECEIVER_PORT"])))
    busy = [f"{name}:{port}" for name, _, port in targets if _port_in_use(port)]
    if busy:
        print(f"✗ 端口已被占用：{', '.join(busy)}（另一个 Spotcheck 在运行？可用 GATEWAY_PORT / SPOTCHECK_<服务>_PORT 改端口）", file=sys.stderr)
        if nats_proc:
            nats_proc.stop()
        return 1

    state = {"stopping": False, "done": False}

    def shutdown(*_):
        # the services run in sessions of their own (a terminal's Ctrl-C reaches only this
        # process): stop each one's whole process group, then wait, then kill what is left
        if state["done"]:
            return
        state["stopping"] = True
        for _, p in procs:
            _signal_group(p, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _, p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for _, p in procs:
            _signal_group(p, signal.SIGKILL)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if nats_proc:
            nats_proc.stop()
        state["done"] = True

    def _on_signal(signum, _frame):
        if not state["stopping"]:
            state["stopping"] = True
            raise KeyboardInterrupt
        # a second SIGTERM/SIGINT while stopping: do not interrupt the shutdown, hurry it instead
        for _, p in procs:
            _signal_group(p, signal.SIGKILL)

    # also when started in the background, where a shell leaves SIGINT ignored; installed before
    # any child starts, so a signal at any moment reaches the shutdown below
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    try:
        for name, factory, port in targets:
            bind = host if name == "gateway" else "127.0.0.1"
            with open(vd / f"{name}.log", "ab") as log:  # the child keeps its own descriptor
                proc = subprocess.Popen(
                    [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", bind, "--port", str(port), "--no-access-log",
                     "--no-proxy-headers"],  # X-Forwarded-For is judged by the app against its trusted proxies
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            procs.append((name, proc))
    except KeyboardInterrupt:
        print("\n正在停止 …")
        shutdown()
        return 0

    try:
        for (name, proc), (_, _, port) in zip(procs, targets):
            if not _wait_healthy(f"http://127.0.0.1:{port}/health", proc):
                print(f"✗ {name} 启动失败，见 {vd / (name + '.log')}", file=sys.stderr)
                shutdown()
                return 1
            print(f"✓ {name} 已启动 (127.0.0.1:{port})")
        if common.mode != "production" and not args.no_demo:
            print("演示检查活动（各服务自己的接口，仅补做缺少的步骤）…")
            from .demo_campaign import CampaignError, run_campaign

            try:
                asyncio.run(run_campaign(f"http://127.0.0.1:{gateway_port}", vd))
            except CampaignError as exc:  # the services stay up: the demo is incomplete, not the system
                print(f"✗ 演示检查活动未完成：{exc}", file=sys.stderr)
        print()
        print(f"Spotcheck 已就绪: http://{host}:{gateway_port}   API 文档: http://{host}:{gateway_port}/docs")
        if common.mode != "production":
            print("演示账号（密码 spotcheck-demo）:")
            for user, what in DEMO_LOGINS:
                print(f"  {user:<16} {what}")
            print("  演示客户端 demo_credit_system / demo-credit-secret（client_credentials）")
        print("按 Ctrl-C 停止全部服务。")
        while True:
            for name, proc in procs:
                if proc.poll() is not None:
                    print(f"✗ {name} 意外退出（退出码 {proc.returncode}），见日志", file=sys.stderr)
                    shutdown()
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        print("\n正在停止 …")
        shutdown()
        return 0
    finally:
        shutdown()  # whatever ends the launcher, no service outlives it


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to the child's process group (uvicorn and anything it started)."""
    if proc.poll() is not None and sig != signal.SIGKILL:
        return
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def demo(args) -> int:
    migrate_all()
    asyncio.run(load_demo())
    print("演示数据已载入。")
    return 0


def register(sub) -> None:
    p = sub.add_parser("run", help="启动全部服务（NATS、各服务、网关），首次载入演示数据")
    p.add_argument("--no-demo", action="store_true", help="不载入演示数据")
    p.set_defaults(func=run)
    p = sub.add_parser("demo-data", help="迁移并载入演示数据（幂等）")
    p.set_defaults(func=demo)
