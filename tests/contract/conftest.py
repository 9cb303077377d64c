"""The live stack (`spotcheck run`, demo data) that the contract tests talk to over HTTP: the
session's ``demo_stack`` (tests/conftest.py), shared with test_make_run and the browser test."""
from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).parents[2]


def token(base: str, user: str) -> str:
    r = httpx.post(f"{base}/auth/token", data={"grant_type": "password", "username": user, "password": "spotcheck-demo"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture(scope="session")
def live(request):
    if os.environ.get("SPOTCHECK_CONTRACT_TESTS_DONE"):
        # the live stack always runs on SQLite whatever TEST_DATABASE_URL says: .ci/run proves it once
        pytest.skip("contract already proven on the live stack in this CI run")
    stack = request.getfixturevalue("demo_stack")
    return stack.base, stack.tmp
