"""The tamper-evident audit log's core: RFC 9162 Merkle tree and proofs.

* ``merkle``: pure RFC 9162 hashing, proof generation and strict verification;
* ``merkle_store``: an append-only tree over a node store, O(log n) roots and proofs;
* ``errors``: the ``AuditError`` family (under ``bus.errors.BusError``).
"""

from __future__ import annotations

from bus.audit.errors import (
    AmbiguousKeyError,
    AuditError,
    CheckpointMismatchError,
    InvalidKeyError,
    InvalidSignatureError,
    MalformedCheckpointError,
    MalformedNoteError,
    MerkleError,
    MerkleStoreError,
    NoteError,
    UnverifiedNoteError,
)
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
from bus.audit.merkle_store import InMemoryNodeStore, MerkleTree, Node, NodeStore

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "AmbiguousKeyError",
    "AuditError",
    "CheckpointMismatchError",
    "InMemoryNodeStore",
    "InvalidKeyError",
    "InvalidSignatureError",
    "MalformedCheckpointError",
    "MalformedNoteError",
    "MerkleError",
    "MerkleStoreError",
    "MerkleTree",
    "Node",
    "NodeStore",
    "NoteError",
    "UnverifiedNoteError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]
