"""Roots and proofs from stored nodes, fetched in one batch (O(log n) rows).

``MerkleTree`` (``bus.audit.merkle_store``) reads nodes one by one through a synchronous
``NodeStore``; a database is asynchronous, so the index first asks which nodes a root or
proof needs (``*_nodes``), fetches exactly those in one query, then folds them here. The
ranges come from ``bus.audit.merkle``, so the result is the same as ``MerkleTree``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bus.audit.errors import MerkleError, MerkleStoreError
from bus.audit.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    LeafRange,
    consistency_ranges,
    inclusion_ranges,
    node_hash,
)
from bus.audit.merkle_store import compact_range

__all__ = [
    "NodeKey",
    "consistency_nodes",
    "fold_proof",
    "fold_root",
    "inclusion_nodes",
    "root_nodes",
]

NodeKey = tuple[int, int]


def _keys(ranges: Sequence[LeafRange]) -> set[NodeKey]:
    return {key for start, end in ranges for key in compact_range(start, end)}


def root_nodes(size: int) -> set[NodeKey]:
    """The nodes the root of the tree at ``size`` is folded from."""
    return set(compact_range(0, size))


def inclusion_nodes(index: int, size: int) -> tuple[list[LeafRange], set[NodeKey]]:
    """The proof's ranges and the nodes they need (``MerkleError`` on a bad index/size)."""
    ranges = inclusion_ranges(index, size)
    return ranges, _keys(ranges)


def consistency_nodes(old_size: int, new_size: int) -> tuple[list[LeafRange], set[NodeKey]]:
    """The consistency proof's ranges and the nodes they need."""
    ranges = consistency_ranges(old_size, new_size)
    return ranges, _keys(ranges)


def _range_hash(found: Mapping[NodeKey, bytes], start: int, end: int) -> bytes:
    hashes: list[bytes] = []
    for key in compact_range(start, end):
        value = found.get(key)
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise MerkleStoreError(f"node {key} is {'missing' if value is None else 'not a hash'}")
        hashes.append(value)
    acc = hashes.pop()
    while hashes:
        acc = node_hash(hashes.pop(), acc)
    return acc


def fold_proof(found: Mapping[NodeKey, bytes], ranges: Sequence[LeafRange]) -> list[bytes]:
    """The proof hashes for ``ranges`` from the fetched nodes."""
    return [_range_hash(found, start, end) for start, end in ranges]


def fold_root(found: Mapping[NodeKey, bytes], size: int) -> bytes:
    """The root of the tree at ``size`` from the fetched nodes."""
    if size < 0:
        raise MerkleError(f"tree size {size} is negative")
    return _range_hash(found, 0, size) if size else EMPTY_ROOT
