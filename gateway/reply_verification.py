"""The first step of the reply path: is this reply really the provider's answer?

Anybody who can write to the reply topic could otherwise answer a pending exchange (the
issue #13 race). So before the gateway stores, audits or answers anything, every reply
passes ``ReplyVerifier.check``; the first failure wins:

1. the signature (``bus.record_signing``, on the record's raw headers and value) holds
   with a member's key valid at the reply's ``ce_time`` (``UNSIGNED``, ``MALFORMED``,
   ``UNKNOWN_KEY``, ``BAD_SIGNATURE``, ``KEY_NOT_VALID``);
2. for a known exchange, the binding, against the *stored* exchange, not the reply's
   claims: the signer is the exchange's provider, and so are the reply's
   ``interop_provider`` and ``ce_source`` (``NOT_THE_PROVIDER``); service and major
   version are the exchange's (``WRONG_SERVICE``); ``interop_request_digest`` equals the
   digest of the request record the gateway sent (``WRONG_REQUEST``: a real reply replayed
   onto another exchange, or a reply to an older request); ``ce_time`` is not before the
   exchange was created, nor ahead of the clock (``WRONG_TIME``, ``bus.signed_time``: the
   key window of step 1 is checked at ``ce_time``, which the signer writes, so a provider
   key retired before the exchange began cannot answer it by dating its reply back).

A reply that fails is *unverified*: ``ReplyGate.admit`` dead-letters it (with its reason,
to the dead-letter topic of the exchange's service, or of the claimed service for an
unknown exchange when the catalogue has it) and audits it as an UNVERIFIED record
at topic/partition/offset, never under the exchange, requester or subject it claims; the
exchange keeps waiting for the real reply. Both writes are awaited: if either fails the
gate raises, and the reply router retries the record (at least once, never skipped).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

import structlog

from bus import (
    REQUEST_DIGEST_HEADER,
    BusError,
    BusProducer,
    InboundRecord,
    MemberKeys,
    RecordSignatureError,
    Reply,
    RequestTopic,
    dead_letter_copy,
    parse_service_id,
    reply_time_problem,
)
from bus.audit import AuditTrail, unverified_record
from gateway.metrics import GatewayMetrics
from gateway.store.base import ExchangeRecord

__all__ = ["ReplyGate", "ReplyRejection", "ReplyVerifier", "UnverifiedReply"]

_log = structlog.get_logger(__name__)
_DLQ_CODE: Final = "GATEWAY_REPLY_UNVERIFIED"


class ReplyRejection(StrEnum):
    """Why a reply is not accepted (stable: dead-letter headers and the audit reason)."""

    UNSIGNED = "UNSIGNED"
    MALFORMED = "MALFORMED"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    KEY_NOT_VALID = "KEY_NOT_VALID"
    NOT_THE_PROVIDER = "NOT_THE_PROVIDER"
    WRONG_SERVICE = "WRONG_SERVICE"
    WRONG_REQUEST = "WRONG_REQUEST"
    WRONG_TIME = "WRONG_TIME"


@dataclass(frozen=True, slots=True)
class UnverifiedReply:
    """A refused reply: which check and how (no personal data, no key material)."""

    reason: ReplyRejection
    detail: str

    @property
    def text(self) -> str:
        return f"{self.reason.value}: {self.detail}"


class ReplyVerifier:
    """Checks a reply's signature and its binding to the stored exchange (pure)."""

    def __init__(
        self, keys: MemberKeys, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._keys = keys
        self._clock = clock

    def check(self, reply: Reply, exchange: ExchangeRecord | None) -> UnverifiedReply | None:
        """None when ``reply`` is the signed answer of ``exchange``'s provider to the request
        the gateway sent; else why not. With ``exchange`` None (unknown to this store) only
        the signature is checked."""
        envelope = reply.envelope
        headers = reply.headers or tuple(envelope.to_headers())
        try:
            signer = self._keys.verify(headers, reply.value or b"", at=envelope.time)
        except RecordSignatureError as exc:
            return UnverifiedReply(ReplyRejection(exc.reason.value), exc.detail)
        if exchange is None:
            return None
        if signer.member != exchange.provider:
            return UnverifiedReply(
                ReplyRejection.NOT_THE_PROVIDER,
                f"signed by {signer.member}, the exchange's provider is {exchange.provider}",
            )
        return _binding_problem(reply, exchange, self._clock())


def _binding_problem(
    reply: Reply, exchange: ExchangeRecord, now: datetime
) -> UnverifiedReply | None:
    """What the signed reply claims, against the stored exchange."""
    envelope = reply.envelope
    provider = exchange.provider
    if envelope.provider != provider or envelope.source != provider:
        return UnverifiedReply(
            ReplyRejection.NOT_THE_PROVIDER,
            "interop_provider and ce_source must name the exchange's provider",
        )
    if (envelope.service, str(envelope.major)) != (
        exchange.service,
        exchange.version.split(".", maxsplit=1)[0],
    ):
        return UnverifiedReply(
            ReplyRejection.WRONG_SERVICE,
            f"a {envelope.service}.v{envelope.major} reply for an exchange of "
            f"{exchange.service} {exchange.version}",
        )
    if exchange.sent_digest is None or envelope.request_digest != exchange.sent_digest:
        return UnverifiedReply(
            ReplyRejection.WRONG_REQUEST,
            f"{REQUEST_DIGEST_HEADER} does not name the request sent for this exchange",
        )
    late = reply_time_problem(envelope.time, exchange.created_at, now)
    if late is not None:
        return UnverifiedReply(ReplyRejection.WRONG_TIME, late)
    return None


class ReplyGate:
    """``ReplyVerifier`` plus what happens to a refused reply: dead letter, UNVERIFIED."""

    def __init__(
        self,
        verifier: ReplyVerifier,
        *,
        producer: BusProducer,
        trail: AuditTrail,
        metrics: GatewayMetrics,
        reply_topic: str,
        actor: str,
        dead_letter_services: Collection[tuple[str, int]],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._dead_letter_services = frozenset(dead_letter_services)
        self._verifier = verifier
        self._producer = producer
        self._trail = trail
        self._metrics = metrics
        self._reply_topic = reply_topic
        self._actor = actor
        self._clock = clock

    async def admit(self, reply: Reply, exchange: ExchangeRecord | None) -> bool:
        """True when the reply may go on; else it is dead-lettered and audited, False.

        Raises (``BusError``, ``AuditWriteError``) when either write fails, so the reply
        router retries this record rather than lose the trace of a forgery.
        """
        problem = self._verifier.check(reply, exchange)
        if problem is None:
            return True
        self._metrics.replies.labels("unverified").inc()
        # Topic, partition and offset only: the exchange id in the record is a claim.
        log = _log.bind(
            topic=self._reply_topic,
            partition=reply.partition,
            offset=reply.offset,
            reason=problem.reason.value,
        )
        log.warning("reply_unverified")
        record = InboundRecord(
            topic=self._reply_topic,
            partition=reply.partition,
            offset=reply.offset,
            timestamp_ms=reply.timestamp_ms,
            key=None,
            value=reply.value,
            headers=reply.headers or tuple(reply.envelope.to_headers()),
        )
        await self._dead_letter(record, problem, reply, exchange, log)
        # The code, not the detail: the detail may quote the record's claims.
        await self._audit(record, problem.reason.value)
        return False

    async def audit_unreadable(self, record: InboundRecord, reason: str) -> None:
        """The reply router's ``on_unreadable``: a record on the reply topic with no
        readable envelope, or no reply, is audited UNVERIFIED where it was read. Not
        dead-lettered: it names no service whose dead-letter topic could hold it."""
        self._metrics.replies.labels("unverified").inc()
        _log.warning(
            "reply_unverified",
            topic=self._reply_topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
        )
        await self._audit(record, reason)

    async def _audit(self, record: InboundRecord, reason: str) -> None:
        await self._trail.record(
            unverified_record(
                actor=self._actor,
                time=self._clock(),
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason=reason,
            )
        )

    async def _dead_letter(
        self,
        record: InboundRecord,
        problem: UnverifiedReply,
        reply: Reply,
        exchange: ExchangeRecord | None,
        log: structlog.typing.FilteringBoundLogger,
    ) -> None:
        """To the dead-letter topic of the exchange's service (of the claimed one for an
        unknown exchange, if the catalogue has it: a forger picks ``ce_type``, and a topic
        that does not exist would stall the reply partition on retries)."""
        if exchange is not None:
            service, major = exchange.service, int(exchange.version.split(".", maxsplit=1)[0])
        else:
            service, major = reply.envelope.service, reply.envelope.major
        if (service, major) not in self._dead_letter_services:
            log.warning("reply_not_dead_lettered", why="no such service in the catalogue")
            return
        value, headers = dead_letter_copy(record, reason=problem.text, code=_DLQ_CODE)
        try:
            await self._producer.send(
                RequestTopic(parse_service_id(service), major).dead_letter, value, headers=headers
            )
        except BusError as exc:
            log.warning("reply_dead_letter_failed", error_code=exc.code)
            raise
