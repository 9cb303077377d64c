"""RSA signing keys and their JWKS. The gateway signs; every service verifies."""
from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def generate_private_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(private_pem: bytes) -> dict:
    key = serialization.load_pem_private_key(private_pem, password=None)
    pub = key.public_key()
    numbers = pub.public_numbers()
    der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = hashlib.sha256(der).hexdigest()[:16]
    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": _b64(numbers.n), "e": _b64(numbers.e)}


def public_pem(private_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(private_pem, password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_or_create(key_dir: Path) -> tuple[bytes, dict]:
    """Demo/dev: keep a private key in ``key_dir`` and a ``jwks.json`` beside it for services."""
    key_dir.mkdir(parents=True, exist_ok=True)
    pem_path = key_dir / "jwt-private.pem"
    if not pem_path.exists():
        pem = generate_private_pem()
        tmp = pem_path.with_suffix(".tmp")
        tmp.write_bytes(pem)
        os.chmod(tmp, 0o600)
        tmp.replace(pem_path)
    pem = pem_path.read_bytes()
    jwk = public_jwk(pem)
    jwks_path = key_dir / "jwks.json"
    doc = {"keys": [jwk]}
    if not jwks_path.exists() or json.loads(jwks_path.read_text()) != doc:
        tmp = jwks_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc))
        tmp.replace(jwks_path)
    return pem, jwk
