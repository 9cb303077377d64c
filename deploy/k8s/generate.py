"""Writes ``deploy/k8s/base/`` from ``shared.topology``: one Deployment, Service, HPA and PDB per
service and the gateway, NetworkPolicies, the NATS JetStream cluster (3 servers), a CloudNativePG
``Cluster`` with one ``Database`` per service. The manifests are committed; CI checks they are what
this script writes (`python -m deploy.k8s.check`) and validates them against the Kubernetes schemas.

    python -m deploy.k8s.generate      # after adding a service to shared/topology.py
"""
from __future__ import annotations

from pathlib import Path

import yaml

from shared.topology import GATEWAY_PORT, SERVICES

BASE = Path(__file__).parent / "base"
IMAGE = "spotcheck:latest"  # overlays set the registry and tag (kustomize `images:`)
PART_OF = {"app.kubernetes.io/part-of": "spotcheck"}
# services that keep evidence files (on the S3-compatible store: no volume, replicas anywhere)
EVIDENCE = {"inspection", "rectification"}
# services other services call over HTTP (besides the gateway): sampling reads registry and risk at freeze time
CALLED_BY = {"registry": ["sampling"], "risk": ["sampling"]}


def labels(name: str) -> dict:
    return {"app.kubernetes.io/name": name, **PART_OF}


def db_name(name: str) -> str:
    return f"spotcheck_{name}"


def env_for(name: str) -> list[dict]:
    up = name.upper()
    env = [
        {"name": "DB_USER", "valueFrom": {"secretKeyRef": {"name": "spotcheck-db-credentials", "key": "username"}}},
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "spotcheck-db-credentials", "key": "password"}}},
        {"name": f"SPOTCHECK_{up}_DATABASE_URL",
         "value": f"postgresql+asyncpg://$(DB_USER):$(DB_PASSWORD)@spotcheck-pg-rw:5432/{db_name(name)}"},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    if name == "gateway":
        env.append({"name": "SPOTCHECK_GATEWAY_PRIVATE_KEY_FILE", "value": "/run/secrets/jwt/jwt-private.pem"})
    if name in EVIDENCE:
        # evidence on the S3-compatible store (MinIO, Ceph RGW, cloud object storage), one prefix per service:
        # where it is and the bucket by secret reference, the keys as files of the same secret
        s3 = lambda key: {"secretKeyRef": {"name": "spotcheck-evidence-s3", "key": key}}  # noqa: E731
        env += [
            {"name": "EVIDENCE_BUCKET", "valueFrom": s3("bucket")},
            {"name": f"SPOTCHECK_{up}_EVIDENCE_URL", "value": f"s3://$(EVIDENCE_BUCKET)/{name}"},
            {"name": "SPOTCHECK_EVIDENCE_S3_ENDPOINT_URL", "valueFrom": s3("endpoint")},
            {"name": "SPOTCHECK_EVIDENCE_S3_REGION", "valueFrom": s3("region")},
            {"name": "SPOTCHECK_EVIDENCE_S3_ACCESS_KEY_FILE", "value": "/run/secrets/evidence-s3/access-key"},
            {"name": "SPOTCHECK_EVIDENCE_S3_SECRET_KEY_FILE", "value": "/run/secrets/evidence-s3/secret-key"},
        ]
    return env


def port_of(name: str) -> int:
    return GATEWAY_PORT if name == "gateway" else SERVICES[name][1]


def app_of(name: str) -> str:
    return "gateway.app:create_app" if name == "gateway" else f"{SERVICES[name][0]}.app:create_app"


def deployment(name: str) -> list[dict]:
    port = port_of(name)
    probe = lambda path, delay: {"httpGet": {"path": path, "port": "http"}, "initialDelaySeconds": delay, "periodSeconds": 10,  # noqa: E731
                                 "timeoutSeconds": 3, "failureThreshold": 3}
    volumes, mounts = [], []
    if name == "gateway":
        volumes.append({"name": "jwt", "secret": {"secretName": "spotcheck-jwt", "defaultMode": 0o400}})
        mounts.append({"name": "jwt", "mountPath": "/run/secrets/jwt", "readOnly": True})
    if name in EVIDENCE:
        volumes.append({"name": "evidence-s3", "secret": {"secretName": "spotcheck-evidence-s3", "defaultMode": 0o400,
                                                          "items": [{"key": "access-key", "path": "access-key"},
                                                                    {"key": "secret-key", "path": "secret-key"}]}})
        mounts.append({"name": "evidence-s3", "mountPath": "/run/secrets/evidence-s3", "readOnly": True})
    container = {
        "name": name, "image": IMAGE, "imagePullPolicy": "IfNotPresent",
        "command": ["uvicorn", "--factory", app_of(name), "--host", "0.0.0.0", "--port", str(port), "--no-access-log",
                    "--timeout-graceful-shutdown", "20"],
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": "spotcheck-config"}}],
        "env": env_for(name),
        "readinessProbe": probe("/ready", 5),
        "livenessProbe": probe("/health", 15),
        "resources": {"requests": {"cpu": "100m", "memory": "192Mi"}, "limits": {"cpu": "1", "memory": "768Mi"}},
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": mounts + [{"name": "tmp", "mountPath": "/tmp"}, {"name": "var", "mountPath": "/var/lib/spotcheck"}],
    }
    migrate = {
        "name": "migrate", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
        # holds a PostgreSQL advisory lock while it migrates (shared.migrations): replicas wait, then find it done
        "command": ["spotcheck", "migrate", name],
        "envFrom": [{"configMapRef": {"name": "spotcheck-config"}}],
        "env": env_for(name),
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "securityContext": container["securityContext"],
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    dep = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels(name)},
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": labels(name)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": {**labels(name), "spotcheck/tier": "edge" if name == "gateway" else "service"}},
                "spec": {
                    "serviceAccountName": "spotcheck",
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
                    "terminationGracePeriodSeconds": 30,
                    "initContainers": [migrate],
                    "containers": [container],
                    "volumes": volumes + [{"name": "tmp", "emptyDir": {}}, {"name": "var", "emptyDir": {}}],
                    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                   "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": labels(name)}}],
                },
            },
        },
    }
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": labels(name)},
           "spec": {"selector": labels(name), "ports": [{"name": "http", "port": port, "targetPort": "http"}]}}
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": name, "labels": labels(name)},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "minReplicas": 2, "maxReplicas": 6,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]}}
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name, "labels": labels(name)},
           "spec": {"minAvailable": 1, "selector": {"matchLabels": labels(name)}}}
    return [dep, svc, hpa, pdb]


def network_policies() -> list[dict]:
    """Default deny in; the gateway takes outside traffic; services accept the gateway and each other
    only where one calls another; NATS and PostgreSQL accept the app pods."""
    out = [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "default-deny-ingress", "labels": PART_OF},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}]
    out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "gateway-from-anywhere", "labels": PART_OF},
                "spec": {"podSelector": {"matchLabels": labels("gateway")}, "policyTypes": ["Ingress"],
                         "ingress": [{"ports": [{"protocol": "TCP", "port": GATEWAY_PORT}]}]}})
    for name in SERVICES:
        peers = [{"podSelector": {"matchLabels": labels("gateway")}}]
        peers += [{"podSelector": {"matchLabels": labels(caller)}} for caller in CALLED_BY.get(name, [])]
        out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": f"{name}-from-gateway", "labels": PART_OF},
                    "spec": {"podSelector": {"matchLabels": labels(name)}, "policyTypes": ["Ingress"],
                             "ingress": [{"from": peers, "ports": [{"protocol": "TCP", "port": SERVICES[name][1]}]}]}})
    app_pods = {"podSelector": {"matchLabels": PART_OF}}
    out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "nats-from-app", "labels": PART_OF},
                "spec": {"podSelector": {"matchLabels": labels("nats")}, "policyTypes": ["Ingress"],
                         "ingress": [{"from": [app_pods], "ports": [{"protocol": "TCP", "port": 4222}]},
                                     {"from": [{"podSelector": {"matchLabels": labels("nats")}}],
                                      "ports": [{"protocol": "TCP", "port": 6222}]}]}})
    out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "postgres-from-app", "labels": PART_OF},
                "spec": {"podSelector": {"matchLabels": {"cnpg.io/cluster": "spotcheck-pg"}}, "policyTypes": ["Ingress"],
                         "ingress": [{"from": [app_pods], "ports": [{"protocol": "TCP", "port": 5432}]},
                                     # the CloudNativePG operator and the instances' own replication
                                     {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "cnpg-system"}}},
                                               {"podSelector": {"matchLabels": {"cnpg.io/cluster": "spotcheck-pg"}}}],
                                      "ports": [{"protocol": "TCP", "port": 5432}, {"protocol": "TCP", "port": 8000}]}]}})
    return out


NATS_CONF = """# NATS JetStream cluster of 3 (the official chart's configuration style): file storage,
# routes through the headless service; the SPOTCHECK stream is created with 3 replicas
# (SPOTCHECK_EVENTS_REPLICAS) by the first service that connects.
server_name: $POD_NAME
listen: 0.0.0.0:4222
http: 0.0.0.0:8222
lame_duck_duration: 30s
jetstream {
  store_dir: /data/jetstream
  max_file_store: 20G
  max_memory_store: 256M
}
cluster {
  name: spotcheck
  listen: 0.0.0.0:6222
  routes: [
    nats://nats-0.nats-headless:6222
    nats://nats-1.nats-headless:6222
    nats://nats-2.nats-headless:6222
  ]
}
"""


def nats() -> list[dict]:
    lab = labels("nats")
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nats-config", "labels": lab}, "data": {"nats.conf": NATS_CONF}}
    headless = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nats-headless", "labels": lab},
                "spec": {"clusterIP": "None", "publishNotReadyAddresses": True, "selector": lab,
                         "ports": [{"name": "client", "port": 4222}, {"name": "cluster", "port": 6222}, {"name": "monitor", "port": 8222}]}}
    client = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nats", "labels": lab},
              "spec": {"selector": lab, "ports": [{"name": "client", "port": 4222, "targetPort": 4222}]}}
    sts = {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "nats", "labels": lab},
        "spec": {
            "serviceName": "nats-headless", "replicas": 3, "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": lab},
            "template": {
                "metadata": {"labels": lab},
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 60,
                    "containers": [{
                        "name": "nats", "image": "nats:2.10-alpine",
                        "args": ["--config", "/etc/nats/nats.conf"],
                        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                        "ports": [{"name": "client", "containerPort": 4222}, {"name": "cluster", "containerPort": 6222},
                                  {"name": "monitor", "containerPort": 8222}],
                        "readinessProbe": {"httpGet": {"path": "/healthz?js-enabled-only=true", "port": "monitor"}, "periodSeconds": 10},
                        "livenessProbe": {"httpGet": {"path": "/healthz?js-enabled-only=true", "port": "monitor"},
                                          "initialDelaySeconds": 10, "periodSeconds": 30},
                        "lifecycle": {"preStop": {"exec": {"command": ["nats-server", "-sl=ldm=/var/run/nats/nats.pid"]}}},
                        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/nats"}, {"name": "data", "mountPath": "/data"},
                                         {"name": "pid", "mountPath": "/var/run/nats"}],
                    }],
                    "volumes": [{"name": "config", "configMap": {"name": "nats-config"}}, {"name": "pid", "emptyDir": {}}],
                    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                   "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": lab}}],
                },
            },
            "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                      "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}}}}],
        },
    }
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "nats", "labels": lab},
           "spec": {"maxUnavailable": 1, "selector": {"matchLabels": lab}}}
    return [cm, headless, client, sts, pdb]


def postgres() -> list[dict]:
    """CloudNativePG: one Cluster, one Database per service, all owned by the app role."""
    cluster = {
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": {"name": "spotcheck-pg", "labels": PART_OF},
        "spec": {
            "instances": 3,
            "imageName": "ghcr.io/cloudnative-pg/postgresql:16",
            "primaryUpdateStrategy": "unsupervised",
            "storage": {"size": "20Gi"},
            "postgresql": {"parameters": {"max_connections": "300"}},
            "bootstrap": {"initdb": {"database": db_name("gateway"), "owner": "spotcheck",
                                     "secret": {"name": "spotcheck-db-credentials"}}},
            "enableSuperuserAccess": False,
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
        },
    }
    dbs = [{"apiVersion": "postgresql.cnpg.io/v1", "kind": "Database", "metadata": {"name": db_name(n).replace("_", "-"), "labels": PART_OF},
            "spec": {"name": db_name(n), "owner": "spotcheck", "cluster": {"name": "spotcheck-pg"}, "ensure": "present"}}
           for n in SERVICES]
    return [cluster, *dbs]


def config() -> list[dict]:
    data = {
        "SPOTCHECK_MODE": "production",
        "NATS_URL": "nats://nats:4222",
        "SPOTCHECK_EVENTS_REPLICAS": "3",
        "SPOTCHECK_JWKS_URL": f"http://gateway:{GATEWAY_PORT}/.well-known/jwks.json",
        "SPOTCHECK_VAR_DIR": "/var/lib/spotcheck",
        # the gateway trusts X-Forwarded-For only from the ingress controller's addresses
        "SPOTCHECK_TRUSTED_PROXIES": "10.0.0.0/8",
    }
    data.update({f"SPOTCHECK_{n.upper()}_URL": f"http://{n}:{p}" for n, (_, p) in SERVICES.items()})
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "spotcheck", "labels": PART_OF},
          "automountServiceAccountToken": False}
    return [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "spotcheck-config", "labels": PART_OF}, "data": data}, sa]


def files() -> dict[str, list[dict]]:
    out = {"config.yaml": config(), "nats.yaml": nats(), "postgres.yaml": postgres(), "network-policies.yaml": network_policies()}
    for name in ["gateway", *SERVICES]:
        out[f"{name}.yaml"] = deployment(name)
    return out


def render() -> dict[str, str]:
    head = "# Generated by `python -m deploy.k8s.generate` from shared/topology.py: edit the generator, not this file.\n"
    rendered = {name: head + yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True, width=120) for name, docs in files().items()}
    kust = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": sorted(rendered)}
    rendered["kustomization.yaml"] = head + yaml.safe_dump(kust, sort_keys=False)
    return rendered


def main() -> int:
    BASE.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (BASE / name).write_text(text, encoding="utf-8")
    print(f"{len(render())} files written to {BASE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
