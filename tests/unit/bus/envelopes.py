"""Envelope builders shared by the unit tests (and the DLQ integration test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bus import Envelope, ServiceId, TopicName, parse_member_id, parse_service_id
from bus.traceparent import TraceParent

TRACEPARENT = TraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
REPLY_TOPIC = TopicName("interop.rep.gw.a")
PSEUDONYM = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE"


def request_envelope(
    *,
    reply_topic: TopicName = REPLY_TOPIC,
    service: ServiceId | None = None,
    **overrides: object,
) -> Envelope:
    """A valid request envelope; keyword overrides replace fields (validated again)."""
    envelope = Envelope.new_request(
        source=parse_member_id("es.aeat"),
        service=service or parse_service_id("register.residence-certificate"),
        major=1,
        provider=parse_member_id("es.ine"),
        purpose="residence-check",
        procedure="PROC-42",
        legal_basis="Ley 39/2015 art. 28",
        consent_ref="urn:consent:1234",
        subject_ref=PSEUDONYM,
        deadline=datetime.now(UTC) + timedelta(seconds=30),
        reply_topic=reply_topic,
        reply_partition=2,
        traceparent=TRACEPARENT,
    )
    if not overrides:
        return envelope
    return Envelope.model_validate({**envelope.model_dump(), **overrides})
