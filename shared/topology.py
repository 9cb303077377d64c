"""Which services exist, their python packages and default ports (the launcher and the
gateway's routing table read this)."""
from __future__ import annotations

import os

GATEWAY_PORT = 8000

# name -> (python package, default port)
SERVICES: dict[str, tuple[str, int]] = {
    "registry": ("services.registry", 8101),
    "sampling": ("services.sampling", 8102),
    "scheduling": ("services.scheduling", 8103),
    "inspection": ("services.inspection", 8104),
    "rectification": ("services.rectification", 8105),
    "disclosure": ("services.disclosure", 8106),
    "risk": ("services.risk", 8107),
}

# The order work flows in (the demo campaign runs its steps in this order).
FLOW_ORDER = ["registry", "sampling", "scheduling", "inspection", "rectification", "disclosure", "risk"]


def enabled_services() -> list[str]:
    """Services whose package is present (later issues add theirs to SERVICES)."""
    import importlib.util

    def present(pkg: str) -> bool:
        try:
            return importlib.util.find_spec(pkg + ".app") is not None
        except ModuleNotFoundError:
            return False

    return [name for name, (pkg, _) in SERVICES.items() if present(pkg)]


def service_port(name: str) -> int:
    """``SPOTCHECK_<NAME>_PORT`` or the default port (``GATEWAY_PORT`` for the gateway)."""
    if name == "gateway":
        return int(os.environ.get("GATEWAY_PORT", GATEWAY_PORT))
    return int(os.environ.get(f"SPOTCHECK_{name.upper()}_PORT", SERVICES[name][1]))


def service_urls(name: str) -> list[str]:
    """Every replica of a service: ``SPOTCHECK_<NAME>_URL`` may list several, comma-separated."""
    env = os.environ.get(f"SPOTCHECK_{name.upper()}_URL")
    if env:
        urls = [u.strip().rstrip("/") for u in env.split(",") if u.strip()]
        if urls:
            return urls
    return [f"http://127.0.0.1:{service_port(name)}"]


def service_url(name: str) -> str:
    """``SPOTCHECK_<NAME>_URL``, else the local default on ``service_port(name)``."""
    return service_urls(name)[0]
