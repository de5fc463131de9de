"""The tamper-evident audit log's core: RFC 9162 Merkle tree, proofs, signed checkpoints.

* ``merkle``: pure RFC 9162 hashing, proof generation and strict verification;
* ``merkle_store``: an append-only tree over a node store, O(log n) roots and proofs;
* ``note_keys``, ``signed_note``, ``checkpoint``: Ed25519 keys, C2SP signed notes and
  checkpoints, interoperable with Go's ``sumdb/note`` and ``transparency-dev`` tooling;
* ``errors``: the ``AuditError`` family (under ``bus.errors.BusError``).
"""

from __future__ import annotations

from bus.audit.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
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
from bus.audit.note_keys import NoteSigner, NoteVerifier, key_id
from bus.audit.signed_note import Note, NoteSignature, open_note, sign_note

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "AmbiguousKeyError",
    "AuditError",
    "Checkpoint",
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
    "Note",
    "NoteError",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "UnverifiedNoteError",
    "consistency_proof",
    "inclusion_proof",
    "key_id",
    "leaf_hash",
    "node_hash",
    "open_checkpoint",
    "open_note",
    "root",
    "sign_checkpoint",
    "sign_note",
    "verify_consistency",
    "verify_inclusion",
]
