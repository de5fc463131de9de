"""The tamper-evident audit log's core: RFC 9162 Merkle tree, proofs, signed checkpoints.

* ``merkle``: pure RFC 9162 hashing, proof generation and strict verification;
* ``merkle_store``: an append-only tree over a node store, O(log n) roots and proofs;
* ``note_keys``, ``signed_note``, ``checkpoint``: Ed25519 keys, C2SP signed notes and
  checkpoints, interoperable with Go's ``sumdb/note`` and ``transparency-dev`` tooling;
* ``trail``: ``AuditRecord`` and the ``AuditTrail`` protocol every component writes to;
  ``kafka_trail.KafkaAuditTrail`` writes them to the audit topic (acks=all);
* ``event``: the Avro ``AuditEvent`` codec, event rows and the leaf entry the log hashes;
  ``digests``: keyed payload digests; ``settings``: the trail's and the indexer's settings;
* ``index`` (SQLite/PostgreSQL) and ``indexer``: the audit index and Merkle log built from
  the topic (import them from their modules: they pull in SQLAlchemy);
* ``errors``: the ``AuditError`` family (under ``bus.errors.BusError``).
"""

from __future__ import annotations

from bus.audit.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from bus.audit.digests import payload_digest
from bus.audit.errors import (
    AmbiguousKeyError,
    AuditError,
    AuditWriteError,
    CheckpointMismatchError,
    InvalidCursorError,
    InvalidKeyError,
    InvalidSignatureError,
    MalformedCheckpointError,
    MalformedNoteError,
    MerkleError,
    MerkleStoreError,
    NoteError,
    UnverifiedNoteError,
)
from bus.audit.event import (
    EVENT_FIELDS,
    AuditEventCodec,
    EventRow,
    MalformedAuditEventError,
    leaf_entry,
)
from bus.audit.event_signing import check_event, event_signature, sign_event
from bus.audit.index.store import (
    AuditIndex,
    EventFilter,
    IndexedEvent,
    decode_cursor,
    encode_cursor,
)
from bus.audit.indexer import AuditIndexer, CheckpointPolicy
from bus.audit.kafka_trail import KafkaAuditTrail
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
from bus.audit.settings import AuditIndexerSettings, AuditSettings
from bus.audit.signed_note import Note, NoteSignature, open_note, sign_note
from bus.audit.trail import (
    AuditEventType,
    AuditRecord,
    AuditTrail,
    MemoryAuditTrail,
    exchange_event_id,
)
from bus.audit.unverified import unverified_record
from bus.audit.verify import LogVerifier, Report

__all__ = [
    "EMPTY_ROOT",
    "EVENT_FIELDS",
    "HASH_SIZE",
    "AmbiguousKeyError",
    "AuditError",
    "AuditEventCodec",
    "AuditEventType",
    "AuditIndex",
    "AuditIndexer",
    "AuditIndexerSettings",
    "AuditRecord",
    "AuditSettings",
    "AuditTrail",
    "AuditWriteError",
    "Checkpoint",
    "CheckpointMismatchError",
    "CheckpointPolicy",
    "EventFilter",
    "EventRow",
    "InMemoryNodeStore",
    "IndexedEvent",
    "InvalidCursorError",
    "InvalidKeyError",
    "InvalidSignatureError",
    "KafkaAuditTrail",
    "LogVerifier",
    "MalformedAuditEventError",
    "MalformedCheckpointError",
    "MalformedNoteError",
    "MemoryAuditTrail",
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
    "Report",
    "UnverifiedNoteError",
    "check_event",
    "consistency_proof",
    "decode_cursor",
    "encode_cursor",
    "event_signature",
    "exchange_event_id",
    "inclusion_proof",
    "key_id",
    "leaf_entry",
    "leaf_hash",
    "node_hash",
    "open_checkpoint",
    "open_note",
    "payload_digest",
    "root",
    "sign_checkpoint",
    "sign_event",
    "sign_note",
    "unverified_record",
    "verify_consistency",
    "verify_inclusion",
]
