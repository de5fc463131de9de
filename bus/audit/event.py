"""The ``AuditEvent`` on the wire and in the log: Avro codec, event rows and leaf entries.

* ``AuditEventCodec`` encodes an ``AuditRecord`` (plus its event id) as the Avro
  ``AuditEvent`` of the catalogue (``contracts/events/audit-event``) in Confluent framing
  with its locked schema id, and decodes any published version back.
* ``EventRow`` is one event as the index stores it and the audit API serves it.
* ``leaf_entry`` is what the Merkle log hashes for an event: the canonical JSON of its
  fields (sorted keys, no whitespace, UTF-8, times as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``).
  Anyone holding the event as the API serves it can recompute its leaf, so a row altered
  in the index no longer matches the leaf the tree committed to.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from bus.audit.errors import MalformedAuditEventError
from bus.audit.trail import AuditRecord
from contracts import Codec, CodecError, SchemaId
from contracts.events import DEFAULT_EVENTS_DIR, locked_event, locked_event_schemas

__all__ = [
    "AUDIT_EVENT_NAME",
    "EVENT_FIELDS",
    "AuditEventCodec",
    "EventRow",
    "MalformedAuditEventError",
    "format_time",
    "leaf_entry",
    "parse_time",
    "row_from_json",
]

AUDIT_EVENT_NAME: Final = "audit-event"
_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRow:
    """One audit event: its id and every field of the ``AuditEvent`` record."""

    event_id: str
    type: str
    time: datetime
    actor: str
    exchange_id: str | None = None
    requester: str | None = None
    official: str | None = None
    provider: str | None = None
    service: str | None = None
    version: str | None = None
    purpose: str | None = None
    procedure: str | None = None
    legal_basis: str | None = None
    consent_ref: str | None = None
    subject_ref: str | None = None
    request_digest: str | None = None
    response_digest: str | None = None
    outcome: str | None = None
    reason: str | None = None
    latency_ms: int | None = None
    trace_id: str | None = None

    @classmethod
    def from_record(cls, record: AuditRecord, event_id: str) -> EventRow:
        values = {
            f.name: getattr(record, f.name) for f in fields(AuditRecord) if f.name != "event_id"
        }
        values["type"] = str(record.type)
        values["time"] = record.time.astimezone(UTC)
        return cls(event_id=event_id, **values)

    def to_json(self) -> dict[str, Any]:
        """The event as JSON values (what the audit API serves and ``leaf_entry`` hashes)."""
        # Every field is flat (text, int, None, one datetime): a shallow read gives the same
        # document as dataclasses.asdict without its deep copies, which were ~6% of a busy
        # gateway's main thread under interop bench (to_json runs per event indexed).
        values = {name: getattr(self, name) for name in EVENT_FIELDS}
        values["time"] = format_time(self.time)
        return values


EVENT_FIELDS: Final = tuple(f.name for f in fields(EventRow))


def format_time(value: datetime) -> str:
    """Fixed-width UTC with microseconds: text order is time order."""
    if value.tzinfo is None:
        raise ValueError("audit times are timezone-aware")
    return value.astimezone(UTC).strftime(_TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """Read ``format_time``'s form back (``MalformedAuditEventError`` otherwise)."""
    try:
        return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        raise MalformedAuditEventError(
            f"time {str(text)[:40]!r} is not YYYY-MM-DDTHH:MM:SS.ffffffZ"
        ) from None


def row_from_json(document: Mapping[str, Any]) -> EventRow:
    """An ``EventRow`` from its JSON form (as served); unknown keys are ignored."""
    if not isinstance(document, Mapping):
        raise MalformedAuditEventError("an audit event is a JSON object")
    missing = [name for name in ("event_id", "type", "time", "actor") if name not in document]
    if missing:
        raise MalformedAuditEventError(f"the audit event lacks {', '.join(missing)}")
    values: dict[str, Any] = {name: document.get(name) for name in EVENT_FIELDS}
    values["time"] = parse_time(values["time"])
    for name, value in values.items():
        wanted: tuple[type, ...] = (int,) if name == "latency_ms" else (str,)
        if name == "time" or value is None:
            continue
        if not isinstance(value, wanted) or isinstance(value, bool):
            raise MalformedAuditEventError(f"audit event field {name} has the wrong type")
    return EventRow(**values)


def leaf_entry(row: EventRow) -> bytes:
    """The bytes the Merkle log hashes for ``row`` (canonical JSON, see module docstring)."""
    text = json.dumps(row.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


class AuditEventCodec:
    """Encode and decode ``AuditEvent`` values (Confluent framing, locked schema ids)."""

    def __init__(
        self, *, events_dir: Path = DEFAULT_EVENTS_DIR, lock_path: Path | None = None
    ) -> None:
        schema_id, schema, version = locked_event(
            AUDIT_EVENT_NAME, events_dir=events_dir, lock_path=lock_path
        )
        self.schema_id: SchemaId = schema_id
        self.version = version
        self._schema = schema
        # The newest published version writes and reads; events framed with an earlier
        # minor's id decode through Avro resolution (the writer's schema from its id).
        known = locked_event_schemas(AUDIT_EVENT_NAME, events_dir=events_dir, lock_path=lock_path)
        self._codec = Codec({int(k): v for k, v in {**known, schema_id: schema}.items()})

    def encode(self, row: EventRow) -> bytes:
        """``row`` as a framed Avro ``AuditEvent``."""
        datum = {name: getattr(row, name) for name in EVENT_FIELDS}  # flat: no deep copy
        datum["event_id"] = str(uuid.UUID(row.event_id))
        try:
            return self._codec.encode(self.schema_id, datum)
        except CodecError as exc:
            raise MalformedAuditEventError(f"the audit event does not encode ({exc.code})") from exc

    def decode(self, value: bytes | None) -> EventRow:
        """A framed ``AuditEvent`` back into a row (``MalformedAuditEventError`` if not one)."""
        try:
            datum = self._codec.decode(value or b"", self.schema_id).datum
        except CodecError as exc:
            raise MalformedAuditEventError(f"not an AuditEvent ({exc.code})") from exc
        values = {name: datum.get(name) for name in EVENT_FIELDS}
        values["event_id"] = str(values["event_id"])
        time = values["time"]
        if not isinstance(time, datetime):
            raise MalformedAuditEventError("the audit event's time is not a timestamp")
        values["time"] = time.astimezone(UTC)
        return EventRow(**values)
