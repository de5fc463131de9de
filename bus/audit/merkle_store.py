"""An append-only RFC 9162 Merkle tree over a node store: O(log n) roots and proofs.

Node ``(level, index)`` is the hash of the perfect subtree over leaves
``[index * 2**level, (index + 1) * 2**level)``. Such a subtree never changes once its last
leaf is appended, so ``append`` stores every subtree it completes (the leaf itself and one
node per level it closes: amortised two per leaf), and nothing is ever rewritten.

Any subtree that a root or proof needs, at any tree size up to the current one, is either
such a perfect node or a range on the right border that splits into at most one perfect
node per level (its "compact range"). ``MerkleTree`` therefore reads O(log n) stored hashes
for ``root``, ``inclusion_proof`` and ``consistency_proof`` and never re-hashes the leaves;
which subtrees to read comes from ``bus.audit.merkle``, so both agree by construction.

The store is a small ``NodeStore`` protocol; ``InMemoryNodeStore`` is the reference
implementation and the test double. The database store comes with the audit indexer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from bus.audit.errors import MerkleError, MerkleStoreError
from bus.audit.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MAX_TREE_SIZE,
    consistency_ranges,
    inclusion_ranges,
    node_hash,
)

__all__ = ["InMemoryNodeStore", "MerkleTree", "Node", "NodeStore", "compact_range"]


@dataclass(frozen=True, slots=True)
class Node:
    """A stored perfect-subtree hash: leaves ``[index * 2**level, (index + 1) * 2**level)``."""

    level: int
    index: int
    hash: bytes


class NodeStore(Protocol):
    """Where a ``MerkleTree`` keeps its perfect-subtree hashes."""

    def get(self, level: int, index: int) -> bytes | None:
        """The hash of node ``(level, index)``, or None if it is not stored."""
        ...

    def put(self, nodes: Sequence[Node]) -> None:
        """Store all ``nodes`` of one append, all or none (a database does it in one
        transaction, so a crash never leaves a leaf without the subtrees it completes)."""
        ...


class InMemoryNodeStore:
    """A ``NodeStore`` in a dict: for tests, tools and trees rebuilt from the topic."""

    def __init__(self) -> None:
        self._nodes: dict[tuple[int, int], bytes] = {}

    def get(self, level: int, index: int) -> bytes | None:
        """The hash of node ``(level, index)``, or None."""
        return self._nodes.get((level, index))

    def put(self, nodes: Sequence[Node]) -> None:
        """Store ``nodes``; a node already stored must keep its hash (it is append-only)."""
        for node in nodes:
            held = self._nodes.get((node.level, node.index))
            if held is not None and held != node.hash:
                raise MerkleStoreError(
                    f"node ({node.level}, {node.index}) is stored with another hash"
                )
        self._nodes.update(((n.level, n.index), n.hash) for n in nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        return (Node(level, index, h) for (level, index), h in self._nodes.items())


def compact_range(start: int, end: int) -> Iterator[tuple[int, int]]:
    """The perfect nodes ``(level, index)`` covering ``[start, end)``, left to right.

    Each step takes the largest aligned power-of-two block starting at ``start`` that fits,
    so this is the minimal cover of any range (what a store fetches in one batch).
    """
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        yield level, start >> level
        start += 1 << level


class MerkleTree:
    """An append-only RFC 9162 Merkle tree of leaf hashes kept in a ``NodeStore``.

    ``size`` is the number of leaves already in the store (the audit indexer keeps it with
    the nodes). Opening checks it cheaply: the right border of that size must be stored and
    leaf ``size`` must not, so a wrong size fails here rather than yielding wrong proofs.
    One writer per store: ``append`` is not safe against a concurrent appender.
    """

    def __init__(self, store: NodeStore, size: int = 0) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_TREE_SIZE:
            raise MerkleError(f"tree size {size!r} is not a size")
        self._store = store
        self._size = size
        # The right border (compact range of [0, size)), highest level first: exactly the
        # left siblings the next appends merge with, kept so appends read nothing.
        self._border: list[Node] = [
            Node(level, index, self._read(level, index)) for level, index in compact_range(0, size)
        ]
        if store.get(0, size) is not None:
            raise MerkleStoreError(f"the store holds more than {size} leaves")

    @property
    def size(self) -> int:
        """Number of leaves in the tree."""
        return self._size

    def append(self, leaf_hash: bytes) -> int:
        """Append a leaf (its ``leaf_hash(entry)``, not the entry); return its index."""
        if not isinstance(leaf_hash, bytes) or len(leaf_hash) != HASH_SIZE:
            raise MerkleError(f"a leaf hash is {HASH_SIZE} bytes")
        if self._size >= MAX_TREE_SIZE:
            raise MerkleError("the tree is full")
        index = self._size
        border = list(self._border)
        new = [Node(0, index, leaf_hash)]
        node = new[0]
        # While the new node is a right child, its left sibling is the border's last node:
        # merge them into the parent, which is complete now too.
        while node.index & 1:
            left = border.pop()
            node = Node(node.level + 1, node.index >> 1, node_hash(left.hash, node.hash))
            new.append(node)
        border.append(node)
        self._store.put(new)
        # Only after the store accepted the nodes, so a failed put changes nothing here.
        self._border = border
        self._size = index + 1
        return index

    def root(self, size: int) -> bytes:
        """Root hash of the tree at ``size`` (any size up to the current one)."""
        self._check_size(size)
        return self._range_hash(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Inclusion proof of leaf ``index`` in the tree at ``size``."""
        self._check_size(size)
        return [self._range_hash(a, b) for a, b in inclusion_ranges(index, size)]

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """Consistency proof from the tree at ``old_size`` to the tree at ``new_size``."""
        self._check_size(new_size)
        return [self._range_hash(a, b) for a, b in consistency_ranges(old_size, new_size)]

    # -- internals -----------------------------------------------------------------------
    def _check_size(self, size: int) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= self._size:
            raise MerkleError(f"tree size {size!r} is not in 0..{self._size}")

    def _read(self, level: int, index: int) -> bytes:
        h = self._store.get(level, index)
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            found = "missing" if h is None else "not a hash"
            raise MerkleStoreError(f"node ({level}, {index}) is {found}")
        return h

    def _range_hash(self, start: int, end: int) -> bytes:
        """MTH of leaves ``[start, end)`` from stored nodes.

        Valid for the ranges proofs are made of (``start`` is a multiple of the next power
        of two >= ``end - start``): their compact range has strictly decreasing levels, so
        folding it from the right rebuilds the RFC 9162 shape. At most one node per level.
        """
        hashes = [self._read(level, index) for level, index in compact_range(start, end)]
        acc = hashes.pop()
        while hashes:
            acc = node_hash(hashes.pop(), acc)
        return acc
