"""Check docker-compose.yml without a Docker engine.

1. ``docker-compose config -q`` (Debian's docker-compose) when it is installed: the real parser.
2. Always: our own rules — every service builds from deploy/Dockerfile or names an image, every
   depends_on target exists, each Spotcheck service has its own database URL, every app module the
   compose file names is importable, and every mounted local file exists.
"""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import yaml


def structural_errors(path: Path) -> list[str]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    errors: list[str] = []
    services = doc.get("services") or {}
    if not services:
        return ["no services"]
    databases = {}
    for name, svc in services.items():
        if not (svc.get("image") or svc.get("build")):
            errors.append(f"{name}: neither image nor build")
        build = svc.get("build")
        if isinstance(build, dict):
            dockerfile = Path(build.get("context", ".")) / build.get("dockerfile", "Dockerfile")
            if not (path.parent / dockerfile).exists():
                errors.append(f"{name}: {dockerfile} missing")
        deps = svc.get("depends_on") or {}
        for dep in deps if isinstance(deps, list) else deps.keys():
            if dep not in services:
                errors.append(f"{name}: depends_on unknown service {dep}")
        env = svc.get("environment") or {}
        app = env.get("APP") if isinstance(env, dict) else None
        if app:
            module = app.split(":")[0]
            if importlib.util.find_spec(module) is None:
                errors.append(f"{name}: APP module {module} not importable")
        for key, value in (env.items() if isinstance(env, dict) else []):
            if key.endswith("_DATABASE_URL"):
                db = str(value).rsplit("/", 1)[-1]
                if db in databases:
                    errors.append(f"{name}: shares database {db} with {databases[db]}")
                databases[db] = name
        for vol in svc.get("volumes") or []:
            src = str(vol).split(":")[0]
            if src.startswith("./") and not (path.parent / src).exists():
                errors.append(f"{name}: mounted file {src} missing")
    return errors


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else "docker-compose.yml")
    ok = True
    tool = shutil.which("docker-compose")
    if tool:
        res = subprocess.run([tool, "-f", str(path), "config", "-q"], capture_output=True, text=True)
        if res.returncode != 0:
            print(res.stderr or res.stdout)
            ok = False
        else:
            print("docker-compose config: ok")
    else:
        print("docker-compose not installed: structural checks only")
    errors = structural_errors(path)
    for e in errors:
        print("compose:", e)
    if errors:
        ok = False
    else:
        print("structural checks: ok")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
