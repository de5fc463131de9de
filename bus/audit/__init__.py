"""The tamper-evident audit log's core: RFC 9162 Merkle tree hashing and proofs.

* ``merkle``: pure RFC 9162 hashing, proof generation and strict verification;
* ``errors``: the ``AuditError`` family (under ``bus.errors.BusError``).
"""

from __future__ import annotations

from bus.audit.errors import AuditError, MerkleError
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

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "AuditError",
    "MerkleError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]
