"""Rivest's SHA-256 consistent sampler, re-implemented for speed, ticket-for-ticket identical
to the reference ``consistent_sampler`` (PyPI, version 1.0.10) used in risk-limiting audits.

Ticket derivation (exactly as the reference):

* ``seed_hash = hex(SHA-256(UTF-8(str(seed))))`` (64 lowercase hex characters);
* first ticket of an id: ``h = SHA-256(UTF-8(seed_hash + str(id)))`` read as a big-endian
  integer, written in decimal zero-padded to at least 64 digits, the digits **reversed**,
  prefixed with ``"0."`` (so the low-order, unbiased digits come first);
* next ticket after ``x`` (sampling with replacement, not used by our draws but provided and
  tested): keep ``x``'s leading run of 9s, append the digits of
  ``sha256_uniform(x + ":" + str(i))`` for i = 1, 2, ... until the result exceeds ``x``;
* units are taken in increasing ticket order; ties (only possible on a SHA-256 collision)
  break on the id, exactly as the reference's tuple ordering does. Tickets are compared as strings of the form
  ``0.ddd…``, which for these fixed-form fractions is the same as comparing them as decimals.

Speed: the seed hash is exactly one 64-byte SHA-256 block, so its compression is done once
and ``hashlib``'s state is copied for each id (``copy()`` + ``update(id)``), and the integer
is converted with ``int.from_bytes`` instead of a hex round-trip.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

ALGORITHM = "sha256-consistent-sampler"
ALGORITHM_VERSION = "1 (ticket-compatible with consistent_sampler 1.0.10 by R. L. Rivest)"


def sha256_hex(value: object) -> str:
    return hashlib.sha256(str(value).encode("utf-8")).hexdigest()


def _fraction_of_digest(digest: bytes) -> str:
    return "0." + format(int.from_bytes(digest, "big"), "064d")[::-1]


def sha256_uniform(value: object) -> str:
    """SHA-256 of ``str(value)`` as a decimal fraction in (0, 1) (reversed decimal digits)."""
    return _fraction_of_digest(hashlib.sha256(str(value).encode("utf-8")).digest())


def first_fraction(unit_id: object, seed: object, seed_hash: str | None = None) -> str:
    """Generation-1 ticket of ``unit_id`` under ``seed``."""
    if seed_hash is None:
        seed_hash = sha256_hex(seed)
    return sha256_uniform(seed_hash + str(unit_id))


def next_fraction(x: str) -> str:
    """The next (larger) ticket after ``x``, as the reference's ``next_fraction``."""
    if not x.startswith("0."):
        raise ValueError("ticket must look like 0.ddd")
    x0 = x + "0"
    first_non_9 = next(i for i in range(2, len(x0)) if x0[i] < "9")
    y, i = "0.", 0
    while y <= x0:
        i += 1
        y = x0[:first_non_9] + sha256_uniform(x + ":" + str(i))[2:]
    return y


def trim(x: str, digits: int = 9) -> str:
    """Display form used by the reference (``digits`` significant digits after leading 9s)."""
    x0 = x + "0"
    first_non_9 = next(i for i in range(2, len(x0)) if x0[i] < "9")
    return x[: first_non_9 + digits]


def _reversed_digits(ids: Sequence[str], seed: str) -> list[str]:
    """The digits of each id's first ticket (the part after ``0.``), in input order."""
    base = hashlib.sha256(sha256_hex(seed).encode("ascii"))
    copy = base.copy
    from_bytes = int.from_bytes
    out: list[str] = []
    append = out.append
    for uid in ids:
        h = copy()
        h.update(uid.encode("utf-8"))
        d = str(from_bytes(h.digest(), "big"))
        if len(d) < 64:  # the reference zero-pads to 64 digits before reversing
            d = d.zfill(64)
        append(d[::-1])
    return out


def tickets(ids: Iterable[str], seed: str) -> list[tuple[str, str]]:
    """``[(ticket, id), ...]`` for every id, in input order."""
    ids = list(ids)
    return [("0." + d, uid) for d, uid in zip(_reversed_digits(ids, seed), ids)]


def _sorted_keys(ids: Iterable[str], seed: str) -> list[str]:
    """``digits + " " + id`` per id, sorted. Comparing these strings orders exactly as the
    reference compares ``("0." + digits, id)`` tuples: a space sorts below every digit, so a
    shorter ticket that is a prefix of a longer one still comes first, and equal tickets (only
    possible on a SHA-256 collision, a ticket being a one-to-one rewriting of the digest) fall
    back to the id. One flat list of strings sorts far faster than tuples or an index."""
    base = hashlib.sha256(sha256_hex(seed).encode("ascii"))
    copy = base.copy
    from_bytes = int.from_bytes
    keys: list[str] = []
    append = keys.append
    for uid in ids:
        h = copy()
        h.update(uid.encode("utf-8"))
        # the reference zero-pads to 64 digits before reversing; padding only appends zeros to
        # the reversed digits, which never changes the order here, so it is done in _split
        append(str(from_bytes(h.digest(), "big"))[::-1] + " " + uid)
    keys.sort()
    return keys


def _split(keys: list[str]) -> list[tuple[str, str]]:
    out = []
    append = out.append
    for k in keys:
        d, _, uid = k.partition(" ")
        if len(d) < 64:  # ~1e-14 of ids
            d = d.ljust(64, "0")
        append(("0." + d, uid))
    return out


def ordered(ids: Iterable[str], seed: str) -> list[tuple[str, str]]:
    """Every id with its ticket, in sampling order (increasing ticket, then id)."""
    return _split(_sorted_keys(ids, seed))


def smallest(ids: Iterable[str], seed: str, k: int) -> list[tuple[str, str]]:
    """The ``k`` ids with the smallest tickets, in sampling order."""
    if k <= 0:
        return []
    return _split(_sorted_keys(ids, seed)[:k])


def draw_strata(strata: dict[str, Sequence[str]], quotas: dict[str, int], seed: str) -> dict[str, list[tuple[str, str]]]:
    """Per stratum, the ``quotas[s]`` units with the smallest tickets, in sampling order."""
    return {name: smallest(ids, seed, quotas.get(name, 0)) for name, ids in strata.items()}


def effective_seed(seed: str, beacon: str | None) -> str:
    """The string given to the sampler: the dice seed, or ``seed + "," + beacon`` when a public
    randomness-beacon value was recorded (both as entered, as text)."""
    return f"{seed},{beacon}" if beacon else seed


__all__ = [
    "ALGORITHM", "ALGORITHM_VERSION", "sha256_hex", "sha256_uniform", "first_fraction", "next_fraction",
    "trim", "tickets", "ordered", "smallest", "draw_strata", "effective_seed",
]
