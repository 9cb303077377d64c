"""The numba kernels of ``batch`` (imported only when a draw is large enough to use them: numba and
LLVM cost ~150 MB of memory and a second or two to load). Pure computation, no I/O."""
from __future__ import annotations

import numpy as np
from numba import njit

_K = np.array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
], dtype=np.int64)
_IV = np.array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19],
               dtype=np.int64)
_M = 0xFFFFFFFF  # words are kept in int64 and masked to 32 bits (numba's unsigned arithmetic promotes to float)

@njit(cache=True, inline="always")
def _rotr(x, n):
    return ((x >> n) | (x << (32 - n))) & _M

@njit(cache=True, nogil=True)
def _compress(state, block, w, k):
    for t in range(16):
        w[t] = (np.int64(block[4 * t]) << 24) | (np.int64(block[4 * t + 1]) << 16) \
            | (np.int64(block[4 * t + 2]) << 8) | np.int64(block[4 * t + 3])
    for t in range(16, 64):
        x = w[t - 15]
        y = w[t - 2]
        s0 = _rotr(x, 7) ^ _rotr(x, 18) ^ (x >> 3)
        s1 = _rotr(y, 17) ^ _rotr(y, 19) ^ (y >> 10)
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) & _M
    a, b, c, d = state[0], state[1], state[2], state[3]
    e, f, g, h = state[4], state[5], state[6], state[7]
    for t in range(64):
        t1 = h + (_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)) + ((e & f) ^ ((e ^ _M) & g)) + k[t] + w[t]
        t2 = (_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))
        h = g
        g = f
        f = e
        e = (d + t1) & _M
        d = c
        c = b
        b = a
        a = (t1 + t2) & _M
    state[0] = (state[0] + a) & _M
    state[1] = (state[1] + b) & _M
    state[2] = (state[2] + c) & _M
    state[3] = (state[3] + d) & _M
    state[4] = (state[4] + e) & _M
    state[5] = (state[5] + f) & _M
    state[6] = (state[6] + g) & _M
    state[7] = (state[7] + h) & _M

@njit(cache=True, nogil=True)
def _midstate(block64, k, iv):
    state = iv.copy()
    w = np.empty(64, np.int64)
    _compress(state, block64, w, k)
    return state

@njit(cache=True, nogil=True)
def _digest_range(mid, data, offsets, out, start, stop, k, keys, key_digits):
    """Digests of ids ``start..stop-1`` (bytes ``data[offsets[i]:offsets[i+1]]``) after the one-block
    prefix whose state is ``mid``, written big-endian to ``out[32*i:32*i+32]``."""
    w = np.empty(64, np.int64)
    state = np.empty(8, np.int64)
    block = np.empty(64, np.uint8)
    for i in range(start, stop):
        a = offsets[i]
        length = offsets[i + 1] - a - 1  # ids are separated by one byte
        state[:] = mid
        pos = 0
        while length - pos >= 64:
            for j in range(64):
                block[j] = data[a + pos + j]
            _compress(state, block, w, k)
            pos += 64
        r = length - pos
        for j in range(r):
            block[j] = data[a + pos + j]
        block[r] = 0x80
        if r + 1 > 56:  # no room for the length: one more block
            for j in range(r + 1, 64):
                block[j] = 0
            _compress(state, block, w, k)
            for j in range(56):
                block[j] = 0
        else:
            for j in range(r + 1, 56):
                block[j] = 0
        bits = (64 + length) * 8  # the prefix block counts in the message length
        for j in range(8):
            block[63 - j] = (bits >> (8 * j)) & 0xFF
        _compress(state, block, w, k)
        for j in range(8):
            v = state[j]
            out[32 * i + 4 * j] = (v >> 24) & 0xFF
            out[32 * i + 4 * j + 1] = (v >> 16) & 0xFF
            out[32 * i + 4 * j + 2] = (v >> 8) & 0xFF
            out[32 * i + 4 * j + 3] = v & 0xFF
        # the order key: the hash integer mod 10**key_digits, digits reversed (the ticket's first digits);
        # mod 10⁹ first, by a constant (multiplication, not division), then the low key_digits digits
        r = np.int64(0)
        for j in range(8):  # r < 10⁹ < 2³⁰, so r·2³² + word < 2⁶³
            r = ((r << 32) | state[j]) % 1_000_000_000
        rev = np.int64(0)
        for _d in range(key_digits):
            rev = rev * 10 + r % 10
            r //= 10
        keys[i] = rev

_E9 = np.uint64(1_000_000_000)
_E4 = np.uint64(10_000)
_SH = np.uint64(32)
_ZERO = np.uint64(0)

@njit(cache=True, nogil=True)
def _ticket_rows(digests, indices, out, quads):
    """Row after row, ``0.<digits>`` + newline for each chosen digest: its integer's decimal digits
    least significant first, at least 64 of them (the reference's zero padding); returns the bytes
    used. Unsigned arithmetic throughout (division by constants becomes multiplication)."""
    limbs = np.empty(8, np.uint64)
    digits = np.empty(81, np.uint8)
    p = 0
    for n in range(len(indices)):
        base = 32 * indices[n]
        for j in range(8):
            limbs[j] = (np.uint64(digests[base + 4 * j]) << np.uint64(24)) \
                | (np.uint64(digests[base + 4 * j + 1]) << np.uint64(16)) \
                | (np.uint64(digests[base + 4 * j + 2]) << np.uint64(8)) | np.uint64(digests[base + 4 * j + 3])
        count = 0
        for _ in range(9):  # 9 × 9 digits ≥ the 78 of 2**256; rem·2³² + limb < 10⁹·2³² < 2⁶⁴
            rem = _ZERO
            for j in range(8):
                cur = (rem << _SH) | limbs[j]
                q = cur // _E9
                limbs[j] = q
                rem = cur - q * _E9
            q1 = rem // _E4  # rem < 10⁹: 4 + 4 + 1 digits, least significant first, through the table
            r = rem - q1 * _E4
            q2 = q1 // _E4
            r2 = q1 - q2 * _E4
            for t in range(4):
                digits[count + t] = quads[r, t]
                digits[count + 4 + t] = quads[r2, t]
            digits[count + 8] = np.uint8(48 + q2)
            count += 9
        while count > 64 and digits[count - 1] == 48:  # leading zeros of the number, beyond the padding
            count -= 1
        out[p] = 48  # "0"
        out[p + 1] = 46  # "."
        p += 2
        for j in range(count):
            out[p + j] = digits[j]
        p += count
        out[p] = 10  # newline
        p += 1
    return p


@njit(cache=True, nogil=True)
def gather_rows(data, offsets, indices, out):
    """The bytes of each chosen id with its NUL, one after another."""
    p = 0
    for n in range(len(indices)):
        a = offsets[indices[n]]
        b = offsets[indices[n] + 1]
        for j in range(a, b - 1):
            out[p] = data[j]
            p += 1
        out[p] = 0
        p += 1
    return p


_QUADS = np.array([list(f"{x:04d}"[::-1].encode()) for x in range(10_000)], dtype=np.uint8)  # x's 4 digits, reversed


def midstate(block64: np.ndarray) -> np.ndarray:
    """The SHA-256 state after one 64-byte block."""
    return _midstate(block64, _K, _IV)


def digest_range(mid, data, offsets, out, start: int, stop: int, keys, key_digits: int) -> None:
    _digest_range(mid, data, offsets, out, start, stop, _K, keys, key_digits)


def ticket_rows(digests, indices, out) -> int:
    return _ticket_rows(digests, indices, out, _QUADS)
