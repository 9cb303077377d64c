"""The compiled SHA-256 (services.sampling.batch) against hashlib, digest for digest."""
import hashlib

import pytest
from hypothesis import given, settings, strategies as st

from consistent_sampler import consistent_sampler as ref

from services.sampling import sampler, batch

pytestmark = pytest.mark.skipif(not batch.AVAILABLE, reason="numba not installed")

PREFIX = sampler.sha256_hex("31415926535897932384626433").encode("ascii")


def _expected(prefix: bytes, ids: list[str]) -> bytes:
    return b"".join(hashlib.sha256(prefix + i.encode("utf-8")).digest() for i in ids)


def test_every_id_length_across_the_block_and_padding_boundaries():
    # 0-200 bytes: one, two, three and four blocks after the prefix; 55/56 and 119/120 are the padding edges
    ids = ["x" * n for n in range(201)]
    assert batch.digests(PREFIX, ids) == _expected(PREFIX, ids)


def test_non_ascii_ids_are_hashed_as_utf8():
    ids = ["统一社会信用代码", "91140100MA0K 示例", "é", "𠀀" * 20, "ascii-after-non-ascii"]
    assert batch.digests(PREFIX, ids) == _expected(PREFIX, ids)


def test_split_over_threads_gives_the_same_bytes_in_input_order():
    ids = [f"9114{i:014d}" for i in range(batch._PER_THREAD_MIN * 3 + 7)]
    one = batch.digests(PREFIX, ids, threads=1)
    assert one == batch.digests(PREFIX, ids, threads=4)
    assert one[-32 * 5:] == _expected(PREFIX, ids[-5:])
    assert one[:32 * 5] == _expected(PREFIX, ids[:5])


def test_empty_input_and_a_prefix_that_is_not_one_block():
    assert batch.digests(PREFIX, []) == b""
    with pytest.raises(ValueError):
        batch.digests(b"short", ["a"])


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(st.text(max_size=90), min_size=1, max_size=40), prefix=st.binary(min_size=64, max_size=64))
def test_any_ids_and_any_prefix_equal_hashlib(ids, prefix):
    assert batch.digests(prefix, ids) == _expected(prefix, ids)


def test_the_sampler_takes_it_for_large_strata_only_and_both_paths_agree(monkeypatch):
    ids = [f"9114{i:014d}" for i in range(3000)]
    assert not batch.worth_it(len(ids)) and batch.worth_it(batch.MIN_IDS)
    slow = sampler._digests(ids, "271828")
    slow_draw = sampler.smallest(ids, "271828", 700)
    calls = []
    monkeypatch.setattr(batch, "MIN_IDS", 1)
    real = batch.digests_and_keys
    monkeypatch.setattr(batch, "digests_and_keys", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert sampler._digests(ids, "271828") == slow
    assert sampler.smallest(ids, "271828", 700) == slow_draw
    assert calls == [1, 1]
    expected = [(t, i) for t, i, _g in ref.sampler(ids, "271828", take=700, digits=80)]
    assert slow_draw == expected


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=120, unique=True),
       seed=st.text(max_size=20), k=st.integers(min_value=0, max_value=130), key_digits=st.integers(min_value=1, max_value=3))
def test_compiled_path_with_forced_key_ties_orders_like_the_reference(ids, seed, k, key_digits):
    old_min, old_digits = batch.MIN_IDS, sampler.KEY_DIGITS
    batch.MIN_IDS, sampler.KEY_DIGITS = 1, key_digits
    try:
        assert sampler.smallest(ids, seed, k) == [(t, i) for t, i, _g in ref.sampler(ids, seed, take=k, digits=80)]
    finally:
        batch.MIN_IDS, sampler.KEY_DIGITS = old_min, old_digits


def test_ids_holding_nul_are_measured_one_by_one():
    ids = ["a\0b", "\0", "plain", "", "\0\0x"]
    assert batch.digests(PREFIX, ids) == _expected(PREFIX, ids)


def test_tickets_equal_the_strings_of_str_including_short_numbers():
    import numpy as np
    # the largest, the smallest and small hash integers (fewer than 64 digits: zero-padded like the reference)
    values = [2 ** 256 - 1, 0, 1, 10 ** 63 - 1, 10 ** 63, 10 ** 64, 12345678901234567890, 2 ** 200 + 7]
    values += [int.from_bytes(hashlib.sha256(str(i).encode()).digest(), "big") for i in range(500)]
    digests = b"".join(v.to_bytes(32, "big") for v in values)
    order = np.arange(len(values))[::-1].copy()
    assert batch.tickets(digests, order) == [sampler._fraction_of_digest(v.to_bytes(32, "big")) for v in values[::-1]]
    assert batch.tickets(digests, np.zeros(0, dtype=np.int64)) == []


def test_ids_cut_back_from_the_packed_bytes_are_the_ids():
    import numpy as np
    ids = ["统一社会信用代码", "", "a\nb", "x" * 70, "", "91140100MA0K0000X1"]
    packed = batch.pack(ids)
    order = np.array([5, 1, 0, 4, 2, 3, 1])
    assert batch.ids_at(packed, order) == [ids[i] for i in order]
    assert batch.ids_at(packed, np.zeros(0, dtype=np.int64)) == []
    with_nul = batch.pack(["a\0", "b"])
    assert not with_nul.nul_free and batch.ids_at(with_nul, np.array([1, 0])) == ["b", "a\0"]


@settings(max_examples=40, deadline=None)
@given(ids=st.lists(st.text(max_size=30), min_size=1, max_size=50), digits=st.integers(min_value=1, max_value=9))
def test_order_keys_from_the_kernel_equal_numpys(ids, digits):
    digests, keys = batch.digests_and_keys(PREFIX, ids, digits)
    assert keys.tolist() == sampler._order_keys(digests, digits).astype("int64").tolist()
    assert keys.tolist() == [int(sampler._fraction_of_digest(digests[32 * i:32 * i + 32])[2:2 + digits]) for i in range(len(ids))]
