"""Stop cleanly: SIGTERM or SIGINT, once or twice, to `make run`'s process group or to
`spotcheck run` stops every child (uvicorn servers run in sessions of their own)."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.natsproc import free_port
from shared.topology import enabled_services
from tests.conftest import delete_streams
from tests.helpers import ProcessOutput as _Output

ROOT = Path(__file__).parents[2]


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("how", ["make-group-TERM", "spotcheck-INT-twice", "spotcheck-TERM-twice"])
def test_no_child_survives(tmp_path: Path, nats_url: str, how: str):
    env = dict(os.environ)
    env.pop("TEST_DATABASE_URL", None)
    env.update(SPOTCHECK_VAR_DIR=str(tmp_path / "var"), NATS_URL=nats_url, GATEWAY_PORT=str(free_port()),
               SPOTCHECK_EVENTS_PREFIX=f"stop{os.getpid()}", PYTHONUNBUFFERED="1", RUN_ARGS="--no-demo")
    for name in enabled_services():
        env[f"SPOTCHECK_{name.upper()}_PORT"] = str(free_port())
    cmd = ["make", "--no-print-directory", "run"] if how.startswith("make") else [sys.executable, "-m", "shared.cli", "run", "--no-demo"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        _Output(proc).wait_for(proc, "按 Ctrl-C", timeout=180)
        kids = _descendants(proc.pid)
        assert len(kids) >= len(enabled_services()) + 1, kids  # every service and the gateway
        if how == "make-group-TERM":  # what a service manager or a closing terminal sends
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            sig = signal.SIGINT if "INT" in how else signal.SIGTERM
            proc.send_signal(sig)
            time.sleep(0.3)
            proc.send_signal(sig)
        proc.wait(60)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(k) for k in kids):
            time.sleep(0.2)
        survivors = [k for k in kids if _alive(k)]
        assert not survivors, survivors
    finally:
        asyncio.run(delete_streams(nats_url, env["SPOTCHECK_EVENTS_PREFIX"]))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for k in _descendants(proc.pid):
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass
