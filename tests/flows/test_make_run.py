"""`spotcheck run` (what `make run` calls) from an empty data directory: every process comes up,
demo data loads, a city admin logs in at the gateway and sees only its city's enterprises, and
Ctrl-C stops everything."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from shared.natsproc import free_port
from shared.topology import enabled_services
from tests.conftest import delete_streams


class _Output:
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


def test_spotcheck_run_end_to_end(tmp_path: Path, nats_url: str):
    env = dict(os.environ)
    prefix = f"run{os.getpid()}"
    env.pop("TEST_DATABASE_URL", None)
    gateway_port = free_port()
    env.update(SPOTCHECK_VAR_DIR=str(tmp_path / "var"), NATS_URL=nats_url, GATEWAY_PORT=str(gateway_port),
               SPOTCHECK_EVENTS_PREFIX=prefix, PYTHONUNBUFFERED="1")
    for name in enabled_services():
        env[f"SPOTCHECK_{name.upper()}_PORT"] = str(free_port())
    proc = subprocess.Popen([sys.executable, "-m", "shared.cli", "run"], env=env, cwd=Path(__file__).parents[2],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output = _Output(proc)
        out = output.wait_for(proc, "按 Ctrl-C", timeout=480)  # the whole demo campaign runs first
        assert any("demo_taiyuan" in line for line in out)
        assert not any("演示检查活动未完成" in line for line in out), "\n".join(out)
        assert any("· scheduling:" in line for line in out), "\n".join(out)  # the demo campaign ran its steps
        base = f"http://127.0.0.1:{gateway_port}"
        tok = httpx.post(f"{base}/auth/token", data={"grant_type": "password", "username": "demo_taiyuan",
                                                     "password": "spotcheck-demo"}, timeout=10)
        assert tok.status_code == 200, tok.text
        auth = {"Authorization": f"Bearer {tok.json()['access_token']}"}
        seen = 0
        cursor = None
        while True:
            params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            r = httpx.get(f"{base}/api/v1/registry/enterprises", headers=auth, params=params, timeout=10)
            assert r.status_code == 200, r.text
            page = r.json()
            for item in page["items"]:
                assert item["region_code"].startswith("1401"), item
            seen += len(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        assert seen > 20  # the demo registry has plenty of 太原 enterprises
        spec = httpx.get(f"{base}/openapi.json", timeout=10).json()
        assert any(p.startswith("/api/v1/registry/") for p in spec["paths"])
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            raise
        finally:
            asyncio.run(delete_streams(nats_url, prefix))  # the stack's stream goes with it
    assert proc.returncode == 0
