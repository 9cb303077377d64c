"""The Kubernetes manifests, checked offline: generated base, kustomize overlays, schemas, rules."""
from __future__ import annotations

import copy
import shutil

import pytest
import yaml

from deploy.k8s import check
from deploy.k8s.generate import files


@pytest.mark.skipif(not (shutil.which("kubectl") or shutil.which("kustomize")), reason="kubectl/kustomize not installed")
def test_overlays_build_and_validate():
    assert check.main() == 0


def _deployment(name="registry"):
    return copy.deepcopy(next(d for d in files()[f"{name}.yaml"] if d["kind"] == "Deployment"))


def test_schema_validation_catches_a_misspelt_field():
    dep = _deployment()
    assert check.validate(dep) is None
    dep["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}  # misspelt
    assert "readinesProbe" in (check.validate(dep) or "")


def test_crd_schema_catches_a_wrong_database_spec():
    db = copy.deepcopy(next(d for d in files()["postgres.yaml"] if d["kind"] == "Database"))
    assert check.validate(db) is None
    db["spec"]["clusterName"] = db["spec"].pop("cluster")["name"]
    assert check.validate(db)


def test_rules_catch_a_missing_probe_and_an_open_service():
    docs = [d for ds in files().values() for d in ds]
    assert check.rules(docs, "production") == []
    broken = copy.deepcopy(docs)
    dep = next(d for d in broken if d["kind"] == "Deployment" and d["metadata"]["name"] == "sampling")
    del dep["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    pol = next(d for d in broken if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "registry-from-gateway")
    pol["spec"]["ingress"][0].pop("from")
    problems = check.rules(broken, "production")
    assert any("sampling: readiness" in p for p in problems)
    assert any("registry-from-gateway" in p for p in problems)


def test_committed_base_is_the_generators_output():
    from deploy.k8s.generate import BASE, render

    for name, text in render().items():
        assert (BASE / name).read_text(encoding="utf-8") == text, name
    assert yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"]
