"""The audit family of errors (rooted at ``bus.errors.BusError``).

::

    InteropError
    └── BusError
        └── AuditError                        audit log: Merkle tree, checkpoints, signed notes
            ├── AuditWriteError               an audit event was not acknowledged (retriable)
            ├── MalformedAuditEventError      a record or served event is not an AuditEvent
            ├── AuditIndexUnavailableError    the audit index's database failed (retriable)
            ├── IndexConflictError            another indexer appended first (retriable)
            ├── InvalidCursorError            a pagination cursor the index did not hand out
            ├── MerkleError                   a tree or proof was asked for with invalid arguments
            ├── MerkleStoreError              the node store lacks a needed node, or holds junk
            └── NoteError                     signed notes and their keys
                ├── InvalidKeyError           a key string or key name breaks the note rules
                ├── MalformedNoteError        the note text is not a well-formed signed note
                ├── MalformedCheckpointError  the note text is not a well-formed checkpoint
                ├── UnverifiedNoteError       no signature by the expected key (names the keys)
                ├── AmbiguousKeyError         two trusted verifiers share a name and key id
                ├── InvalidSignatureError     a known key's signature does not verify
                └── CheckpointMismatchError   a verified checkpoint is for another origin

Merkle *verification* never raises: it answers ``False`` for any proof it cannot accept
(DESIGN.md, "Audit"). Only proof *generation* and the note/checkpoint parsers raise these.
Every class carries a stable ``code`` and a ``retriable`` flag; only a failed write and
the index's database (the broker or the database may be back) are retriable; for the
others the same bytes, keys and sizes always give the same answer.
"""

from __future__ import annotations

from bus.errors import BusError

__all__ = [
    "AmbiguousKeyError",
    "AuditError",
    "AuditIndexUnavailableError",
    "AuditWriteError",
    "CheckpointMismatchError",
    "IndexConflictError",
    "InvalidCursorError",
    "InvalidKeyError",
    "InvalidSignatureError",
    "MalformedAuditEventError",
    "MalformedCheckpointError",
    "MalformedNoteError",
    "MerkleError",
    "MerkleStoreError",
    "NoteError",
    "UnverifiedNoteError",
]


class AuditError(BusError):
    """A problem with the tamper-evident audit log."""

    code = "BUS_AUDIT_ERROR"


class AuditWriteError(AuditError):
    """An audit event could not be written durably: the step it records must not go on."""

    code = "BUS_AUDIT_WRITE_FAILED"
    retriable = True


class MalformedAuditEventError(AuditError):
    """A record on the audit topic, or an event as served, is not an AuditEvent."""

    code = "BUS_AUDIT_EVENT_MALFORMED"


# -- the audit index -----------------------------------------------------------------------
class AuditIndexUnavailableError(AuditError):
    """The audit index's database could not be reached or refused a statement."""

    code = "BUS_AUDIT_INDEX_UNAVAILABLE"
    retriable = True


class IndexConflictError(AuditError):
    """Another indexer appended first: the stored offset is not where this batch starts."""

    code = "BUS_AUDIT_INDEX_CONFLICT"
    retriable = True


class InvalidCursorError(AuditError):
    """A pagination cursor that this index did not hand out."""

    code = "BUS_AUDIT_CURSOR_INVALID"


# -- Merkle tree ---------------------------------------------------------------------------
class MerkleError(AuditError):
    """A root or proof was asked for with invalid arguments (index or size out of range)."""

    code = "BUS_AUDIT_MERKLE_INVALID_ARGUMENT"


class MerkleStoreError(AuditError):
    """The node store does not hold a node it must hold, or holds one that is not a hash.

    Either the store was tampered with or the tree was opened with the wrong size; both
    mean the log cannot be served until an operator looks.
    """

    code = "BUS_AUDIT_MERKLE_STORE_CORRUPT"


# -- signed notes and checkpoints ----------------------------------------------------------
class NoteError(AuditError):
    """A signed note, a checkpoint or a note key is not acceptable."""

    code = "BUS_AUDIT_NOTE_ERROR"


class InvalidKeyError(NoteError):
    """A signer or verifier key string (or a key name) does not follow the note rules."""

    code = "BUS_AUDIT_NOTE_KEY_INVALID"


class MalformedNoteError(NoteError):
    """The text is not a signed note: encoding, blank line or a signature line is wrong."""

    code = "BUS_AUDIT_NOTE_MALFORMED"


class MalformedCheckpointError(NoteError):
    """The note's text is not a C2SP checkpoint body (origin, size, root hash, extensions)."""

    code = "BUS_AUDIT_CHECKPOINT_MALFORMED"


class UnverifiedNoteError(NoteError):
    """The note carries no signature by the expected key.

    ``expected`` lists the trusted keys as ``name+keyid``; ``found`` lists the keys that did
    sign the note (all unknown), so an operator can tell a key rotation from a forgery.
    """

    code = "BUS_AUDIT_NOTE_UNVERIFIED"

    def __init__(self, expected: tuple[str, ...], found: tuple[str, ...]) -> None:
        signed_by = ", ".join(found) if found else "none"
        super().__init__(
            f"note has no signature by {' or '.join(expected) or 'any trusted key'}"
            f" (signed by unknown keys: {signed_by})"
        )
        self.expected = expected
        self.found = found


class AmbiguousKeyError(NoteError):
    """Two trusted verifiers have the same name and key id: which one is meant is unknown."""

    code = "BUS_AUDIT_NOTE_KEY_AMBIGUOUS"

    def __init__(self, key: str) -> None:
        super().__init__(f"ambiguous key {key}")
        self.key = key


class InvalidSignatureError(NoteError):
    """A signature line names a trusted key, but the signature does not verify."""

    code = "BUS_AUDIT_NOTE_SIGNATURE_INVALID"

    def __init__(self, key: str) -> None:
        super().__init__(f"invalid signature for key {key}")
        self.key = key


class CheckpointMismatchError(NoteError):
    """A correctly signed checkpoint names another log (origin) than the one expected."""

    code = "BUS_AUDIT_CHECKPOINT_ORIGIN_MISMATCH"
