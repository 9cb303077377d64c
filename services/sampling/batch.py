"""The sampler's per-id work for all ids at once, compiled with numba, without a Python call per id:

* ``digests``: SHA-256 of ``prefix + id`` — the same digests as ``hashlib`` (FIPS 180-4, checked
  against it by the tests on ids of every length 0-200 bytes, non-ASCII included);
* ``tickets``: the reference's ticket strings of chosen digests (``"0."`` + the hash integer in
  decimal, zero-padded to 64 digits, reversed) — the same strings as ``str`` gives.

The sampler's prefix (the seed's 64-character hex hash) is exactly one SHA-256 block, so its
compression is done once (the *midstate*) and each id costs one more compression (two when the
id is 56-119 bytes long, and so on). The work is split over up to ``MAX_THREADS`` threads: the
kernel releases the GIL (``nogil``), so concurrent draws in one process are safe and nothing uses
numba's own threading layer.

Pure computation, no I/O. Without numba (``AVAILABLE`` false) the sampler hashes id by id with
``hashlib`` — the same digests, only slower.
"""
from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

AVAILABLE = importlib.util.find_spec("numba") is not None  # a dependency of the project; kept optional for a bare install

MIN_IDS = 50_000  # the sampler uses this module for a stratum of at least this many ids (hashlib below)
MAX_THREADS = max(1, min(4, os.cpu_count() or 1))
_PER_THREAD_MIN = 20_000  # below this many ids per thread, one thread is quicker

_pool: ThreadPoolExecutor | None = None


def worth_it(n: int) -> bool:
    """Whether ``n`` ids are hashed here: numba is there and the draw is large enough to repay loading it."""
    return AVAILABLE and n >= MIN_IDS


def _kernels():
    from . import batch_kernels  # numba and LLVM load here, on the first large draw
    return batch_kernels


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="sha256-batch")
    return _pool


@dataclass(frozen=True)
class Packed:
    """Ids as the kernels read them: UTF-8 bytes, one NUL after each id (``data``), and where each
    starts (``offsets``, n + 1 of them: id i is ``data[offsets[i]:offsets[i+1]-1]``)."""
    ids: Sequence[str]
    data: np.ndarray
    offsets: np.ndarray
    nul_free: bool  # no id holds a NUL itself: rows of ids can be cut at NULs again


def pack(ids: Sequence[str]) -> Packed:
    """The ids joined with NUL and the offsets found from the NULs (one pass in C, no Python call
    per id); ids that hold a NUL themselves are measured one by one."""
    n = len(ids)
    joined = "\0".join(ids).encode("utf-8")
    offsets = np.empty(n + 1, dtype=np.int64)
    offsets[0] = 0
    if joined.count(b"\0") == n - 1:
        data = np.frombuffer(joined, dtype=np.uint8)
        offsets[1:n] = np.flatnonzero(data == 0) + 1  # id i ends at its NUL; the next starts one byte later
        offsets[n] = len(joined) + 1
        return Packed(ids, data, offsets, True)
    encoded = [s.encode("utf-8") for s in ids]
    joined = b"\0".join(encoded)
    np.cumsum(np.fromiter((len(e) + 1 for e in encoded), dtype=np.int64, count=n), out=offsets[1:])
    return Packed(ids, np.frombuffer(joined, dtype=np.uint8), offsets, False)


def digests(prefix: bytes, ids: Sequence[str] | Packed, threads: int | None = None) -> bytes:
    """``b"".join(hashlib.sha256(prefix + id.encode()).digest() for id in ids)``, for a 64-byte prefix."""
    return digests_and_keys(prefix, ids, 9, threads)[0]


def digests_and_keys(prefix: bytes, ids: Sequence[str] | Packed, key_digits: int,
                     threads: int | None = None) -> tuple[bytes, np.ndarray]:
    """The digests (as ``digests``) and, per id, its order key: the hash integer mod 10**key_digits with
    the digits reversed, i.e. the ticket's first ``key_digits`` digits read as an integer."""
    if not AVAILABLE:
        raise RuntimeError("numba is not installed")
    if len(prefix) != 64:
        raise ValueError("the prefix must be exactly one SHA-256 block (64 bytes)")
    if not 1 <= key_digits <= 9:
        raise ValueError("order keys have 1 to 9 digits")
    packed = ids if isinstance(ids, Packed) else pack(ids)
    n = len(packed.offsets) - 1
    keys = np.empty(n, dtype=np.int64)
    if n == 0:
        return b"", keys
    k = _kernels()
    mid = k.midstate(np.frombuffer(prefix, dtype=np.uint8))
    out = np.empty(32 * n, dtype=np.uint8)
    _split(n, threads, lambda a, b: k.digest_range(mid, packed.data, packed.offsets, out, a, b, keys, key_digits))
    return out.tobytes(), keys


def _split(n: int, threads: int | None, work) -> list:
    """``work(start, stop)`` over 0..n, in up to ``threads`` parts run at once (the kernels release the GIL)."""
    parts = max(1, min(threads or MAX_THREADS, n // _PER_THREAD_MIN))
    if parts == 1:
        return [work(0, n)]
    bounds = [n * p // parts for p in range(parts + 1)]
    jobs = [_executor().submit(work, bounds[p], bounds[p + 1]) for p in range(parts)]
    return [job.result() for job in jobs]


def ids_at(packed: Packed, indices: np.ndarray) -> list[str]:
    """The ids at ``indices``, in that order: new strings cut from the packed bytes (reading them
    there is cheaper than touching a million scattered string objects), or taken from the list
    when an id holds a NUL."""
    n = len(indices)
    if not packed.nul_free or n == 0:
        return list(map(packed.ids.__getitem__, np.asarray(indices).tolist()))
    indices = np.ascontiguousarray(indices, dtype=np.int64)
    lengths = packed.offsets[indices + 1] - packed.offsets[indices]  # each with its NUL
    out = np.empty(int(lengths.sum()), dtype=np.uint8)
    _kernels().gather_rows(packed.data, packed.offsets, indices, out)
    return out[:-1].tobytes().decode("utf-8").split("\0")


ROW = 2 + 78 + 1  # "0." + at most 78 digits + "\n"


def tickets(digests_: bytes, indices: np.ndarray) -> list[str]:
    """The tickets of the digests (concatenated, 32 bytes each) at ``indices``, in that order."""
    if not AVAILABLE:
        raise RuntimeError("numba is not installed")
    n = len(indices)
    if n == 0:
        return []
    k = _kernels()
    data = np.frombuffer(digests_, dtype=np.uint8)
    indices = np.ascontiguousarray(indices, dtype=np.int64)

    def rows(a: int, b: int) -> bytes:
        out = np.empty(ROW * (b - a), dtype=np.uint8)
        return out[:k.ticket_rows(data, indices[a:b], out)].tobytes()

    text = b"".join(_split(n, None, rows)).decode("ascii")
    return text[:-1].split("\n")  # (the last row's newline would give an empty last string)


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernels now, not during the first large draw."""
    if AVAILABLE:
        tickets(digests(b"0" * 64, ["warm-up"]), np.zeros(1, dtype=np.int64))
