"""``bus.audit.merkle`` against the naive RFC 9162 reference, for tree sizes 0..300.

Exhaustive sweeps cover every (index, size) and (old, new) pair for the small sizes, where
the edge cases of the bit arithmetic live; hypothesis draws from the whole range 0..300.
The negative properties use distinct leaves, so a refusal can only be wrong through a
SHA-256 collision; where a "wrong" value might be legitimately accepted (a proof that is
also a correct proof for the other size), the reference decides.
"""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.audit.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from tests.unit.bus.audit.merkle_reference import (
    Reference,
    ref_leaf_hash,
    ref_node_hash,
    ref_verify_consistency,
    ref_verify_inclusion,
)

MAX_SIZE = 300
SWEEP_SIZE = 130  # every pair up to here; the pure module is O(n) per proof


@cache
def tree(size: int) -> tuple[list[bytes], Reference]:
    """Distinct leaves 0..size-1 and the reference over them (shared across tests)."""
    leaves = [ref_leaf_hash(i.to_bytes(2, "big")) for i in range(size)]
    return leaves, Reference(leaves)


def flip(data: bytes, position: int) -> bytes:
    """``data`` with one bit of the byte at ``position`` flipped."""
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


sizes = st.integers(min_value=1, max_value=MAX_SIZE)


@st.composite
def index_and_size(draw: st.DrawFn) -> tuple[int, int]:
    """A tree size in 1..300 and a leaf index inside it."""
    size = draw(sizes)
    return draw(st.integers(0, size - 1)), size


@st.composite
def old_and_new(draw: st.DrawFn) -> tuple[int, int]:
    """Two tree sizes 0 < old <= new <= 300."""
    new = draw(sizes)
    return draw(st.integers(1, new)), new


@given(st.binary(), st.binary(max_size=40), st.binary(max_size=40))
def test_hashes_match_the_reference(entry: bytes, left: bytes, right: bytes) -> None:
    """leaf_hash and node_hash are RFC 9162's, for any bytes."""
    assert leaf_hash(entry) == ref_leaf_hash(entry)
    assert node_hash(left, right) == ref_node_hash(left, right)


@pytest.mark.parametrize("size", range(MAX_SIZE + 1))
def test_roots_match_the_reference(size: int) -> None:
    """root() is MTH for every size 0..300 (the empty tree's root is SHA-256 of nothing)."""
    leaves, ref = tree(size)
    assert root(leaves) == ref.root(size)
    assert (root(leaves) == EMPTY_ROOT) is (size == 0)


def test_every_inclusion_proof_up_to_the_sweep_size() -> None:
    """For every index of every size 1..130: the RFC's proof, accepted by both verifiers."""
    for size in range(1, SWEEP_SIZE + 1):
        leaves, ref = tree(size)
        r = ref.root(size)
        for index in range(size):
            proof = inclusion_proof(leaves, index)
            assert proof == ref.inclusion(index, size), (index, size)
            assert verify_inclusion(leaves[index], index, size, proof, r), (index, size)
            assert ref_verify_inclusion(leaves[index], index, size, proof, r), (index, size)


def test_every_consistency_proof_up_to_the_sweep_size() -> None:
    """For every 0 < old <= new <= 130: the RFC's proof, accepted by both verifiers."""
    for new in range(1, SWEEP_SIZE + 1):
        leaves, ref = tree(new)
        for old in range(1, new + 1):
            proof = consistency_proof(leaves, old)
            assert proof == ref.consistency(old, new), (old, new)
            assert verify_consistency(old, new, ref.root(old), ref.root(new), proof)
            if old < new:
                assert ref_verify_consistency(old, new, ref.root(old), ref.root(new), proof)


@given(index_and_size())
def test_inclusion_proofs_match_the_reference(case: tuple[int, int]) -> None:
    """Any (index, size) up to 300: the RFC's proof, and it verifies."""
    index, size = case
    leaves, ref = tree(size)
    proof = inclusion_proof(leaves, index)
    assert proof == ref.inclusion(index, size)
    assert verify_inclusion(leaves[index], index, size, proof, ref.root(size))


@given(old_and_new())
def test_consistency_proofs_match_the_reference(case: tuple[int, int]) -> None:
    """Any 0 < old <= new <= 300: the RFC's proof, and it verifies."""
    old, new = case
    leaves, ref = tree(new)
    proof = consistency_proof(leaves, old)
    assert proof == ref.consistency(old, new)
    assert verify_consistency(old, new, ref.root(old), ref.root(new), proof)


@given(index_and_size(), st.data())
def test_tampered_inclusion_is_refused(case: tuple[int, int], data: st.DataObject) -> None:
    """A flipped bit in proof, root or leaf; a truncated or extended proof: all refused."""
    index, size = case
    leaves, ref = tree(size)
    proof, r, leaf = ref.inclusion(index, size), ref.root(size), leaves[index]
    position = data.draw(st.integers(0, HASH_SIZE - 1), label="byte")
    assert not verify_inclusion(leaf, index, size, proof, flip(r, position))
    assert not verify_inclusion(flip(leaf, position), index, size, proof, r)
    assert not verify_inclusion(leaf, index, size, [*proof, r], r)
    assert not verify_inclusion(leaf, index, size, [r, *proof], r)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1), label="element")
        tampered = [*proof[:i], flip(proof[i], position), *proof[i + 1 :]]
        assert not verify_inclusion(leaf, index, size, tampered, r)
        assert not verify_inclusion(leaf, index, size, proof[:-1], r)
        assert not verify_inclusion(leaf, index, size, proof[1:], r)


@given(index_and_size(), st.data())
def test_inclusion_at_another_index_or_size(case: tuple[int, int], data: st.DataObject) -> None:
    """A proof verifies at another index or size only if it *is* the proof there.

    A proof for (index, size) can coincide with the proof for another tree size (the
    verifier takes the size on trust, with the root of the checkpoint); the reference
    decides which.
    """
    index, size = case
    leaves, ref = tree(size)
    proof = ref.inclusion(index, size)
    if size > 1:
        other_index = data.draw(st.integers(0, size - 2), label="other index")
        other_index += other_index >= index  # any index but this one
        assert not verify_inclusion(leaves[index], other_index, size, proof, ref.root(size))
    if index + 1 <= MAX_SIZE - 1:  # else the index's only tree size up to MAX_SIZE is size
        other_size = data.draw(st.integers(index + 1, MAX_SIZE - 1), label="other size")
        other_size += other_size >= size  # any size holding the index but this one
        _, other_ref = tree(other_size)
        other_root = other_ref.root(other_size)
        expected = proof == other_ref.inclusion(index, other_size)
        assert verify_inclusion(leaves[index], index, other_size, proof, other_root) is expected
    # Out of range at the other end: the index equals the size.
    assert not verify_inclusion(leaves[index], index, index, proof, ref.root(size))


@given(old_and_new(), st.data())
def test_tampered_consistency_is_refused(case: tuple[int, int], data: st.DataObject) -> None:
    """Flipped bits, swapped or wrong roots, truncated or extended proofs: all refused."""
    old, new = case
    _, ref = tree(new)
    proof, r1, r2 = ref.consistency(old, new), ref.root(old), ref.root(new)
    position = data.draw(st.integers(0, HASH_SIZE - 1), label="byte")
    if old == new:
        assert not verify_consistency(old, new, r1, flip(r2, position), proof)
        assert not verify_consistency(old, new, r1, r2, [r1])
        return
    assert not verify_consistency(old, new, flip(r1, position), r2, proof)
    assert not verify_consistency(old, new, r1, flip(r2, position), proof)
    assert not verify_consistency(old, new, r2, r1, proof)
    assert not verify_consistency(old, new, r1, r2, [])
    assert not verify_consistency(old, new, r1, r2, proof[:-1])
    assert not verify_consistency(old, new, r1, r2, [*proof, r2])
    assert not verify_consistency(old, new, r1, r2, [r1, *proof])
    i = data.draw(st.integers(0, len(proof) - 1), label="element")
    tampered = [*proof[:i], flip(proof[i], position), *proof[i + 1 :]]
    assert not verify_consistency(old, new, r1, r2, tampered)
    # A consistency proof never runs backwards.
    assert not verify_consistency(new, old, r2, r1, proof)


@given(old_and_new(), st.data())
def test_consistency_at_other_sizes(case: tuple[int, int], data: st.DataObject) -> None:
    """A proof verifies for other sizes (with their true roots) only if it is their proof."""
    old, new = case
    _, ref = tree(MAX_SIZE)
    proof = ref.consistency(old, new)
    other_old = data.draw(st.integers(1, MAX_SIZE - 1), label="other old")
    other_old += other_old >= old  # any old size but this one
    other_new = data.draw(st.integers(other_old, MAX_SIZE), label="new")
    expected = proof == ref.consistency(other_old, other_new)
    verdict = verify_consistency(
        other_old, other_new, ref.root(other_old), ref.root(other_new), proof
    )
    assert verdict is expected


not_a_hash = st.one_of(
    st.binary(max_size=HASH_SIZE - 1),
    st.binary(min_size=HASH_SIZE + 1, max_size=HASH_SIZE + 2),
    st.binary(min_size=HASH_SIZE, max_size=HASH_SIZE).map(bytearray),
    st.binary(min_size=HASH_SIZE, max_size=HASH_SIZE).map(lambda b: b.hex()),
    st.none(),
    st.integers(),
    st.lists(st.integers(0, 255), min_size=HASH_SIZE, max_size=HASH_SIZE),
)
not_a_count = st.one_of(
    st.integers(max_value=-1),
    st.integers(min_value=2**64),
    st.booleans(),
    st.floats(),
    st.sampled_from(["", "1", "0x10", "\u0663"]),
    st.none(),
    st.just(b"\x01"),
)
not_a_proof = st.one_of(
    st.none(),
    st.binary(),
    st.sampled_from(["", "proof", "\u2014"]),
    st.integers(),
    st.dictionaries(st.integers(), st.binary()),
    st.lists(not_a_hash, min_size=1, max_size=3),
    st.frozensets(st.binary(min_size=HASH_SIZE, max_size=HASH_SIZE), min_size=1),
)


@settings(max_examples=300)
@given(index_and_size(), st.integers(0, 4), st.data())
def test_inclusion_with_bad_input_is_false(
    case: tuple[int, int], slot: int, data: st.DataObject
) -> None:
    """Any argument of the wrong type or shape gives False, never an exception."""
    index, size = case
    leaves, ref = tree(size)
    args: list[object] = [leaves[index], index, size, ref.inclusion(index, size), ref.root(size)]
    strategy = [not_a_hash, not_a_count, not_a_count, not_a_proof, not_a_hash][slot]
    args[slot] = data.draw(strategy, label="bad argument")
    assert verify_inclusion(*args) is False  # type: ignore[arg-type]


@settings(max_examples=300)
@given(old_and_new(), st.integers(0, 4), st.data())
def test_consistency_with_bad_input_is_false(
    case: tuple[int, int], slot: int, data: st.DataObject
) -> None:
    """Any argument of the wrong type or shape gives False, never an exception."""
    old, new = case
    _, ref = tree(new)
    args: list[object] = [old, new, ref.root(old), ref.root(new), ref.consistency(old, new)]
    strategy = [not_a_count, not_a_count, not_a_hash, not_a_hash, not_a_proof][slot]
    args[slot] = data.draw(strategy, label="bad argument")
    assert verify_consistency(*args) is False  # type: ignore[arg-type]


def test_good_proofs_in_a_tuple_verify_and_other_containers_do_not() -> None:
    """Lists and tuples are proofs; a generator, set or dict is refused, not consumed."""
    leaves, ref = tree(5)
    proof = ref.inclusion(2, 5)
    assert verify_inclusion(leaves[2], 2, 5, tuple(proof), ref.root(5))
    assert not verify_inclusion(leaves[2], 2, 5, iter(proof), ref.root(5))  # type: ignore[arg-type]
    assert not verify_consistency(3, 3, ref.root(3), ref.root(3), {})  # type: ignore[arg-type]
    assert verify_consistency(3, 3, ref.root(3), ref.root(3), ())


def test_hash_list_of_the_right_length_but_wrong_width_is_refused() -> None:
    """A 31- or 33-byte element fails even where the chain would not look at its width."""
    leaves, ref = tree(8)
    proof = ref.inclusion(3, 8)
    for bad in (proof[1][:-1], proof[1] + b"\x00"):
        assert not verify_inclusion(leaves[3], 3, 8, [proof[0], bad, proof[2]], ref.root(8))
    cproof = ref.consistency(3, 8)
    assert not verify_consistency(3, 8, ref.root(3), ref.root(8), [*cproof[:-1], b"\x00" * 33])
    assert not verify_consistency(4, 4, ref.root(4)[:31], ref.root(4)[:31], [])
