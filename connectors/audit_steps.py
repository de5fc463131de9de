"""The connector's audit steps: DELIVERED, RESPONDED and REJECTED as ``AuditRecord``s.

Payloads appear only as keyed digests (HMAC-SHA-256, hex) under the connector's digest
key: personal data has too little entropy to survive a guess against a plain hash.

Each step has its one event id (``exchange_event_id``): a request redelivered after a
crash and answered again from the reply store writes the same DELIVERED and RESPONDED
events, which the indexer keeps once each.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from bus import Envelope, trace_id_of
from bus.audit import AuditEventType, AuditRecord, exchange_event_id, payload_digest

__all__ = ["AuditSteps"]


class AuditSteps:
    """Builds the records of one connector member for one service version."""

    def __init__(self, *, member: str, version: str, digest_key: bytes) -> None:
        self._member = member
        self._version = version
        self._key = digest_key

    def _base(self, kind: AuditEventType, envelope: Envelope, now: datetime) -> AuditRecord:
        return AuditRecord(
            type=kind,
            time=now,
            actor=self._member,
            exchange_id=envelope.exchange_id,
            requester=envelope.source,
            provider=envelope.provider,
            service=envelope.service,
            version=self._version,
            purpose=envelope.purpose,
            procedure=envelope.procedure,
            legal_basis=envelope.legal_basis,
            consent_ref=envelope.consent_ref,
            subject_ref=envelope.subject_ref,
            trace_id=trace_id_of(envelope.traceparent),
            event_id=exchange_event_id(self._member, envelope.exchange_id, kind),
        )

    def delivered(self, envelope: Envelope, request: bytes, now: datetime) -> AuditRecord:
        """Verified and decoded; the legacy registry is about to be asked."""
        base = self._base(AuditEventType.DELIVERED, envelope, now)
        return dataclasses.replace(
            base, request_digest=payload_digest(self._key, request), outcome="DELIVERED"
        )

    def responded(
        self,
        envelope: Envelope,
        *,
        request: bytes,
        reply: bytes,
        outcome: str,
        latency_ms: int,
        now: datetime,
        reason: str | None = None,
    ) -> AuditRecord:
        """The reply is written to the requester's reply partition."""
        base = self._base(AuditEventType.RESPONDED, envelope, now)
        return dataclasses.replace(
            base,
            request_digest=payload_digest(self._key, request),
            response_digest=payload_digest(self._key, reply),
            outcome=outcome,
            latency_ms=latency_ms,
            reason=reason,
        )

    def rejected(
        self, envelope: Envelope, *, request: bytes, reason: str, now: datetime
    ) -> AuditRecord:
        """The connector refused the request (verification or decoding failed)."""
        base = self._base(AuditEventType.REJECTED, envelope, now)
        return dataclasses.replace(
            base,
            request_digest=payload_digest(self._key, request),
            outcome="REJECTED",
            reason=reason,
        )
