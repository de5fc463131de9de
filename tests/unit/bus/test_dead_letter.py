"""Dead-letter headers: reason, code and original coordinates added, originals kept."""

from __future__ import annotations

from datetime import UTC, datetime

from bus import InboundRecord, dead_letter_headers
from bus.dead_letter import sanitize_reason

RECORD = InboundRecord(
    topic="interop.req.register.residence-certificate.v1",
    partition=2,
    offset=41,
    timestamp_ms=1_778_321_472_345,
    key=b"k",
    value=b"v",
    headers=(
        ("ce_id", b"\xff garbled"),
        ("interop_dlq_reason", b"an earlier reason"),
        ("no_value", None),
    ),
)


def test_dead_letter_headers_keep_originals_and_add_coordinates() -> None:
    """Original headers first (earlier DLQ headers dropped), then reason, code, coordinates."""
    now = datetime(2026, 5, 9, 10, 0, tzinfo=UTC)
    headers = dead_letter_headers(RECORD, reason="ce_id: missing", code="X_CODE", now=now)
    assert headers[:2] == [("ce_id", b"\xff garbled"), ("no_value", b"")]
    added = dict(headers[2:])
    assert added == {
        "interop_dlq_reason": b"ce_id: missing",
        "interop_dlq_error_code": b"X_CODE",
        "interop_dlq_topic": RECORD.topic.encode(),
        "interop_dlq_partition": b"2",
        "interop_dlq_offset": b"41",
        "interop_dlq_timestamp": b"2026-05-09T10:11:12.345Z",
        "interop_dlq_time": b"2026-05-09T10:00:00.000Z",
    }


def test_reasons_are_bounded_and_cleaned_of_control_characters() -> None:
    """A reason quoting hostile input cannot inject lines or escape codes into logs."""
    assert sanitize_reason("bad\nvalue\x1b[2J") == "bad?value?[2J"
    assert len(sanitize_reason("x" * 10_000)) == 256
    assert sanitize_reason("  ") == "no reason given"
