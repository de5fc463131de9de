"""Plain values for records going in and out of Kafka, free of aiokafka types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from aiokafka.structs import ConsumerRecord

__all__ = ["Delivery", "Headers", "InboundRecord"]

Headers = tuple[tuple[str, bytes | None], ...]
_LOG_APPEND_TIME: Final = 1  # the record batch's timestamp type (Kafka protocol)


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where the broker confirmed a record: it is durably written (acks=all)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class InboundRecord:
    """A record as a handler sees it."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    unseen: bool = False
    """True only when no consumer can have read this record before: written after its
    partition was assigned to this consumer, and handed over for the first time (not a
    retry). A handler may then skip looking up what an earlier delivery left behind."""
    appended_by_broker: bool = False
    """True when ``timestamp_ms`` is the time the broker appended the record (the topic's
    ``message.timestamp.type`` is ``LogAppendTime``), which no producer can choose; False
    when it is the producer's own (``CreateTime``)."""

    @classmethod
    def from_consumer_record(
        cls, record: ConsumerRecord[bytes, bytes], *, unseen: bool = False
    ) -> InboundRecord:
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp_ms=record.timestamp,
            key=record.key,
            value=record.value,
            headers=_headers(record.headers),
            unseen=unseen,
            appended_by_broker=record.timestamp_type == _LOG_APPEND_TIME,
        )


def _headers(raw: Sequence[tuple[str, bytes | None]]) -> Headers:
    return tuple((name, value) for name, value in raw)
