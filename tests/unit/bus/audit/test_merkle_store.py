"""``MerkleTree`` over a node store: same answers as the pure module, O(log n) reads."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.audit import merkle
from bus.audit.errors import MerkleError, MerkleStoreError
from bus.audit.merkle import EMPTY_ROOT, leaf_hash, node_hash
from bus.audit.merkle_store import InMemoryNodeStore, MerkleTree, Node, compact_range

MAX_SIZE = 130


class CountingStore:
    """An ``InMemoryNodeStore`` that counts reads: proof cost, measured without a clock."""

    def __init__(self) -> None:
        self.inner = InMemoryNodeStore()
        self.reads = 0

    def get(self, level: int, index: int) -> bytes | None:
        """Count, then read."""
        self.reads += 1
        return self.inner.get(level, index)

    def put(self, nodes: Sequence[Node]) -> None:
        """Write through."""
        self.inner.put(nodes)


class FailingStore(InMemoryNodeStore):
    """A store whose writes fail, like a database that lost its connection."""

    def put(self, nodes: Sequence[Node]) -> None:
        """Refuse."""
        raise OSError("database went away")


def leaves(n: int) -> list[bytes]:
    """Distinct leaf hashes 0..n-1."""
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


LEAVES = leaves(MAX_SIZE)


@pytest.fixture(scope="module")
def full_tree() -> MerkleTree:
    """A stored tree of MAX_SIZE leaves, shared: the tests only read it."""
    tree = MerkleTree(InMemoryNodeStore())
    for i, h in enumerate(LEAVES):
        assert tree.append(h) == i
    return tree


def test_roots_of_every_size_match_the_pure_module(full_tree: MerkleTree) -> None:
    """root(size) for every size 0..130 equals merkle.root of the first `size` leaves."""
    assert full_tree.size == MAX_SIZE
    for size in range(MAX_SIZE + 1):
        assert full_tree.root(size) == merkle.root(LEAVES[:size]), size
    assert full_tree.root(0) == EMPTY_ROOT


def test_every_inclusion_proof_matches_the_pure_module(full_tree: MerkleTree) -> None:
    """inclusion_proof(index, size) for every index of every size up to 130."""
    for size in range(1, MAX_SIZE + 1):
        for index in range(size):
            expected = merkle.inclusion_proof(LEAVES[:size], index)
            assert full_tree.inclusion_proof(index, size) == expected, (index, size)


def test_every_consistency_proof_matches_the_pure_module(full_tree: MerkleTree) -> None:
    """consistency_proof(old, new) for every 0 < old <= new <= 130."""
    for new in range(1, MAX_SIZE + 1):
        for old in range(1, new + 1):
            expected = merkle.consistency_proof(LEAVES[:new], old)
            assert full_tree.consistency_proof(old, new) == expected, (old, new)


def test_append_stores_exactly_the_completed_subtrees() -> None:
    """After n appends the store holds each perfect subtree once: 2n - popcount(n) nodes."""
    store = InMemoryNodeStore()
    tree = MerkleTree(store)
    for h in LEAVES[:11]:
        tree.append(h)
    assert len(store) == 2 * 11 - (11).bit_count()
    assert store.get(3, 0) == merkle.root(LEAVES[:8])
    assert store.get(1, 5) is None  # leaves 10..11: only leaf 10 exists
    assert {(n.level, n.index) for n in store} >= {(0, 10), (1, 4), (2, 1)}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 2**16), min_size=0, max_size=60), st.data())
def test_interleaved_appends_and_queries(entries: list[int], data: st.DataObject) -> None:
    """Appending and asking about any earlier size in any order agrees with the pure module."""
    tree = MerkleTree(InMemoryNodeStore())
    hashes: list[bytes] = []
    for entry in entries:
        hashes.append(leaf_hash(entry.to_bytes(3, "big")))
        tree.append(hashes[-1])
        size = data.draw(st.integers(1, len(hashes)), label="size")
        index = data.draw(st.integers(0, size - 1), label="index")
        old = data.draw(st.integers(1, size), label="old")
        assert tree.root(size) == merkle.root(hashes[:size])
        proof = tree.inclusion_proof(index, size)
        assert proof == merkle.inclusion_proof(hashes[:size], index)
        assert merkle.verify_inclusion(hashes[index], index, size, proof, tree.root(size))
        assert tree.consistency_proof(old, size) == merkle.consistency_proof(hashes[:size], old)


def _worst_reads(store: CountingStore, tree: MerkleTree, size: int) -> int:
    """Most store reads any of a spread of roots and proofs at this size takes."""
    worst = 0
    probes = [0, 1, size // 3, size // 2, size - 2, size - 1]
    for k in probes:
        for method, args in (
            (tree.root, (size - k,)),
            (tree.inclusion_proof, (k, size)),
            (tree.inclusion_proof, (k // 2, size - 1)),
            (tree.consistency_proof, (k + 1, size)),
            (tree.consistency_proof, (k // 2 + 1, size - 1)),
        ):
            store.reads = 0
            method(*args)
            worst = max(worst, store.reads)
    return worst


def test_proof_cost_is_logarithmic_in_store_reads() -> None:
    """Reads grow with log2(n), not n: a 64x larger tree costs at most 2 log2 n + 2 reads."""
    costs = {}
    for log_n in (10, 16):
        n = 1 << log_n
        store = CountingStore()
        tree = MerkleTree(store)
        for i in range(n):
            tree.append(leaf_hash(i.to_bytes(4, "big")))
        # n - 1 is the worst shape (every level has a border node); n is the best.
        costs[log_n] = max(_worst_reads(store, tree, n), _worst_reads(store, tree, n - 1))
        assert costs[log_n] <= 2 * log_n + 2, (log_n, costs[log_n])
    # A linear algorithm would read 64 times more; logarithmic reads at most 16/10 more.
    assert costs[16] <= math.ceil(costs[10] * 16 / 10) + 2
    assert costs[10] >= 10  # the counter counts: a proof at 2**10 needs 10 hashes


def test_appends_read_nothing_from_the_store() -> None:
    """The right border is cached: appending costs writes only, however big the tree."""
    store = CountingStore()
    tree = MerkleTree(store)
    store.reads = 0  # opening checks that leaf 0 is absent: one read, once
    for h in LEAVES:
        tree.append(h)
    assert store.reads == 0


def test_reopening_at_the_stored_size_continues_the_tree() -> None:
    """A tree reopened over its store with its size appends and proves like the original."""
    store = InMemoryNodeStore()
    first = MerkleTree(store)
    for h in LEAVES[:37]:
        first.append(h)
    reopened = MerkleTree(store, size=37)
    for h in LEAVES[37:50]:
        reopened.append(h)
    assert reopened.root(50) == merkle.root(LEAVES[:50])
    assert reopened.consistency_proof(37, 50) == merkle.consistency_proof(LEAVES[:50], 37)


@pytest.mark.parametrize("wrong_size", [36, 38, 100])
def test_reopening_at_a_wrong_size_fails(wrong_size: int) -> None:
    """Too small: leaf `size` is stored; too large: the border is missing. Both are errors."""
    store = InMemoryNodeStore()
    tree = MerkleTree(store)
    for h in LEAVES[:37]:
        tree.append(h)
    with pytest.raises(MerkleStoreError):
        MerkleTree(store, size=wrong_size)


def test_a_missing_or_mangled_node_is_a_store_error() -> None:
    """A store that lost a node, or holds a non-hash, fails loudly instead of proving junk."""
    store = InMemoryNodeStore()
    tree = MerkleTree(store)
    for h in LEAVES[:8]:
        tree.append(h)
    del store._nodes[(2, 0)]
    with pytest.raises(MerkleStoreError, match=r"\(2, 0\) is missing"):
        tree.root(7)
    store._nodes[(1, 1)] = b"short"
    with pytest.raises(MerkleStoreError, match="not a hash"):
        tree.inclusion_proof(0, 7)


def test_a_failed_write_leaves_the_tree_unchanged() -> None:
    """If the store refuses an append's nodes, size and border stay as they were."""
    store = FailingStore()
    tree = MerkleTree(store)
    with pytest.raises(OSError, match="went away"):
        tree.append(LEAVES[0])
    assert tree.size == 0
    assert tree.root(0) == EMPTY_ROOT


def test_in_memory_store_refuses_to_rewrite_a_node() -> None:
    """Nodes are append-only: storing another hash under a stored position is refused."""
    store = InMemoryNodeStore()
    store.put([Node(0, 0, LEAVES[0])])
    store.put([Node(0, 0, LEAVES[0])])  # the same hash again is harmless
    with pytest.raises(MerkleStoreError):
        store.put([Node(0, 0, LEAVES[1])])
    assert store.get(0, 0) == LEAVES[0]


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33, "0" * 32, None])
def test_append_refuses_what_is_not_a_leaf_hash(bad: object) -> None:
    """Only 32-byte hashes are leaves (an entry passed by mistake is caught here)."""
    tree = MerkleTree(InMemoryNodeStore())
    with pytest.raises(MerkleError):
        tree.append(bad)  # type: ignore[arg-type]
    assert tree.size == 0


def test_queries_beyond_the_tree_raise(full_tree: MerkleTree) -> None:
    """Sizes above the current one, bad indices and impossible pairs raise MerkleError."""
    for call in (
        lambda: full_tree.root(MAX_SIZE + 1),
        lambda: full_tree.root(-1),
        lambda: full_tree.root(True),
        lambda: full_tree.inclusion_proof(5, 5),
        lambda: full_tree.inclusion_proof(0, MAX_SIZE + 1),
        lambda: full_tree.consistency_proof(0, 5),
        lambda: full_tree.consistency_proof(6, 5),
        lambda: full_tree.consistency_proof(1, MAX_SIZE + 1),
    ):
        with pytest.raises(MerkleError):
            call()


@pytest.mark.parametrize("size", [-1, True, 1.0, 2**64])
def test_opening_with_a_size_that_is_not_one_raises(size: object) -> None:
    """The size of a tree is an int in 0..2**64-1."""
    with pytest.raises(MerkleError):
        MerkleTree(InMemoryNodeStore(), size=size)  # type: ignore[arg-type]


def test_node_hashes_in_the_store_are_rfc_subtree_hashes() -> None:
    """Node (level, index) is MTH of leaves [index * 2**level, (index + 1) * 2**level)."""
    store = InMemoryNodeStore()
    tree = MerkleTree(store)
    for h in LEAVES[:16]:
        tree.append(h)
    for node in store:
        width = 1 << node.level
        assert node.hash == merkle.root(LEAVES[node.index * width : (node.index + 1) * width])
    assert store.get(1, 0) == node_hash(LEAVES[0], LEAVES[1])


@pytest.mark.parametrize(
    ("start", "end", "nodes"),
    [
        (0, 0, []),
        (0, 7, [(2, 0), (1, 2), (0, 6)]),
        (4, 7, [(1, 2), (0, 6)]),
        (0, 8, [(3, 0)]),
        # Unaligned ranges (never a proof element, but a batch fetch may ask): the blocks
        # grow, then shrink.
        (1, 7, [(0, 1), (1, 1), (1, 2), (0, 6)]),
        (3, 16, [(0, 3), (2, 1), (3, 1)]),
    ],
)
def test_compact_range_is_the_minimal_aligned_cover(
    start: int, end: int, nodes: list[tuple[int, int]]
) -> None:
    """compact_range covers [start, end) with the fewest aligned perfect subtrees."""
    assert list(compact_range(start, end)) == nodes
