"""RFC 9162 (Certificate Transparency v2) section 2.1 Merkle tree hashing and proofs.

A pure module: SHA-256 from ``hashlib``, no I/O, no state. It works on *leaf hashes*
(``leaf_hash(entry)``), the way the audit log stores its leaves.

* Generation (``root``, ``inclusion_proof``, ``consistency_proof``) follows the recursive
  definitions of RFC 9162 sections 2.1.1, 2.1.3.1 and 2.1.4.1, unrolled into loops over
  leaf ranges. ``inclusion_ranges`` and ``consistency_ranges`` say *which* subtrees make up
  a proof; ``bus.audit.merkle_store`` hashes the same ranges from stored nodes. Invalid
  arguments raise ``MerkleError``.
* Verification (``verify_inclusion``, ``verify_consistency``) ports the bit arithmetic of
  transparency-dev/merkle ``proof/verify.go`` (RFC 9162 sections 2.1.3.2 and 2.1.4.2) and is
  as strict: every hash is exactly 32 bytes, an index outside the tree fails, a
  consistency proof from size 0 is refused, equal sizes need an empty proof and equal
  roots, a proof of the wrong length fails. Verification answers ``False`` for any input
  it cannot accept, of any type: it never raises, because its input comes from files and
  requests an attacker may have written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final, TypeGuard

from bus.audit.errors import MerkleError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "consistency_proof",
    "consistency_ranges",
    "inclusion_proof",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE: Final = 32
"""Bytes in every hash of the tree (SHA-256)."""

MAX_TREE_SIZE: Final = 2**64 - 1
"""RFC 9162 carries tree sizes as uint64; a larger size cannot be a real tree."""

EMPTY_ROOT: Final = hashlib.sha256(b"").digest()
"""The root of the empty tree: SHA-256 of the empty string (RFC 9162 section 2.1.1)."""

_LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"

LeafRange = tuple[int, int]
"""Half-open range ``[start, end)`` of leaf indices whose subtree hash is a proof element."""


# -- hashing -------------------------------------------------------------------------------
def leaf_hash(entry: bytes) -> bytes:
    """Hash of a leaf: SHA-256(0x00 || entry)."""
    # The 0x00/0x01 prefixes separate leaves from nodes, so no leaf can pass for a subtree
    # (a second-preimage attack on the tree shape).
    h = hashlib.sha256(_LEAF_PREFIX)
    h.update(entry)
    return h.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node: SHA-256(0x01 || left || right)."""
    h = hashlib.sha256(_NODE_PREFIX)
    h.update(left)
    h.update(right)
    return h.digest()


def _largest_power_of_two_below(n: int) -> int:
    """The ``k`` of RFC 9162: the largest power of two smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree_hash(hashes: Sequence[bytes]) -> bytes:
    """MTH of a non-empty list of leaf hashes.

    Pairing level by level and carrying an odd last node up unchanged builds exactly the
    RFC 9162 tree (left subtrees are always the largest power of two), without recursion.
    """
    level = list(hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _checked_leaves(leaf_hashes: Sequence[bytes]) -> Sequence[bytes]:
    for i, h in enumerate(leaf_hashes):
        if not _is_hash(h):
            raise MerkleError(f"leaf hash {i} is not {HASH_SIZE} bytes")
    return leaf_hashes


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Root hash (MTH) of the tree whose leaves have these hashes; ``EMPTY_ROOT`` if none."""
    leaves = _checked_leaves(leaf_hashes)
    return _subtree_hash(leaves) if leaves else EMPTY_ROOT


# -- which subtrees make up a proof --------------------------------------------------------
def inclusion_ranges(index: int, size: int) -> list[LeafRange]:
    """Leaf ranges whose subtree hashes form the inclusion proof of ``index`` at ``size``.

    Ordered as the proof is (bottom-up). Raises ``MerkleError`` unless ``0 <= index < size``.
    """
    if not (_is_count(index) and _is_count(size)) or index >= size:
        raise MerkleError(f"leaf index {index!r} is not in a tree of size {size!r}")
    start, end = 0, size
    path: list[LeafRange] = []
    # PATH(m, D[start:end]) of RFC 9162 2.1.3.1: descend towards the leaf, recording the
    # sibling subtree at each split; the recursion appends on the way back up, hence the
    # final reversal.
    while end - start > 1:
        split = start + _largest_power_of_two_below(end - start)
        if index < split:
            path.append((split, end))
            end = split
        else:
            path.append((start, split))
            start = split
    path.reverse()
    return path


def consistency_ranges(old_size: int, new_size: int) -> list[LeafRange]:
    """Leaf ranges whose subtree hashes form the consistency proof from old to new size.

    Ordered as the proof is. Raises ``MerkleError`` unless ``0 < old_size <= new_size``;
    equal sizes have the empty proof.
    """
    if not (_is_count(old_size) and _is_count(new_size)) or not 0 < old_size <= new_size:
        raise MerkleError(
            f"no consistency proof from size {old_size!r} to size {new_size!r}"
            " (needs 0 < old size <= new size)"
        )
    start, end, old_in_range = 0, new_size, old_size
    whole_old_tree = True  # the "b" flag of SUBPROOF: the old root itself is known
    tail: list[LeafRange] = []
    # SUBPROOF(m, D[start:end], b) of RFC 9162 2.1.4.1, unrolled like inclusion_ranges.
    while old_in_range != end - start:
        split_size = _largest_power_of_two_below(end - start)
        if old_in_range <= split_size:
            tail.append((start + split_size, end))
            end = start + split_size
        else:
            tail.append((start, start + split_size))
            start += split_size
            old_in_range -= split_size
            whole_old_tree = False
    if not whole_old_tree:
        # The old tree's last complete subtree is not its root: the verifier needs it.
        tail.append((start, end))
    tail.reverse()
    return tail


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Inclusion proof of leaf ``index`` in the tree of all ``leaf_hashes``."""
    leaves = _checked_leaves(leaf_hashes)
    return [_subtree_hash(leaves[a:b]) for a, b in inclusion_ranges(index, len(leaves))]


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """Consistency proof from the first ``old_size`` leaves to the tree of all of them."""
    leaves = _checked_leaves(leaf_hashes)
    return [_subtree_hash(leaves[a:b]) for a, b in consistency_ranges(old_size, len(leaves))]


# -- verification (never raises) -----------------------------------------------------------
def _is_hash(value: object) -> TypeGuard[bytes]:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_count(value: object) -> TypeGuard[int]:
    # bool is an int subclass; True must not pass for size 1.
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TREE_SIZE


def _hash_list(proof: object) -> list[bytes] | None:
    """The proof as a list of 32-byte hashes, or None if it is anything else."""
    # Only lists and tuples: an arbitrary Sequence could run code (and raise) on access.
    if not isinstance(proof, list | tuple):
        return None
    hashes = list(proof)
    return hashes if all(_is_hash(h) for h in hashes) else None


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    # Below the fork with the right border, the index's bits say which side the path is on.
    for i, h in enumerate(proof):
        seed = node_hash(seed, h) if (index >> i) & 1 == 0 else node_hash(h, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    # Like _chain_inner, but only left siblings count: the result is the hash this subtree
    # had in the *older* tree, where nothing to its right existed yet.
    for i, h in enumerate(proof):
        if (index >> i) & 1 == 1:
            seed = node_hash(h, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    # On the right border every sibling is to the left.
    for h in proof:
        seed = node_hash(h, seed)
    return seed


def _decompose_inclusion(index: int, size: int) -> tuple[int, int]:
    """(inner, border): proof lengths below and above where paths to index and size-1 part."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """True iff ``proof`` shows ``leaf_hash`` at ``index`` in the tree of ``tree_size``/``root``."""
    hashes = _hash_list(proof)
    if (
        hashes is None
        or not (_is_hash(leaf_hash) and _is_hash(root))
        or not (_is_count(index) and _is_count(tree_size))
        or index >= tree_size
    ):
        return False
    inner, border = _decompose_inclusion(index, tree_size)
    if len(hashes) != inner + border:
        return False
    computed = _chain_inner(leaf_hash, hashes[:inner], index)
    computed = _chain_border_right(computed, hashes[inner:])
    return computed == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True iff ``proof`` shows the tree (``new_size``, ``new_root``) extends (old, old_root).

    A proof from size 0 is refused (every tree extends the empty one; there is nothing to
    prove, and accepting it would let a caller skip a check it meant to make).
    """
    hashes = _hash_list(proof)
    if (
        hashes is None
        or not (_is_hash(old_root) and _is_hash(new_root))
        or not (_is_count(old_size) and _is_count(new_size))
        or not 0 < old_size <= new_size
    ):
        return False
    if old_size == new_size:
        return not hashes and old_root == new_root
    if not hashes:
        return False

    inner, border = _decompose_inclusion(old_size - 1, new_size)
    # The old tree's last leaf sits under a complete subtree of 2**shift leaves, which
    # both trees share: the proof starts from that subtree's hash.
    shift = (old_size & -old_size).bit_length() - 1
    inner -= shift
    if old_size == 1 << shift:
        # The old tree *is* that subtree: its root is the seed and is not in the proof.
        seed, rest = old_root, hashes
    else:
        seed, rest = hashes[0], hashes[1:]
    if len(rest) != inner + border:
        return False

    mask = (old_size - 1) >> shift
    old_computed = _chain_inner_right(seed, rest[:inner], mask)
    old_computed = _chain_border_right(old_computed, rest[inner:])
    if old_computed != old_root:
        return False
    new_computed = _chain_inner(seed, rest[:inner], mask)
    new_computed = _chain_border_right(new_computed, rest[inner:])
    return new_computed == new_root
