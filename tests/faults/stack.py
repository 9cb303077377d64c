"""A whole Spotcheck on this machine for the fault suite: a private PostgreSQL (initdb on its own
port, never the machine's), a private NATS, the services and the gateway as real uvicorn processes
(optionally several replicas each), all on loopback. Everything it starts it stops."""
from __future__ import annotations

import asyncio
import glob
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from shared.natsproc import NatsProcess, free_port
from shared.topology import SERVICES, enabled_services

ROOT = Path(__file__).resolve().parents[2]


def pg_bin(tool: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))
    if found:
        return found[-1]
    exe = shutil.which(tool)
    if not exe:
        raise RuntimeError(f"PostgreSQL server tool {tool} not found")
    return exe


class PrivatePostgres:
    """initdb + pg_ctl in a temporary folder, on a free port, trust auth on loopback only."""

    def __init__(self, base: Path):
        import tempfile

        # its own folder outside pytest's (root-only) temp tree: the server runs as the postgres user
        own = Path(tempfile.mkdtemp(prefix="spotcheck-pg-"))
        os.chmod(own, 0o755)
        self.own = own
        self.dir = own / "pgdata"
        self.sock = own / "pgsock"
        self.port = free_port()
        self.log = own / "pg.log"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *cmd: str, check=True) -> subprocess.CompletedProcess:
        return subprocess.run([*self._as, *cmd], check=check, capture_output=True, text=True, timeout=120)

    def init(self) -> "PrivatePostgres":
        self.sock.mkdir(parents=True, exist_ok=True)
        if self._as:
            shutil.chown(self.dir.parent, "postgres")
            shutil.chown(self.sock, "postgres")
        self._run(pg_bin("initdb"), "-D", str(self.dir), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        return self

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
        self._run(pg_bin("pg_ctl"), "-D", str(self.dir), "-l", str(self.log), "-o", opts, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(pg_bin("pg_ctl"), "-D", str(self.dir), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.own, ignore_errors=True)

    def url(self, db: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{db}"

    async def create_db(self, name: str) -> str:
        import asyncpg

        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres")
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)


class Stack:
    def __init__(self, base: Path, services: list[str], replicas: int = 1, prefix: str = "faults"):
        self.base = base
        self.services = [s for s in services if s in enabled_services()]
        self.replicas = replicas
        self.prefix = prefix
        self.pg = PrivatePostgres(base)
        self.nats = NatsProcess(base / "nats")
        self.procs: dict[str, list[subprocess.Popen]] = {}
        self.ports: dict[str, list[int]] = {}
        self.db_urls: dict[str, str] = {}
        self.env: dict[str, str] = {}

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway'][0]}"

    async def start(self) -> "Stack":
        self.pg.init().start()
        self.nats.start()
        env = dict(os.environ)
        env.pop("TEST_DATABASE_URL", None)
        var = self.base / "var"
        env.update(SPOTCHECK_VAR_DIR=str(var), NATS_URL=self.nats.url, SPOTCHECK_EVENTS_PREFIX=self.prefix,
                   PYTHONUNBUFFERED="1", SPOTCHECK_RELAY_INTERVAL_SECONDS="0.2")
        for name in ["gateway", *self.services]:
            self.db_urls[name] = await self.pg.create_db(f"spotcheck_{name}")
            env[f"SPOTCHECK_{name.upper()}_DATABASE_URL"] = self.db_urls[name]
            self.ports[name] = [free_port() for _ in range(1 if name == "gateway" else self.replicas)]
            if name != "gateway":
                env[f"SPOTCHECK_{name.upper()}_URL"] = ",".join(f"http://127.0.0.1:{p}" for p in self.ports[name])
                env[f"SPOTCHECK_{name.upper()}_PORT"] = str(self.ports[name][0])
        self.env = env
        from shared.keys import load_or_create

        load_or_create(var / "keys")
        self._cli("migrate")
        self._cli("demo-data")
        for name in [*self.services, "gateway"]:
            self.procs[name] = [self._spawn(name, port) for port in self.ports[name]]
        for name in [*self.services, "gateway"]:
            for port in self.ports[name]:
                await self.wait_healthy(port)
        return self

    def _cli(self, *args: str) -> None:
        subprocess.run([sys.executable, "-m", "shared.cli", *args], env=self.env, cwd=ROOT, check=True,
                       capture_output=True, text=True, timeout=300)

    def _spawn(self, name: str, port: int) -> subprocess.Popen:
        app = "gateway.app:create_app" if name == "gateway" else f"{SERVICES[name][0]}.app:create_app"
        log = open(self.base / f"{name}-{port}.log", "ab")
        try:
            return subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", app, "--host", "127.0.0.1", "--port", str(port),
                                     "--no-access-log"], env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        finally:
            log.close()

    async def wait_healthy(self, port: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as c:
            while time.monotonic() < deadline:
                try:
                    if (await c.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"port {port} not healthy within {timeout}s (logs in {self.base})")

    def kill(self, name: str, index: int = 0, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name][index]
        os.killpg(proc.pid, sig)
        proc.wait(10)

    async def restart(self, name: str, index: int = 0) -> None:
        port = self.ports[name][index]
        self.procs[name][index] = self._spawn(name, port)
        await self.wait_healthy(port)

    async def stop(self) -> None:
        for procs in self.procs.values():
            for p in procs:
                if p.poll() is None:
                    try:
                        os.killpg(p.pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
        for procs in self.procs.values():
            for p in procs:
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
        self.nats.stop()
        self.pg.remove()
