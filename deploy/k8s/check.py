"""Offline check of the Kubernetes manifests (no cluster): the base is what the generator writes,
each overlay builds with kustomize (`kubectl kustomize`), every built-in object validates against
the Kubernetes JSON schemas of a pinned version (PyPI `kubernetes-validate`, strict: unknown fields
refused), the CloudNativePG objects against the fields we use (`schemas/`, written from the
operator's API reference), and the rules the system relies on hold.

    python -m deploy.k8s.check            # what `make k8s-check` and .ci/run call
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

from shared.topology import SERVICES

from .generate import BASE, render

HERE = Path(__file__).parent
K8S_VERSION = "1.31.0"
OVERLAYS = ["demo", "production"]
CRD_SCHEMAS = {("postgresql.cnpg.io/v1", "Cluster"): "cnpg-cluster.json", ("postgresql.cnpg.io/v1", "Database"): "cnpg-database.json"}


def kustomize(overlay: Path) -> list[dict]:
    exe = shutil.which("kubectl")
    if exe:
        cmd = [exe, "kustomize", str(overlay)]
    elif shutil.which("kustomize"):
        cmd = [shutil.which("kustomize"), "build", str(overlay)]
    else:
        raise SystemExit("kubectl (or kustomize) not found: install Debian's kubernetes-client or kubectl")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def validate(doc: dict) -> str | None:
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key in CRD_SCHEMAS:
        schema = json.loads((HERE / "schemas" / CRD_SCHEMAS[key]).read_text())
        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
        return "; ".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors) or None
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"{'/'.join(map(str, exc.path))}: {exc.message}"
    except kubernetes_validate.SchemaNotFoundError:
        return f"no schema for {key} in Kubernetes {K8S_VERSION}"
    return None


def rules(docs: list[dict], overlay: str) -> list[str]:
    """What the system relies on, beyond the schemas."""
    problems = []
    by_kind: dict[str, dict[str, dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    apps = ["gateway", *SERVICES]
    for name in apps:
        dep = by_kind.get("Deployment", {}).get(name)
        if not dep:
            problems.append(f"{name}: no Deployment")
            continue
        c = dep["spec"]["template"]["spec"]["containers"][0]
        if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/ready":
            problems.append(f"{name}: readiness is not /ready")
        if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/health":
            problems.append(f"{name}: liveness is not /health")
        if not c.get("resources", {}).get("requests") or not c.get("resources", {}).get("limits"):
            problems.append(f"{name}: resources missing")
        if not any(i["name"] == "migrate" for i in dep["spec"]["template"]["spec"].get("initContainers", [])):
            problems.append(f"{name}: no migration init container")
        for kind in ("Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
            if name not in by_kind.get(kind, {}):
                problems.append(f"{name}: no {kind}")
        env = {e["name"]: e for e in c.get("env", [])}
        for e in env.values():
            if "value" in e and ("PASSWORD=" in e["value"] or ("secret" in e["name"].lower() and not e["name"].endswith("_FILE"))):
                problems.append(f"{name}: secret value inline in env {e['name']}")
        if name in ("inspection", "rectification"):  # evidence on the S3-compatible store, its settings by secret reference
            if "secretKeyRef" not in env.get("SPOTCHECK_EVIDENCE_S3_ENDPOINT_URL", {}).get("valueFrom", {}):
                problems.append(f"{name}: evidence store endpoint not taken from a secret")
            if not env.get(f"SPOTCHECK_{name.upper()}_EVIDENCE_URL", {}).get("value", "").startswith("s3://"):
                problems.append(f"{name}: evidence not on the S3-compatible store")
    if overlay == "production":
        for name in apps:
            if by_kind["HorizontalPodAutoscaler"][name]["spec"]["minReplicas"] < 2:
                problems.append(f"{name}: production HPA allows fewer than 2 replicas")
        if by_kind["StatefulSet"]["nats"]["spec"]["replicas"] != 3:
            problems.append("nats: production cluster is not 3 servers")
        if by_kind["Cluster"]["spotcheck-pg"]["spec"]["instances"] < 3:
            problems.append("postgres: production cluster has fewer than 3 instances")
    dbs = {d["spec"]["name"] for d in by_kind.get("Database", {}).values()}
    dbs.add(by_kind["Cluster"]["spotcheck-pg"]["spec"]["bootstrap"]["initdb"]["database"])
    for name in apps:
        if f"spotcheck_{name}" not in dbs:
            problems.append(f"{name}: no database of its own")
    if "Secret" in by_kind:
        problems.append("a Secret is committed: secrets are referenced, created outside git")
    # network: default deny; only the gateway open to everyone; each service reachable from the gateway
    pols = by_kind.get("NetworkPolicy", {})
    if "default-deny-ingress" not in pols or pols["default-deny-ingress"]["spec"].get("ingress"):
        problems.append("no default-deny ingress NetworkPolicy")
    for pname, p in pols.items():
        for rule in p["spec"].get("ingress", []):
            if "from" not in rule and p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name") != "gateway":
                problems.append(f"NetworkPolicy {pname} opens a non-gateway pod to every source")
    return problems


def main() -> int:
    failures = []
    expected = render()
    for name, text in expected.items():
        path = BASE / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            failures.append(f"base/{name} differs from the generator's output (run python -m deploy.k8s.generate)")
    extra = {p.name for p in BASE.glob("*.yaml")} - set(expected)
    failures += [f"base/{n} is not written by the generator" for n in sorted(extra)]
    for overlay in OVERLAYS:
        docs = kustomize(HERE / "overlays" / overlay)
        for d in docs:
            err = validate(d)
            if err:
                failures.append(f"{overlay}: {d['kind']}/{d['metadata']['name']}: {err}")
        failures += [f"{overlay}: {p}" for p in rules(docs, overlay)]
        print(f"{overlay}: {len(docs)} objects built and validated (Kubernetes {K8S_VERSION} schemas, strict)")
    for f in failures:
        print("✗", f, file=sys.stderr)
    print("k8s manifests OK" if not failures else f"{len(failures)} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
