"""The audit error family: under BusError, pinned distinct codes, only I/O retriable."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bus.audit import errors
from bus.audit.errors import AuditError, UnverifiedNoteError
from bus.audit.note_keys import NoteVerifier
from bus.errors import BusError

# Codes reach dead-letter headers and the HTTP edge: changing one is a breaking change,
# so this table must be edited on purpose, never as a side effect of a rename.
PINNED = {
    "AuditError": "BUS_AUDIT_ERROR",
    "AuditWriteError": "BUS_AUDIT_WRITE_FAILED",
    "MalformedAuditEventError": "BUS_AUDIT_EVENT_MALFORMED",
    "AuditIndexUnavailableError": "BUS_AUDIT_INDEX_UNAVAILABLE",
    "IndexConflictError": "BUS_AUDIT_INDEX_CONFLICT",
    "InvalidCursorError": "BUS_AUDIT_CURSOR_INVALID",
    "MerkleError": "BUS_AUDIT_MERKLE_INVALID_ARGUMENT",
    "MerkleStoreError": "BUS_AUDIT_MERKLE_STORE_CORRUPT",
    "NoteError": "BUS_AUDIT_NOTE_ERROR",
    "InvalidKeyError": "BUS_AUDIT_NOTE_KEY_INVALID",
    "MalformedNoteError": "BUS_AUDIT_NOTE_MALFORMED",
    "MalformedCheckpointError": "BUS_AUDIT_CHECKPOINT_MALFORMED",
    "UnverifiedNoteError": "BUS_AUDIT_NOTE_UNVERIFIED",
    "AmbiguousKeyError": "BUS_AUDIT_NOTE_KEY_AMBIGUOUS",
    "InvalidSignatureError": "BUS_AUDIT_NOTE_SIGNATURE_INVALID",
    "CheckpointMismatchError": "BUS_AUDIT_CHECKPOINT_ORIGIN_MISMATCH",
}


def _family() -> list[type[AuditError]]:
    found: list[type[AuditError]] = []
    stack: list[type[AuditError]] = [AuditError]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


def test_family_is_exported_rooted_and_pinned() -> None:
    """Every class in errors.__all__ is an AuditError (a BusError) with its pinned code."""
    exported = {name: getattr(errors, name) for name in errors.__all__}
    assert {name: cls.code for name, cls in exported.items()} == PINNED
    assert all(issubclass(cls, BusError) for cls in exported.values())
    assert {cls.__name__ for cls in _family()} == set(PINNED)


def test_codes_are_distinct_and_only_io_failures_are_retriable() -> None:
    """Same bytes, same keys, same answer: only a failed write or database invites a retry."""
    family = _family()
    assert len({cls.code for cls in family}) == len(family)
    assert {cls.__name__ for cls in family if cls.retriable} == {
        "AuditWriteError",
        "AuditIndexUnavailableError",
        "IndexConflictError",
    }


def test_unverified_note_error_without_any_signature_by_unknown_keys() -> None:
    """The message still says what was expected when nothing else signed the note."""
    error = UnverifiedNoteError(("log+01020304",), ())
    assert "log+01020304" in str(error)
    assert "none" in str(error)


@given(st.binary(min_size=32, max_size=32), st.binary(max_size=70), st.binary(max_size=8))
def test_verify_with_any_public_key_answers_instead_of_raising(
    public_key: bytes, signature: bytes, message: bytes
) -> None:
    """Any 32 bytes make a verifier whose verify() returns a bool: cryptography's errors
    for off-curve or small-order keys never escape (the one translation point)."""
    verifier = NoteVerifier.from_public_key("k", public_key)
    assert verifier.verify(message, signature) in (True, False)
    assert verifier.verify(message, b"\x00" * 63) is False
