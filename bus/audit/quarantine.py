"""The indexer's gate: only events signed by an actor allowed to write them become leaves.

``EventGate.admit`` runs ``bus.audit.event_signing.check_event`` on each decoded event.
An event that fails is *quarantined*: written, with its reason, to the quarantine topic
(``<audit topic>.quarantine``, so ``interop.audit.quarantine``: dead-letter headers, the
original value) and to the index's quarantine table in the same transaction as the
batch, never into the Merkle tree, so the log still verifies and no access list shows it.
The topic write comes first and is awaited: if it fails, ``AuditWriteError`` makes the
indexer retry the batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import structlog

from bus.audit.errors import AuditWriteError
from bus.audit.event import EventRow, format_time
from bus.audit.event_signing import EventSignature, as_requested, check_event, event_signature
from bus.audit.index.store import QuarantinedEvent
from bus.dead_letter import dead_letter_copy
from bus.errors import BusError
from bus.member_keys import MemberKeys
from bus.producer import BusProducer
from bus.records import InboundRecord
from bus.topics import check_kafka_topic_name

__all__ = ["QUARANTINE_SUFFIX", "Admission", "EventGate"]

_log = structlog.get_logger(__name__)
QUARANTINE_SUFFIX: Final = ".quarantine"
_CODE: Final = "BUS_AUDIT_EVENT_QUARANTINED"


@dataclass(frozen=True, slots=True)
class Admission:
    """One event's fate: a leaf (with its signature, if any) or quarantined."""

    signature: EventSignature | None
    quarantined: QuarantinedEvent | None = None


class EventGate:
    """Checks events against the members' keys; writes refused ones to the quarantine topic.

    ``keys=None`` checks nothing (an index fed by unsigned writers, e.g. older tests):
    every event is a leaf, its signature stored when it has one.
    """

    def __init__(
        self,
        keys: MemberKeys | None,
        *,
        producer: BusProducer | None,
        audit_topic: str,
        providers_of: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self._keys = keys
        self._providers_of = providers_of
        self._producer = producer
        self._warned_create_time = False
        self.topic = check_kafka_topic_name(audit_topic + QUARANTINE_SUFFIX)

    @property
    def checks(self) -> bool:
        """Whether events are checked at all (``keys`` given)."""
        return self._keys is not None

    def admit(
        self,
        record: InboundRecord,
        row: EventRow,
        entry: bytes,
        *,
        requested: Mapping[str, EventRow] | None = None,
    ) -> Admission:
        """Whether ``row`` (decoded from ``record``; ``entry``: its leaf entry) may become
        a leaf. ``requested``: the REQUESTED event of each exchange a provider's step of
        this batch names, as far as the log has one (``as_requested``); None: not checked.
        """
        signature = event_signature(record.headers)
        if self._keys is None:
            return Admission(signature)
        problem = check_event(
            row,
            signature,
            self._keys,
            entry=entry,
            providers_of=self._providers_of,
            appended=self._appended(record),
        )
        if problem is None and requested is not None:
            problem = as_requested(row, requested.get(row.exchange_id or ""))
        if problem is None:
            return Admission(signature)
        _log.warning("audit_event_quarantined", offset=record.offset, reason=problem.reason.value)
        return Admission(
            signature,
            QuarantinedEvent(
                topic_offset=record.offset,
                event_id=row.event_id,
                type=row.type,
                actor=row.actor[:200],
                key_id=None if signature is None else signature.key_id[:200],
                reason=problem.text,
                quarantined_at=format_time(datetime.now(UTC)),
            ),
        )

    def _appended(self, record: InboundRecord) -> datetime | None:
        """When the broker appended ``record``, if the topic keeps the broker's time."""
        if record.appended_by_broker:
            return datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)
        if not self._warned_create_time:
            # Checked once per process: `interop topics apply` sets LogAppendTime.
            self._warned_create_time = True
            _log.warning(
                "audit_topic_keeps_producer_time",
                detail="the audit topic's message.timestamp.type is not LogAppendTime: an"
                " event signed with a retired key and dated into its window is not refused;"
                " run interop topics apply",
            )
        return None

    async def publish(self, refused: list[tuple[InboundRecord, QuarantinedEvent]]) -> None:
        """Write each refused record to the quarantine topic (``AuditWriteError`` if not)."""
        if self._producer is None:
            return
        for record, entry in refused:
            value, headers = dead_letter_copy(record, reason=entry.reason, code=_CODE)
            try:
                await self._producer.send(self.topic, value, key=record.key, headers=headers)
            except BusError as exc:
                raise AuditWriteError(
                    f"a quarantined audit record was not written to {self.topic} ({exc.code})"
                ) from exc
