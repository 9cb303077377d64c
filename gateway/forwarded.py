"""The caller's address, with ``X-Forwarded-For`` trusted only from configured proxies.

``SPOTCHECK_GATEWAY_TRUSTED_PROXIES`` lists the addresses or networks of the reverse proxies in
front of the gateway (comma-separated, e.g. ``10.0.0.5,10.1.0.0/16``); the default is none, so a
client-supplied header changes nothing. When the TCP peer is a trusted proxy, the header is read
from the right: the first address that is not itself a trusted proxy is the client. Uvicorn's own
proxy-header rewriting is switched off (``--no-proxy-headers``) so that this is the only place
that decides. Login throttling, the audit trail and the ``X-Forwarded-For`` the gateway passes
on to the services all use this address."""
from __future__ import annotations

import ipaddress
from functools import lru_cache

from fastapi import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=32)
def parse_trusted(spec: str) -> tuple[Network, ...]:
    nets = []
    for part in (spec or "").split(","):
        part = part.strip()
        if part:
            nets.append(ipaddress.ip_network(part, strict=False))
    return tuple(nets)


def _ip(text: str):
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(addr, nets: tuple[Network, ...]) -> bool:
    return addr is not None and any(addr.version == n.version and addr in n for n in nets)


def client_address(request: Request, trusted_spec: str = "") -> str | None:
    peer = request.client.host if request.client else None
    nets = parse_trusted(trusted_spec)
    if not nets or not _trusted(_ip(peer or ""), nets):
        return peer
    chain = [x.strip() for x in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if x.strip()]
    for hop in reversed(chain):
        addr = _ip(hop)
        if addr is None:
            return peer  # a garbled header from a trusted proxy: fall back to the proxy itself
        if not _trusted(addr, nets):
            return str(addr)
    return peer


def forwarded_chain(request: Request, trusted_spec: str = "") -> str | None:
    """What the gateway sends on as ``X-Forwarded-For``: the trusted part of the chain only."""
    client = client_address(request, trusted_spec)
    peer = request.client.host if request.client else None
    if client is None:
        return None
    return client if client == peer else f"{client}, {peer}"
