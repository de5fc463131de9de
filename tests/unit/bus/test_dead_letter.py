"""Dead-letter headers: reason, code and original coordinates added, originals kept."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime

from bus import InboundRecord, dead_letter_copy, dead_letter_headers
from bus.dead_letter import MAX_COPY_BYTES, sanitize_reason

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


def test_a_copy_of_a_record_near_the_size_limit_still_fits() -> None:
    """A value written just under the broker's limit: its copy (with the added headers)
    would be over it, and its write would fail on every retry, stalling the partition.
    The copy keeps the value's digest and size instead; small records are copied whole."""
    value = b"A" * 1_048_000
    big = dataclasses.replace(RECORD, value=value)
    copied, headers = dead_letter_copy(big, reason="too big", code="X")
    added = dict(headers)
    assert copied == b""
    assert added["interop_dlq_value_sha256"] == hashlib.sha256(value).hexdigest().encode()
    assert added["interop_dlq_value_bytes"] == b"1048000"
    assert headers[0] == ("ce_id", b"\xff garbled")  # the original headers still fit
    assert len(copied) + sum(len(n) + len(v) for n, v in headers) <= MAX_COPY_BYTES
    whole, _ = dead_letter_copy(
        dataclasses.replace(RECORD, value=b"x" * 900_000), reason="r", code="X"
    )
    assert whole == b"x" * 900_000


def test_a_header_bomb_is_copied_as_a_digest_of_its_headers() -> None:
    """Sixty thousand headers: left out of the copy, counted and digested."""
    bomb = dataclasses.replace(RECORD, headers=tuple((f"h{i}", b"v" * 8) for i in range(60_000)))
    copied, headers = dead_letter_copy(bomb, reason="bomb", code="X")
    added = dict(headers)
    assert copied == b"v"
    assert added["interop_dlq_headers_count"] == b"60000"
    assert len(added["interop_dlq_headers_sha256"]) == 64
    assert not [n for n, _ in headers if not n.startswith("interop_dlq_")]
