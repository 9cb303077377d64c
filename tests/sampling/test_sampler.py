"""The fast sampler agrees with Rivest's reference ``consistent_sampler`` ticket for ticket."""
from __future__ import annotations

import hashlib

import numpy as np
from consistent_sampler import consistent_sampler as ref
from hypothesis import given, settings
from hypothesis import strategies as st

from services.sampling import sampler

ids_strategy = st.lists(st.text(min_size=1, max_size=24), min_size=1, max_size=60, unique=True)
seed_strategy = st.text(alphabet="0123456789", min_size=20, max_size=40)


@settings(max_examples=150, deadline=None)
@given(ids=ids_strategy, seed=seed_strategy)
def test_first_tickets_equal_reference(ids, seed):
    seed_hash = ref.sha256_hex(seed)
    for ticket, uid in sampler.tickets(ids, seed):
        assert ticket == ref.first_fraction(uid, seed, seed_hash)


@settings(max_examples=100, deadline=None)
@given(ids=ids_strategy, seed=seed_strategy, k=st.integers(min_value=0, max_value=70))
def test_sampling_order_equals_reference(ids, seed, k):
    expected = [(t, i) for t, i, _g in ref.sampler(ids, seed, take=k, digits=80)]
    assert sampler.smallest(ids, seed, k) == expected
    assert [(sampler.trim(t), i) for t, i in sampler.ordered(ids, seed)] == [(t, i) for t, i, _g in ref.sampler(ids, seed)]


@settings(max_examples=100, deadline=None)
@given(x=st.text(alphabet="0123456789", min_size=1, max_size=80), nines=st.integers(0, 5))
def test_next_fraction_equals_reference(x, nines):
    ticket = "0." + "9" * nines + x
    assert sampler.next_fraction(ticket) == ref.next_fraction(ticket)
    assert sampler.next_fraction(ticket) > ticket


def test_with_replacement_chain_matches_reference():
    seed = "01382438112797316654"
    t = sampler.first_fraction("AB-130", seed)
    assert t == ref.first_fraction("AB-130", seed)
    chain_ref = ref.first_ticket("AB-130", seed)
    for _ in range(5):
        t, chain_ref = sampler.next_fraction(t), ref.next_ticket(chain_ref)
        assert t == chain_ref.ticket_number


def test_documented_reference_examples():
    assert sampler.first_fraction("AB-130", "01382438112797316654") == (
        "0.26299714122838008416507544297546663599715395525154425586041245287750224561854")
    got = [(sampler.trim(t), i) for t, i in sampler.ordered(["ab-1", "ab-2", "cd-1", "ef-3"], "314159")]
    assert got == [("0.317685817", "cd-1"), ("0.832984519", "ef-3"), ("0.9098039269", "ab-1"), ("0.9231549043", "ab-2")]


def test_beacon_mixing_rule():
    assert sampler.effective_seed("12345678901234567890", None) == "12345678901234567890"
    assert sampler.effective_seed("12345678901234567890", "beacon-77") == "12345678901234567890,beacon-77"


def test_short_digests_are_padded_like_the_reference():
    # a digest below 10**63 has fewer than 64 decimal digits; the reference pads before reversing
    digest = (12345).to_bytes(32, "big")
    assert sampler._fraction_of_digest(digest) == "0." + format(12345, "064d")[::-1]
    assert sampler._ticket_digits(digest, 0) == format(12345, "064d")[::-1]
    assert int(sampler._order_keys(digest)[0]) == int(format(12345, "064d")[::-1][: sampler.KEY_DIGITS])
    # the bulk ticket writer pads too, and leaves full-length tickets alone in the same batch
    full = bytes(range(1, 33))
    assert list(sampler._fractions([digest, full, digest], [1, 0, 2])) == [
        sampler._fraction_of_digest(full), sampler._fraction_of_digest(digest), sampler._fraction_of_digest(digest)]
    assert sampler._tickets_of(digest + full + digest, np.array([1, 0, 2])) == [
        sampler._fraction_of_digest(full), sampler._fraction_of_digest(digest), sampler._fraction_of_digest(digest)]


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(st.integers(min_value=0, max_value=2 ** 256 - 1),
                                 st.integers(min_value=0, max_value=10 ** 70),
                                 st.sampled_from([0, 1, 10 ** 63 - 1, 10 ** 63, 10 ** 64, 10 ** 77, 2 ** 256 - 1, 10 ** 8, 2 ** 32])),
                       min_size=1, max_size=40))
def test_the_bulk_ticket_writer_writes_what_str_writes(values):
    """The numpy writer (long division by 10**8 over 32-bit limbs) against ``str`` of the integer, the
    reference's own way: short numbers (zero-padded to 64 digits), powers of ten, the largest digest."""
    digests = [v.to_bytes(32, "big") for v in values]
    order = np.arange(len(values))[::-1].copy()
    assert sampler._tickets_of(b"".join(digests), order) == list(sampler._fractions(digests, order.tolist()))
    assert sampler._tickets_of(b"".join(digests), order) == [sampler._fraction_of_digest(digests[i]) for i in order]


def test_the_bulk_ticket_writer_over_blocks_and_the_builtin_hash():
    # more ids than one block of the writer; digests from CPython's own SHA-256 equal hashlib's (OpenSSL)
    ids = [f"9114{i:014d}" for i in range(sampler._BLOCK * 2 + 17)]
    seed_hash = sampler.sha256_hex("31415926535897932384626433")
    digests = sampler._digests(ids, "31415926535897932384626433")
    assert digests == b"".join(hashlib.sha256((seed_hash + i).encode()).digest() for i in ids)
    assert sampler._tickets_of(digests, np.arange(len(ids))) == [sampler.first_fraction(i, "", seed_hash) for i in ids]


@settings(max_examples=150, deadline=None)
@given(ids=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=120, unique=True),
       seed=seed_strategy, k=st.integers(min_value=0, max_value=130), key_digits=st.integers(min_value=1, max_value=3))
def test_forced_key_ties_still_order_like_the_reference(ids, seed, k, key_digits):
    """With 1-3 digit order keys nearly every id ties with another: the full-ticket tie-break
    (then the id) must still give the reference's selection and order, at every k."""
    old = sampler.KEY_DIGITS
    sampler.KEY_DIGITS = key_digits
    try:
        expected = [(t, i) for t, i, _g in ref.sampler(ids, seed, take=k, digits=80)]
        assert sampler.smallest(ids, seed, k) == expected
        strata = {"a": ids[::2], "b": ids[1::2]}
        quotas = {"a": k // 2, "b": k - k // 2}
        assert sampler.draw_strata(strata, quotas, seed) == {
            n: [(t, i) for t, i, _g in ref.sampler(v, seed, take=quotas[n], digits=80)] for n, v in strata.items()}
    finally:
        sampler.KEY_DIGITS = old


def test_identical_ids_in_keys_tie_exactly_like_the_reference():
    """Keys computed over the digest limbs equal the ticket's first digits for many ids."""
    ids = [f"9114{i:014d}" for i in range(2000)]
    digests = sampler._digests(ids, "271828")
    keys = sampler._order_keys(digests)
    for i, (t, uid) in enumerate(sampler.tickets(ids, "271828")):
        assert int(keys[i]) == int(t[2: 2 + sampler.KEY_DIGITS])
