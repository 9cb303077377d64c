"""Write the merged OpenAPI document without a running stack (``make web-api`` feeds it to
openapi-typescript, so the web client's types follow the code, not whatever happens to be running).

    python -m gateway.openapi_dump web/openapi.json
"""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.settings import settings_for
from shared.topology import SERVICES, enabled_services

from .openapi import namespace_spec


def merged_document() -> dict:
    from .app import create_app
    from .settings import gateway_settings

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    memory = "sqlite+aiosqlite:///:memory:"
    gw = create_app(gateway_settings(database_url=memory), private_pem=pem, seed=False)
    doc = json.loads(json.dumps(gw.openapi()))
    doc.setdefault("components", {})
    for name in enabled_services():
        module = importlib.import_module(SERVICES[name][0] + ".app")
        app = module.create_app(settings_for(name, database_url=memory))
        paths, components = namespace_spec(name, json.loads(json.dumps(app.openapi())))
        doc["paths"].update(paths)
        for section, entries in components.items():
            doc["components"].setdefault(section, {}).update(entries)
    doc["info"]["x-services"] = enabled_services()
    return doc


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path("web/openapi.json")
    out.write_text(json.dumps(merged_document(), ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
