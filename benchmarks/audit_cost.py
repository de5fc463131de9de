"""What the tamper-evident audit log costs: appends per second, proof times by log size.

Proofs are timed on trees of 10^3, 10^5 and 10^6 events. Appending a million events
through the whole pipeline would take minutes, so the big trees are bulk-loaded: every
perfect subtree is hashed level by level straight into a ``LevelNodeStore`` (the same
nodes ``MerkleTree.append`` would have stored), then opened as a ``MerkleTree`` of that
size. A sample of the proofs is verified, so a wrong bulk load fails loudly instead of
timing garbage. Proof cost must grow like log n: the report shows the proof lengths next
to the times.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from bus.audit import (
    MerkleStoreError,
    MerkleTree,
    Node,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "AppendFigures",
    "LevelNodeStore",
    "ProofFigures",
    "append_throughput",
    "bulk_tree",
    "proof_times",
]

_EVENT: Final = b"x" * 300
"""About the size of an encoded AuditEvent (metadata and digests, no payload)."""
_VERIFIED_SAMPLES: Final = 20


class LevelNodeStore:
    """A ``NodeStore`` as one list of hashes per level: compact enough for 10^6 leaves."""

    def __init__(self) -> None:
        self.levels: list[list[bytes]] = []

    def get(self, level: int, index: int) -> bytes | None:
        if level < len(self.levels) and 0 <= index < len(self.levels[level]):
            return self.levels[level][index]
        return None

    def put(self, nodes: Sequence[Node]) -> None:
        """Nodes arrive in append order: each is the next of its level (or already held)."""
        for node in nodes:
            while len(self.levels) <= node.level:
                self.levels.append([])
            row = self.levels[node.level]
            if node.index == len(row):
                row.append(node.hash)
            elif node.index > len(row) or row[node.index] != node.hash:
                raise MerkleStoreError(f"node ({node.level}, {node.index}) out of order")

    def load(self, leaf_hashes: list[bytes]) -> None:
        """Bulk-load: the leaves and every perfect subtree above them, level by level."""
        row = leaf_hashes
        self.levels = [row]
        while len(row) > 1:
            row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row) - 1, 2)]
            self.levels.append(row)


def _leaves(count: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(8, "big") + _EVENT) for i in range(count)]


def bulk_tree(size: int) -> tuple[MerkleTree, list[bytes]]:
    """A tree of ``size`` events (and its leaf hashes), without ``size`` appends."""
    leaves = _leaves(size)
    store = LevelNodeStore()
    store.load(leaves)
    return MerkleTree(store, size), leaves


@dataclass(frozen=True, slots=True)
class AppendFigures:
    events: int
    events_per_s: float


def append_throughput(events: int) -> AppendFigures:
    """Leaf hashing + ``MerkleTree.append`` into the node store, one event at a time."""
    tree = MerkleTree(LevelNodeStore())
    start = time.perf_counter()
    for i in range(events):
        tree.append(leaf_hash(i.to_bytes(8, "big") + _EVENT))
    return AppendFigures(events, events / (time.perf_counter() - start))


@dataclass(frozen=True, slots=True)
class ProofFigures:
    """Median time of one proof (generation from the store), in microseconds."""

    size: int
    inclusion_us: float
    consistency_us: float
    inclusion_hashes: float
    consistency_hashes: float


def proof_times(
    tree: MerkleTree, leaves: list[bytes], *, samples: int, seed: int = 9
) -> ProofFigures:
    """Time ``samples`` inclusion proofs at random leaves and as many consistency proofs
    from random earlier sizes, all against the full tree; verify a few of each."""
    size = tree.size
    rng = random.Random(seed)  # noqa: S311 - picks sample indices, not secrets
    root = tree.root(size)
    inclusion_ns: list[int] = []
    consistency_ns: list[int] = []
    inclusion_len: list[int] = []
    consistency_len: list[int] = []
    for sample in range(samples):
        index = rng.randrange(size)
        start = time.perf_counter_ns()
        proof = tree.inclusion_proof(index, size)
        inclusion_ns.append(time.perf_counter_ns() - start)
        inclusion_len.append(len(proof))
        old = rng.randrange(1, size) if size > 1 else 1
        start = time.perf_counter_ns()
        consistency = tree.consistency_proof(old, size)
        consistency_ns.append(time.perf_counter_ns() - start)
        consistency_len.append(len(consistency))
        if sample < _VERIFIED_SAMPLES:
            _check(verify_inclusion(leaves[index], index, size, proof, root), "inclusion")
            ok = verify_consistency(old, size, tree.root(old), root, consistency)
            _check(ok, "consistency")
    return ProofFigures(
        size=size,
        inclusion_us=statistics.median(inclusion_ns) / 1000,
        consistency_us=statistics.median(consistency_ns) / 1000,
        inclusion_hashes=statistics.mean(inclusion_len),
        consistency_hashes=statistics.mean(consistency_len),
    )


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise MerkleStoreError(f"a bulk-loaded tree gave an {what} proof that does not verify")
