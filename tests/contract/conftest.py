"""The live stack (`spotcheck run`, demo data) that the contract tests talk to over HTTP, once per run."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from shared.natsproc import free_port
from shared.topology import enabled_services
from tests.conftest import delete_streams
from tests.flows.test_make_run import _Output

ROOT = Path(__file__).parents[2]


def token(base: str, user: str) -> str:
    r = httpx.post(f"{base}/auth/token", data={"grant_type": "password", "username": user, "password": "spotcheck-demo"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture(scope="session")
def live(tmp_path_factory, nats_url):
    if os.environ.get("SPOTCHECK_CONTRACT_TESTS_DONE"):
        # the live stack always runs on SQLite whatever TEST_DATABASE_URL says: .ci/run proves it once
        pytest.skip("contract already proven on the live stack in this CI run")
    tmp = tmp_path_factory.mktemp("contract")
    env = dict(os.environ)
    env.pop("TEST_DATABASE_URL", None)
    port = free_port()
    env.update(SPOTCHECK_VAR_DIR=str(tmp / "var"), NATS_URL=nats_url, GATEWAY_PORT=str(port),
               SPOTCHECK_EVENTS_PREFIX=f"contract{os.getpid()}", PYTHONUNBUFFERED="1")
    for name in enabled_services():
        env[f"SPOTCHECK_{name.upper()}_PORT"] = str(free_port())
    proc = subprocess.Popen([sys.executable, "-m", "shared.cli", "run"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        _Output(proc).wait_for(proc, "按 Ctrl-C", timeout=480)  # after the whole demo campaign
        yield f"http://127.0.0.1:{port}", tmp
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        asyncio.run(delete_streams(nats_url, env["SPOTCHECK_EVENTS_PREFIX"]))


