"""The AuditEvent codec, the leaf entry, payload digests and index cursors (no network)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bus.audit.digests import payload_digest
from bus.audit.errors import InvalidCursorError, MalformedAuditEventError
from bus.audit.event import EVENT_FIELDS, AuditEventCodec, EventRow, leaf_entry, row_from_json
from bus.audit.index import decode_cursor, encode_cursor
from bus.audit.trail import AuditEventType, AuditRecord
from bus.audit.unverified import unverified_record
from contracts import Codec, LockFile
from contracts.catalogue import DEFAULT_CATALOGUE_DIR
from contracts.lockfile import LOCK_FILE_NAME
from interop.cli import main

RECORD = AuditRecord(
    type=AuditEventType.COMPLETED,
    time=datetime(2026, 5, 9, 10, 0, 0, 123456, tzinfo=UTC),
    actor="interop.gateway",
    exchange_id="0196b000-0000-7000-8000-000000000001",
    requester="es.town",
    subject_ref="pseudonym",
    outcome="OK",
    latency_ms=42,
)
EVENT_ID = "0196b000-0000-7000-8000-0000000000ff"


def test_the_codec_round_trips_with_the_locked_schema_id() -> None:
    """Encode then decode gives the same row; the frame carries the locked schema id."""
    codec = AuditEventCodec()
    row = EventRow.from_record(RECORD, EVENT_ID)
    value = codec.encode(row)
    assert value[0] == 0
    assert int.from_bytes(value[1:5], "big") == codec.schema_id
    assert codec.decode(value) == row


def test_events_written_with_1_0_still_decode_and_unverified_needs_1_1() -> None:
    """An event framed with the 1.0 schema id (written before the upgrade) decodes, with
    the same leaf; the newest minor writes UNVERIFIED events, which 1.0 cannot name."""
    codec = AuditEventCodec()
    assert codec.version == "1.1"
    lock = LockFile.load(DEFAULT_CATALOGUE_DIR.parent / LOCK_FILE_NAME)
    old = lock.entry("audit-event", "1.0", "event")
    assert old is not None
    old_schema = json.loads(
        (DEFAULT_CATALOGUE_DIR.parent / "events/audit-event/1.0/event.avsc").read_text()
    )
    row = EventRow.from_record(RECORD, EVENT_ID)
    written_by_1_0 = Codec({int(old.schema_id): old_schema}).encode(
        old.schema_id, {**{n: getattr(row, n) for n in EVENT_FIELDS}, "event_id": EVENT_ID}
    )
    assert codec.decode(written_by_1_0) == row
    unverified = EventRow.from_record(
        unverified_record(
            actor="es.aeat", time=RECORD.time, topic="interop.req.x.v1", partition=2,
            offset=7, reason="BAD_SIGNATURE",
        ),
        EVENT_ID,
    )  # fmt: skip
    decoded = codec.decode(codec.encode(unverified))
    assert (decoded.type, decoded.reason, decoded.exchange_id) == (
        "UNVERIFIED",
        "BAD_SIGNATURE at interop.req.x.v1/2/7",
        None,
    )


def test_garbage_on_the_topic_is_a_malformed_event() -> None:
    """Bytes that are not an AuditEvent raise MalformedAuditEventError, never a codec error."""
    with pytest.raises(MalformedAuditEventError):
        AuditEventCodec().decode(b"\x00\x00\x00\x00\x01garbage")


def test_the_leaf_entry_is_canonical_json_and_survives_the_api() -> None:
    """The served JSON form rebuilds the same leaf entry; any changed field changes it."""
    row = EventRow.from_record(RECORD, EVENT_ID)
    entry = leaf_entry(row)
    assert json.loads(entry)["time"] == "2026-05-09T10:00:00.123456Z"
    served = {"leaf_index": 7, **row.to_json()}
    assert leaf_entry(row_from_json(served)) == entry
    served["requester"] = "es.other"
    assert leaf_entry(row_from_json(served)) != entry
    with pytest.raises(MalformedAuditEventError, match="latency_ms"):
        row_from_json({**row.to_json(), "latency_ms": "42"})


def test_payload_digests_are_keyed() -> None:
    """Same payload, other key, other digest; short keys are refused."""
    a = payload_digest(b"k" * 32, b"payload")
    assert a.startswith("hmac-sha256:")
    assert a != payload_digest(b"j" * 32, b"payload")
    with pytest.raises(ValueError, match="16 bytes"):
        payload_digest(b"short", b"payload")


def test_cursors_round_trip_and_foreign_ones_are_refused() -> None:
    """A cursor we handed out decodes; anything else is InvalidCursorError."""
    assert decode_cursor(encode_cursor(41)) == 41
    for bad in ("", "!!!", "eyJ4IjogMX0", "eyJhIjogIngifQ"):
        with pytest.raises(InvalidCursorError):
            decode_cursor(bad)


def test_an_edited_published_event_schema_fails_contracts_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Editing the locked AuditEvent schema is refused like any published contract."""
    shutil.copytree(DEFAULT_CATALOGUE_DIR, tmp_path / "services")
    shutil.copytree(DEFAULT_CATALOGUE_DIR.parent / "events", tmp_path / "events")
    shutil.copy(DEFAULT_CATALOGUE_DIR.parent / LOCK_FILE_NAME, tmp_path / LOCK_FILE_NAME)
    assert main(["contracts", "check", "--catalogue", str(tmp_path / "services")]) == 0
    path = tmp_path / "events" / "audit-event" / "1.0" / "event.avsc"
    schema = json.loads(path.read_text(encoding="utf-8"))
    schema["doc"] = "edited"
    path.write_text(json.dumps(schema), encoding="utf-8")
    assert main(["contracts", "check", "--catalogue", str(tmp_path / "services")]) == 1
    assert "edited-published-schema" in capsys.readouterr().out
