"""Browser tests: the real stack (``spotcheck run`` on free ports, its own data directory and event
stream, the demo campaign: the session's ``demo_stack``, tests/conftest.py) and Debian's Chromium
driven by Playwright (``web/e2e/run.mjs``): every demo role logs in and walks its main path,
axe-core checks each main screen, screenshots go to ``web/test-artifacts/`` (gitignored). Skipped, saying why, only when node or
chromium is missing."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def _requirements() -> str | None:
    if os.environ.get("SPOTCHECK_BROWSER_TESTS_DONE"):
        return "浏览器测试已在本次 CI 的第一轮运行过（其测试栈总是 SQLite）"
    if not shutil.which("node"):
        return "node 不可用：跳过浏览器测试（安装 Node 20）"
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium 不可用（{CHROMIUM}）：跳过浏览器测试（apt-get install -y chromium fonts-noto-cjk）"
    return None


def _ensure_build() -> None:
    """make web-build normally ran before; build here when the suite is run alone."""
    if not (WEB / "node_modules" / "playwright-core").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True, timeout=600)
    if not (WEB / "dist" / "index.html").is_file():
        subprocess.run(["npm", "run", "build"], cwd=WEB, check=True, timeout=600)


def test_every_role_walks_its_main_path_in_chromium(request):
    missing = _requirements()
    if missing:
        pytest.skip(missing)
    _ensure_build()
    stack = request.getfixturevalue("demo_stack")  # shared with test_make_run and tests/contract (tests/conftest.py)
    out = stack.lines
    artifacts = WEB / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "stack.log").write_text("\n".join(out), encoding="utf-8")
    assert not any("演示检查活动未完成" in line for line in out), "\n".join(out)
    e2e = subprocess.run(["node", "e2e/run.mjs"], cwd=WEB, capture_output=True, text=True, timeout=900,
                         env={**os.environ, "BASE_URL": stack.base, "OUT": str(artifacts), "CHROMIUM": CHROMIUM})
    (artifacts / "e2e.log").write_text(e2e.stdout + "\n" + e2e.stderr, encoding="utf-8")  # kept for a failed CI run
    print(e2e.stdout[-20000:], e2e.stderr[-5000:])
    assert e2e.returncode == 0, f"browser scenarios failed:\n{e2e.stdout[-20000:]}\n{e2e.stderr[-5000:]}"
    assert len(list(artifacts.glob("*.png"))) >= 10
