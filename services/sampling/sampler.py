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
and each id costs one more compression, done for all ids at once in compiled code over several
threads (``batch``, numba; checked digest for digest against ``hashlib``). Without numba
the hash state is copied for each id (``copy()`` + ``update(id)``; CPython's own SHA-256,
whose objects copy far more cheaply than OpenSSL 3's). The selected units' tickets are written
for all of them at once with numpy (exact long division by 10⁸, reversed digits from a table). The order is
decided on short numpy keys (the ticket's first ``KEY_DIGITS`` digits, computed exactly from the
digest's 64-bit limbs) with a partial selection per stratum; full tickets (a 78-digit decimal
string each) are written only to break key ties and for the selected units.
"""
from __future__ import annotations

import hashlib
import operator
import sys
from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat

import numpy as np

from . import batch

try:  # CPython's own SHA-256 (``_sha2`` from 3.12, ``_sha256`` before): the same digests as OpenSSL's, but its
    from _sha2 import sha256 as _sha256_fast  # objects are far cheaper to copy than OpenSSL 3's EVP contexts,
except ImportError:  # which is what a one-block-per-id loop pays for
    try:
        from _sha256 import sha256 as _sha256_fast
    except ImportError:  # pragma: no cover - a Python built without it
        _sha256_fast = hashlib.sha256

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
    return list(zip(_tickets_of(_digests(ids, seed), np.arange(len(ids))), ids))


# ---------------------------------------------------------------- the fast path
# Only the low decimal digits of the hash integer decide the order (the digits are reversed),
# so every id gets a short order key computed for all ids at once with numpy: the first
# KEY_DIGITS digits of its ticket, as an integer. Keys order exactly as those ticket prefixes;
# ids whose keys are equal (≈ 500 pairs on 1M ids at 9 digits) are ordered by their full ticket
# and then the id, as the reference does. Full tickets are written only for ties and output.
KEY_DIGITS = 9


def _digest_list(ids: Sequence[str], seed: str) -> list[bytes]:
    """The 32-byte SHA-256 digest of ``seed_hash + id`` for every id, in input order."""
    copy = _sha256_fast(sha256_hex(seed).encode("ascii")).copy
    out: list[bytes] = []
    append = out.append
    for uid in ids:
        h = copy()
        h.update(uid.encode())
        append(h.digest())
    return out


def _digests(ids: Sequence[str], seed: str) -> bytes:
    """The digests of ``_digest_list`` concatenated (what the numpy order keys read): compiled and
    over several threads with numba (``batch``), id by id with ``hashlib`` without it."""
    if batch.worth_it(len(ids)):
        return batch.digests(sha256_hex(seed).encode("ascii"), ids)
    return b"".join(_digest_list(ids, seed))


_REVERSED = operator.itemgetter(slice(None, None, -1))
_PADDED = 10 ** 63  # a hash integer below this has fewer than 64 decimal digits


def _fractions(digest_list: Sequence[bytes], indices: Iterable[int]) -> Iterator[str]:
    """The tickets (``"0." + reversed zero-padded decimal``) of the digests at ``indices``, in
    that order, one at a time with ``str`` (the reference's own way): ``(str(h) + ".0")[::-1]``."""
    nums = list(map(int.from_bytes, map(digest_list.__getitem__, indices), repeat("big")))
    digits: Iterable[str] = map(str, nums)
    if nums and min(nums) < _PADDED:  # (practically never) the reference zero-pads to 64 digits first
        digits = (d.zfill(64) for d in digits)
    return map(_REVERSED, map(str.__add__, digits, repeat(".0")))


# Many tickets at once: the 256-bit integers (eight 32-bit limbs each) are divided by 10**8 in
# exact uint64 long division, column-wise for all of them, and every 4 decimal digits are written
# through a table that holds them already reversed; the rows are split into strings at the end.
# Blocks of a few thousand keep the working arrays in the CPU cache.
_QUAD = np.array([int.from_bytes(f"{x:04d}"[::-1].encode(), sys.byteorder) for x in range(10_000)], dtype=np.uint32)
_ROW_END = np.uint32(int.from_bytes(b"000\n", sys.byteorder))  # the zeros are stripped like any leading zeros
_E8, _E4, _BITS = np.uint64(10 ** 8), np.uint64(10 ** 4), np.uint64(32)
_BLOCK = 16_384


def _tickets_of(digests: bytes, indices: np.ndarray) -> list[str]:
    """Same strings as ``_fractions`` for the digests (concatenated) at ``indices``, in that order:
    compiled with numba (``batch.tickets``), else with the numpy writer below."""
    if batch.worth_it(len(digests) // 32):
        return batch.tickets(digests, indices)
    return _tickets_numpy(digests, indices)


def _tickets_numpy(digests: bytes, indices: np.ndarray) -> list[str]:
    out: list[str] = []
    for a in range(0, len(indices), _BLOCK):
        out += _ticket_block(digests, indices[a:a + _BLOCK])
    return out


def _ticket_block(digests: bytes, indices: np.ndarray) -> list[str]:
    n = len(indices)
    if n == 0:
        return []
    limbs = np.frombuffer(digests, dtype=">u4").reshape(-1, 8)[indices].astype(np.uint64).T.copy()  # most significant first
    quads = np.empty((21, n), dtype=np.uint32)  # 20 × 4 digits, least significant first, then "000\n"
    quads[20] = _ROW_END
    cur, rem, tmp, high = (np.empty(n, dtype=np.uint64) for _ in range(4))
    first, col = 0, 0
    while col < 20:  # 80 digits ≥ the 78 of 2**256
        rem.fill(0)
        for j in range(first, 8):  # (rem·2³² + limb) < 10⁸·2³² < 2⁶⁰: exact in uint64
            np.left_shift(rem, _BITS, out=cur)
            np.bitwise_or(cur, limbs[j], out=cur)
            np.floor_divide(cur, _E8, out=limbs[j])
            np.multiply(limbs[j], _E8, out=tmp)
            np.subtract(cur, tmp, out=rem)
        while first < 8 and not limbs[first].any():
            first += 1
        np.floor_divide(rem, _E4, out=high)
        np.multiply(high, _E4, out=tmp)
        np.subtract(rem, tmp, out=tmp)
        np.take(_QUAD, tmp, out=quads[col])
        np.take(_QUAD, high, out=quads[col + 1])
        col += 2
        if first == 8:  # nothing left: the remaining digits are leading zeros
            quads[col:20] = _QUAD[0]
            break
    rows = quads.T.copy().tobytes().decode("ascii").split("\n")
    rows.pop()
    # the last digit of a row is the number's first, never 0: stripping zeros removes exactly the leading zeros
    tickets = list(map(str.__add__, repeat("0."), map(str.rstrip, rows, repeat("0"))))
    if min(map(len, tickets)) < 66:  # (practically never) the reference zero-pads to 64 digits
        tickets = [t.ljust(66, "0") for t in tickets]
    return tickets


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


def _smallest_indices(ids: Sequence[str], digests: bytes, k: int, digits: int | None = None,
                      keys: np.ndarray | None = None) -> np.ndarray:
    """Indices of the ``k`` smallest (ticket, id), in order: a partial selection on the keys (given,
    or computed here), then full tickets only inside runs of equal keys."""
    n = len(ids)
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.intp)
    if keys is None:
        keys = _order_keys(digests, digits)
    if k < n:
        kth = np.partition(keys, k - 1)[k - 1]
        cand = np.flatnonzero(keys <= kth)  # everything tied with the k-th is a candidate too
    else:
        cand = np.arange(n)
    ck = keys[cand]
    order = np.argsort(ck, kind="stable")
    cand, ck = cand[order], ck[order]
    if len(ck) > 1:
        eq = np.flatnonzero(ck[1:] == ck[:-1])  # position p ties with p + 1
        if len(eq):
            starts = eq[np.r_[True, eq[1:] != eq[:-1] + 1]]
            ends = eq[np.r_[eq[1:] != eq[:-1] + 1, True]] + 2
            for a, b in zip(starts.tolist(), ends.tolist()):
                run = cand[a:b].tolist()
                run.sort(key=lambda i: (_ticket_digits(digests, i), ids[i]))
                cand[a:b] = run
    return cand[:k]


def smallest(ids: Iterable[str], seed: str, k: int) -> list[tuple[str, str]]:
    """The ``k`` ids with the smallest tickets, in sampling order."""
    if k <= 0:
        return []
    ids = ids if isinstance(ids, list) else list(ids)
    if batch.worth_it(len(ids)):  # a large stratum: compiled, for all ids at once
        packed = batch.pack(ids)
        digests, keys = batch.digests_and_keys(sha256_hex(seed).encode("ascii"), packed, KEY_DIGITS)
        chosen = _smallest_indices(ids, digests, k, keys=keys)
        return list(zip(batch.tickets(digests, chosen), batch.ids_at(packed, chosen)))
    digests = b"".join(_digest_list(ids, seed))
    chosen = _smallest_indices(ids, digests, k)
    return list(zip(_tickets_numpy(digests, chosen), map(ids.__getitem__, chosen.tolist())))


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
