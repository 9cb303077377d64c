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
and ``hashlib``'s state is copied for each id (``copy()`` + ``update(id)``). The order is
decided on short numpy keys (the ticket's first ``KEY_DIGITS`` digits, computed exactly from the
digest's 64-bit limbs) with a partial selection per stratum; full tickets (a 78-digit decimal
string each) are written only to break key ties and for the selected units.
"""
from __future__ import annotations

import hashlib
import operator
from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat

import numpy as np

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


def tickets(ids: Iterable[str], seed: str) -> list[tuple[str, str]]:
    """``[(ticket, id), ...]`` for every id, in input order."""
    ids = list(ids)
    return list(zip(_fractions(_digest_list(ids, seed), range(len(ids))), ids))


# ---------------------------------------------------------------- the fast path
# Only the low decimal digits of the hash integer decide the order (the digits are reversed),
# so every id gets a short order key computed for all ids at once with numpy: the first
# KEY_DIGITS digits of its ticket, as an integer. Keys order exactly as those ticket prefixes;
# ids whose keys are equal (≈ 500 pairs on 1M ids at 9 digits) are ordered by their full ticket
# and then the id, as the reference does. Full tickets are written only for ties and output.
KEY_DIGITS = 9


def _digest_list(ids: Sequence[str], seed: str) -> list[bytes]:
    """The 32-byte SHA-256 digest of ``seed_hash + id`` for every id, in input order."""
    copy = hashlib.sha256(sha256_hex(seed).encode("ascii")).copy
    out: list[bytes] = []
    append = out.append
    for uid in ids:
        h = copy()
        h.update(uid.encode())
        append(h.digest())
    return out


def _digests(ids: Sequence[str], seed: str) -> bytes:
    """The digests of ``_digest_list`` concatenated (what the numpy order keys read)."""
    return b"".join(_digest_list(ids, seed))


_REVERSED = operator.itemgetter(slice(None, None, -1))
_PADDED = 10 ** 63  # a hash integer below this has fewer than 64 decimal digits


def _fractions(digest_list: Sequence[bytes], indices: Iterable[int]) -> Iterator[str]:
    """The tickets (``"0." + reversed zero-padded decimal``) of the digests at ``indices``, in
    that order. Written as chains of C-level ``map``s: ``(str(h) + ".0")[::-1]`` is the ticket."""
    nums = list(map(int.from_bytes, map(digest_list.__getitem__, indices), repeat("big")))
    digits: Iterable[str] = map(str, nums)
    if nums and min(nums) < _PADDED:  # (practically never) the reference zero-pads to 64 digits first
        digits = (d.zfill(64) for d in digits)
    return map(_REVERSED, map(str.__add__, digits, repeat(".0")))


def _order_keys(digests: bytes, digits: int | None = None) -> np.ndarray:
    """Per digest: its integer mod 10**digits (exact, over four 64-bit limbs), digits reversed —
    i.e. the first ``digits`` digits of the ticket read as an integer."""
    digits = digits or KEY_DIGITS
    m = 10 ** digits
    limbs = np.frombuffer(digests, dtype=">u8").reshape(-1, 4).astype(np.uint64)
    mod = np.uint64(m)
    x = np.zeros(len(limbs), dtype=np.uint64)
    for j in range(4):  # value = sum limb_j * 2**(64*(3-j)); every product stays below 1e18
        weight = np.uint64(pow(2, 64 * (3 - j), m))
        x = (x + (limbs[:, j] % mod) * weight) % mod
    rev = np.zeros_like(x)
    ten = np.uint64(10)
    for _ in range(digits):
        rev = rev * ten + x % ten
        x //= ten
    return rev


def _ticket_digits(digests: bytes, i: int) -> str:
    d = str(int.from_bytes(digests[32 * i: 32 * i + 32], "big"))
    if len(d) < 64:  # the reference zero-pads to 64 digits before reversing
        d = d.zfill(64)
    return d[::-1]


def _smallest_indices(ids: Sequence[str], digests: bytes, k: int, digits: int | None = None) -> list[int]:
    """Indices of the ``k`` smallest (ticket, id), in order: a partial selection on the keys,
    then full tickets only inside runs of equal keys."""
    n = len(ids)
    k = min(k, n)
    if k <= 0:
        return []
    keys = _order_keys(digests, digits)
    if k < n:
        kth = np.partition(keys, k - 1)[k - 1]
        cand = np.flatnonzero(keys <= kth)  # everything tied with the k-th is a candidate too
    else:
        cand = np.arange(n)
    ck = keys[cand]
    order = np.argsort(ck, kind="stable")
    cand, ck = cand[order], ck[order]
    out = cand.tolist()
    if len(ck) > 1:
        eq = np.flatnonzero(ck[1:] == ck[:-1])  # position p ties with p + 1
        if len(eq):
            starts = eq[np.r_[True, eq[1:] != eq[:-1] + 1]]
            ends = eq[np.r_[eq[1:] != eq[:-1] + 1, True]] + 2
            for a, b in zip(starts.tolist(), ends.tolist()):
                run = out[a:b]
                run.sort(key=lambda i: (_ticket_digits(digests, i), ids[i]))
                out[a:b] = run
    return out[:k]


def smallest(ids: Iterable[str], seed: str, k: int) -> list[tuple[str, str]]:
    """The ``k`` ids with the smallest tickets, in sampling order."""
    if k <= 0:
        return []
    ids = ids if isinstance(ids, list) else list(ids)
    digest_list = _digest_list(ids, seed)
    chosen = _smallest_indices(ids, b"".join(digest_list), k)
    return list(zip(_fractions(digest_list, chosen), map(ids.__getitem__, chosen)))


def ordered(ids: Iterable[str], seed: str) -> list[tuple[str, str]]:
    """Every id with its ticket, in sampling order (increasing ticket, then id)."""
    ids = ids if isinstance(ids, list) else list(ids)
    return smallest(ids, seed, len(ids))


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
