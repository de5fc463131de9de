"""Dead-letter publishing: park a record that can never be handled, with why and whence.

The dead-letter record keeps the original key, value and headers (minus earlier
``interop_dlq_*`` headers, so a re-dead-lettered record does not carry two reasons) and
adds::

    interop_dlq_reason       what went wrong (bounded, control characters replaced)
    interop_dlq_error_code   stable machine code (a BusError.code where one applies)
    interop_dlq_topic        original topic
    interop_dlq_partition    original partition (decimal)
    interop_dlq_offset       original offset (decimal)
    interop_dlq_timestamp    original record timestamp, RFC 3339 UTC milliseconds
    interop_dlq_time         when it was dead-lettered, RFC 3339 UTC milliseconds

Requests go to ``interop.dlq.<service>.v<major>``, derived from the request topic.

**A copy always fits** (``dead_letter_copy``). The headers above make a copy larger than
its original, so a record written just under the broker's size limit would have a copy
over it: the write would fail on every retry and stall the partition behind it for good
(the audit indexer and the gateway's reply router both retry a failed dead-letter write,
so that they never lose the trace of a forgery). Past ``MAX_COPY_BYTES`` the copy keeps
the original's value, or its headers, only as SHA-256 and size::

    interop_dlq_value_sha256 / interop_dlq_value_bytes       the value left out
    interop_dlq_headers_sha256 / interop_dlq_headers_count   the original headers left out
"""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import UTC, datetime
from typing import Final

from bus.errors import InvalidTopicNameError
from bus.header_values import MAX_TEXT_LENGTH, format_time
from bus.producer import BusProducer
from bus.records import Delivery, InboundRecord
from bus.topics import DeadLetterTopic, RequestTopic, parse_topic

__all__ = [
    "DLQ_HEADER_PREFIX",
    "MAX_COPY_BYTES",
    "DeadLetterPublisher",
    "dead_letter_copy",
    "dead_letter_headers",
    "dead_letter_topic_for",
    "sanitize_reason",
]

DLQ_HEADER_PREFIX: Final = "interop_dlq_"
MAX_COPY_BYTES: Final = 1_000_000
"""Value and header bytes a dead-letter copy may hold: under the broker's and the
producer's 1 MiB defaults, with room for the record's own framing."""
_MAX_KEPT_HEADER_BYTES: Final = 256 * 1024


def dead_letter_topic_for(source_topic: str) -> DeadLetterTopic:
    """``interop.dlq.<service>.v<major>`` for ``interop.req.<service>.v<major>``."""
    topic = parse_topic(source_topic)
    if not isinstance(topic, RequestTopic):
        raise InvalidTopicNameError(
            f"only request topics have a dead-letter topic, not {source_topic!r}"
        )
    return topic.dead_letter


def sanitize_reason(reason: str) -> str:
    """Bound a reason and replace control/format characters: it goes into a header."""
    cleaned = "".join(
        "?" if unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"} else char
        for char in reason[: MAX_TEXT_LENGTH * 2]
    ).strip()
    if len(cleaned) > MAX_TEXT_LENGTH:
        cleaned = cleaned[: MAX_TEXT_LENGTH - 3] + "..."
    return cleaned or "no reason given"


def dead_letter_headers(
    record: InboundRecord, *, reason: str, code: str, now: datetime | None = None
) -> list[tuple[str, bytes]]:
    """The headers of the dead-letter copy of ``record`` (original headers first)."""
    kept = [
        (name, value if value is not None else b"")
        for name, value in record.headers
        if not name.startswith(DLQ_HEADER_PREFIX)
    ]
    when = now or datetime.now(UTC)
    added = {
        "reason": sanitize_reason(reason),
        "error_code": sanitize_reason(code)[:128],
        "topic": record.topic,
        "partition": str(record.partition),
        "offset": str(record.offset),
        "timestamp": format_time(datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)),
        "time": format_time(when),
    }
    return kept + [(DLQ_HEADER_PREFIX + name, text.encode()) for name, text in added.items()]


def dead_letter_copy(
    record: InboundRecord, *, reason: str, code: str, now: datetime | None = None
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The value and headers of ``record``'s dead-letter copy, at most ``MAX_COPY_BYTES``
    together: what does not fit is kept as its digest and size (see the module)."""
    headers = dead_letter_headers(record, reason=reason, code=code, now=now)
    value = record.value if record.value is not None else b""
    originals = [(n, v) for n, v in headers if not n.startswith(DLQ_HEADER_PREFIX)]
    added = headers[len(originals) :]
    if _size(originals) > _MAX_KEPT_HEADER_BYTES:
        digest = hashlib.sha256()
        for name, data in originals:
            digest.update(name.encode("utf-8", "surrogateescape") + b"\0" + data + b"\0")
        added += [
            (DLQ_HEADER_PREFIX + "headers_sha256", digest.hexdigest().encode()),
            (DLQ_HEADER_PREFIX + "headers_count", str(len(originals)).encode()),
        ]
        originals = []
    if len(value) + _size(originals) + _size(added) > MAX_COPY_BYTES:
        added += [
            (DLQ_HEADER_PREFIX + "value_sha256", hashlib.sha256(value).hexdigest().encode()),
            (DLQ_HEADER_PREFIX + "value_bytes", str(len(value)).encode()),
        ]
        value = b""
    return value, originals + added


def _size(headers: list[tuple[str, bytes]]) -> int:
    return sum(len(name) + len(value) for name, value in headers)


class DeadLetterPublisher:
    """Writes dead-letter copies of records through a started ``BusProducer``."""

    def __init__(self, producer: BusProducer) -> None:
        self._producer = producer

    async def publish(self, record: InboundRecord, *, reason: str, code: str) -> Delivery:
        """Write the dead-letter copy and wait for the broker's confirmation."""
        topic = dead_letter_topic_for(record.topic)
        value, headers = dead_letter_copy(record, reason=reason, code=code)
        return await self._producer.send(topic, value, key=record.key, headers=headers)
