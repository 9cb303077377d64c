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
}


def enabled_services() -> list[str]:
    """Services whose package is present (later issues add theirs to SERVICES)."""
    import importlib.util

    return [name for name, (pkg, _) in SERVICES.items() if importlib.util.find_spec(pkg + ".app") is not None]


def service_url(name: str) -> str:
    """``SPOTCHECK_<NAME>_URL`` or the local default."""
    env = os.environ.get(f"SPOTCHECK_{name.upper()}_URL")
    if env:
        return env.rstrip("/")
    return f"http://127.0.0.1:{SERVICES[name][1]}"
