"""The audit index: events, Merkle nodes and checkpoints in SQLite or PostgreSQL."""

from bus.audit.index.store import (
    AuditIndex,
    AuditIndexUnavailableError,
    EventFilter,
    IndexConflictError,
    IndexedEvent,
    IndexState,
    InvalidCursorError,
    StoredCheckpoint,
    decode_cursor,
    encode_cursor,
)

__all__ = [
    "AuditIndex",
    "AuditIndexUnavailableError",
    "EventFilter",
    "IndexConflictError",
    "IndexState",
    "IndexedEvent",
    "InvalidCursorError",
    "StoredCheckpoint",
    "decode_cursor",
    "encode_cursor",
]
