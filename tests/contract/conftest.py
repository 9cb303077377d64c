"""The live stack (`spotcheck run`, demo data) that the contract tests talk to over HTTP: the
session's ``demo_stack`` (tests/conftest.py), shared with test_make_run and the browser test."""
from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).parents[2]


def token(base: str, user: str) -> str:
    r = httpx.post(f"{base}/auth/token", data={"grant_type": "password", "username": user, "password": "spotcheck-demo"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def fresh_token(stack, like: str, label: str) -> str:
    """A token of a new account made like the demo account ``like`` (same roles, region and
    organisation), created with the operator CLI (`spotcheck create-user`, as an operator on the
    server would) on the live stack's own database, then logged in through the gateway.

    Each schemathesis run fuzzes with an account of its own: the run legitimately changes accounts
    (schemathesis reuses ids from earlier answers: /admin/users lists them, and a city admin may
    reset the password of any account it manages, its own included; a province admin may reset or
    deactivate any other), so a demo account's password may no longer open it for the next run on
    the same stack. The CLI rather than the admin API, because every admin account the API would
    need may have been changed the same way by an earlier run."""
    from gateway.demo import DEMO_USERS

    model = next(u for u in DEMO_USERS if u.username == like)
    username = re.sub(r"[^A-Za-z0-9_.-]", "_", f"st_{like}_{label}")[:56] + f"_{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(18)
    cmd = [sys.executable, "-m", "shared.cli", "create-user", "--username", username, "--name", f"{model.display_name}（模糊测试）",
           "--region", model.region_code, "--password-env", "SPOTCHECK_FUZZ_PASSWORD"]
    cmd += [arg for role in model.roles for arg in ("--role", role)]
    if model.organisation:
        cmd += ["--organisation", model.organisation]
    r = subprocess.run(cmd, env={**stack.env, "SPOTCHECK_FUZZ_PASSWORD": password}, cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    r = httpx.post(f"{stack.base}/auth/token", data={"grant_type": "password", "username": username, "password": password}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture(scope="session")
def live(request):
    if os.environ.get("SPOTCHECK_CONTRACT_TESTS_DONE"):
        # the live stack always runs on SQLite whatever TEST_DATABASE_URL says: .ci/run proves it once
        pytest.skip("contract already proven on the live stack in this CI run")
    stack = request.getfixturevalue("demo_stack")
    return stack.base, stack.tmp


@pytest.fixture(scope="session")
def live_stack(live, request):
    """The live stack itself (``demo_stack``: base, tmp, env …), for tests that need more than ``live``."""
    return request.getfixturevalue("demo_stack")
