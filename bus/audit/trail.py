"""What every component hands to the audit trail: one ``AuditRecord`` per step.

The gateway (requested, denied, completed, failed, timed out, consent and opposition
changes) and the connector runtime (delivered, responded, rejected) describe each step as
an ``AuditRecord`` and await ``AuditTrail.record``. The Kafka implementation writes it as
an Avro ``AuditEvent`` to ``interop.audit`` with acks=all and returns only once the broker
has acknowledged it: a caller that gets data back only after ``record`` returned can
never receive data whose trace was lost. ``record`` raises
``bus.audit.errors.AuditWriteError`` when the event could not be written; callers must
not go on as if it had been.

Records carry metadata only: a subject appears as its keyed pseudonym, payloads as keyed
digests (HMAC-SHA-256), never as values.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol

__all__ = [
    "AuditEventType",
    "AuditRecord",
    "AuditTrail",
    "MemoryAuditTrail",
    "exchange_event_id",
]


class AuditEventType(enum.StrEnum):
    """Every step the trail knows; values are the Avro enum's symbols."""

    REQUESTED = "REQUESTED"
    DENIED = "DENIED"
    DELIVERED = "DELIVERED"
    RESPONDED = "RESPONDED"
    REJECTED = "REJECTED"
    """The connector side refused a request (signature, claims, deadline, undecodable)."""
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    CONSENT_GRANTED = "CONSENT_GRANTED"
    CONSENT_REVOKED = "CONSENT_REVOKED"
    OPPOSITION_REGISTERED = "OPPOSITION_REGISTERED"
    OPPOSITION_REVOKED = "OPPOSITION_REVOKED"
    UNVERIFIED = "UNVERIFIED"
    """A record that failed verification (``bus.audit.unverified``): audited by where it
    was read, never under the exchange, requester or subject it claims (audit-event 1.1)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """One step, as the component that took it saw it.

    ``exchange_id`` is None for consent and opposition changes (``subject_ref`` and
    ``reason`` then say whose and which). ``outcome`` is a stable code (``ALLOWED``,
    ``DENIED``, ``OK``, ``NOT_FOUND``, ``PROVIDER_ERROR``...), ``reason`` the rule or
    error that decided it, never personal data.
    """

    type: AuditEventType
    time: datetime
    actor: str
    """The member whose component took the step (gateway's member, provider, portal)."""
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
    event_id: str | None = None
    """Set for a step that may be written twice (a retry after a crash, several gateway
    replicas closing the same exchange): ``exchange_event_id``. The indexer keeps the first
    event of an id. None: the trail gives the event a fresh UUIDv7."""


_EXCHANGE_EVENTS: Final = uuid.UUID("6f1d2c8e-4b7a-5e21-9c3d-1a2b3c4d5e6f")


def exchange_event_id(actor: str, exchange_id: str, event_type: AuditEventType) -> str:
    """The one id of ``actor``'s ``event_type`` step of an exchange (a UUIDv5: the same
    step written again, after a crash or by another replica, is the same event)."""
    return str(uuid.uuid5(_EXCHANGE_EVENTS, f"{actor}/{exchange_id}/{event_type.value}"))


class AuditTrail(Protocol):
    """Where steps go. ``record`` returns once the step is durable, or raises."""

    async def record(self, event: AuditRecord) -> None: ...


@dataclass
class MemoryAuditTrail:
    """An in-memory trail for unit tests only: keeps what it was given, in order."""

    records: list[AuditRecord] = field(default_factory=list)

    async def record(self, event: AuditRecord) -> None:
        self.records.append(event)
