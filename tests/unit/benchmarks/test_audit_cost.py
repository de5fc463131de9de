"""The bulk-loaded node store gives the same tree as appending, so its timings are real."""

from __future__ import annotations

import pytest

from benchmarks.audit_cost import (
    LevelNodeStore,
    append_throughput,
    bulk_tree,
    proof_times,
)
from bus.audit.errors import MerkleStoreError
from bus.audit.merkle import leaf_hash
from bus.audit.merkle_store import InMemoryNodeStore, MerkleTree, Node


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 100, 1025])
def test_bulk_load_equals_appending(size: int) -> None:
    """Every root and proof of a bulk-loaded tree matches the appended reference tree."""
    bulk, leaves = bulk_tree(size)
    reference = MerkleTree(InMemoryNodeStore())
    for leaf in leaves:
        reference.append(leaf)
    for checked in {1, size // 2 or 1, size}:
        assert bulk.root(checked) == reference.root(checked)
    assert bulk.inclusion_proof(size - 1, size) == reference.inclusion_proof(size - 1, size)
    if size > 1:
        assert bulk.consistency_proof(1, size) == reference.consistency_proof(1, size)


def test_level_store_takes_appends_in_order_only() -> None:
    """Appends go through ``put`` in order; a gap or a changed hash is refused."""
    store = LevelNodeStore()
    tree = MerkleTree(store)
    for i in range(5):
        tree.append(leaf_hash(bytes([i])))
    assert store.get(2, 0) is not None
    assert store.get(2, 1) is None
    with pytest.raises(MerkleStoreError, match="out of order"):
        store.put([Node(0, 9, b"\x00" * 32)])
    with pytest.raises(MerkleStoreError, match="out of order"):
        store.put([Node(0, 0, b"\x01" * 32)])


def test_proof_times_grow_with_log_n_hashes() -> None:
    """Proof length (what a proof reads) grows like log2 n between 2^6 and 2^12 leaves."""
    small = proof_times(*bulk_tree(64), samples=30)
    large = proof_times(*bulk_tree(4096), samples=30)
    assert small.inclusion_hashes == pytest.approx(6, abs=0.01)
    assert large.inclusion_hashes == pytest.approx(12, abs=0.01)
    assert large.consistency_hashes <= 2 * 12
    assert small.inclusion_us > 0
    assert large.consistency_us > 0


def test_append_throughput_counts_every_event() -> None:
    """The append figure is over the number of events asked for."""
    figures = append_throughput(200)
    assert figures.events == 200
    assert figures.events_per_s > 0
