"""The requesting side of request-reply: send a request, await its reply until a deadline.

Unlike Faust's ``ask()`` (no timeout) every request here has a deadline: it travels in
``interop_deadline`` so the responder can skip work nobody waits for, and the caller gets
``RequestTimeoutError`` when it passes. The reply is matched by exchange id only among
replies on this requester's own partitions (see ``bus/reply_router.py``).

``request()`` is send-and-wait. A gateway whose callers may not wait splits it:
``new_envelope()`` (the exchange id exists before anything is sent, so it can be stored
first), ``send()``, and the router's ``on_reply`` sink for the result.

A requester given a ``RequestSigner`` signs every request it sends (the gateway does), so
connectors can refuse requests that did not pass the gateway.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self

import structlog

from bus.envelope import Envelope
from bus.errors import RequestTimeoutError
from bus.ids import MemberId
from bus.producer import BusProducer
from bus.record_signing import request_digest
from bus.records import Delivery
from bus.reply_router import Reply, ReplyRouter, ReplySink, UnreadableSink
from bus.request_signing import RequestSigner
from bus.settings import KafkaSettings
from bus.signed_time import MAX_REQUEST_LIFETIME_S
from bus.topics import ReplyTopic, RequestTopic
from bus.traceparent import TraceParent, child_traceparent, new_traceparent

__all__ = ["OutboundRequest", "Requester"]

_log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """What a request is about; the requester adds ids, times and routing.

    ``subject_ref`` must be a pseudonym (the envelope refuses anything else); it is also
    the record key, so requests about one subject stay in order on one partition.
    ``source`` overrides the requester's own member id (a gateway sends on behalf of the
    administration that called it).
    """

    topic: RequestTopic
    provider: MemberId
    purpose: str
    procedure: str | None = None
    legal_basis: str | None = None
    consent_ref: str | None = None
    subject_ref: str | None = None
    traceparent: TraceParent | None = None
    source: MemberId | None = None

    def record_key(self, exchange_id: str) -> bytes:
        """The record key: the subject pseudonym, else the exchange id (so a gate can tell
        which partition the request will go to before it is sent)."""
        return (self.subject_ref or exchange_id).encode()


class Requester:
    """Sends requests and awaits their replies on its own reply partitions."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        member: MemberId,
        producer: BusProducer,
        reply_topic: ReplyTopic,
        reply_partitions: Sequence[int],
        on_reply: ReplySink | None = None,
        offsets_group: str | None = None,
        signer: RequestSigner | None = None,
        on_unreadable: UnreadableSink | None = None,
    ) -> None:
        self._settings = settings
        self._signer = signer
        self._member = member
        self._producer = producer
        self.router = ReplyRouter(
            settings,
            reply_topic=reply_topic,
            partitions=reply_partitions,
            on_reply=on_reply,
            offsets_group=offsets_group,
            on_unreadable=on_unreadable,
        )
        self._next_partition = itertools.cycle(self.router.partitions)

    async def start(self) -> None:
        """Start the reply router; requests may be sent once this returns."""
        await self.router.start()

    async def stop(self) -> None:
        """Stop routing replies; pending requests fail with ``ClientStateError``."""
        await self.router.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def request(
        self, request: OutboundRequest, value: bytes, *, timeout_s: float | None = None
    ) -> Reply:
        """Send ``value`` as a request and return the reply, whatever its status.

        Raises ``RequestTimeoutError`` (retriable) when no reply arrives within
        ``timeout_s`` (default: the settings' ``default_request_timeout_s``), which also
        bounds the time spent sending; ``TooManyPendingRequestsError`` when the pending
        bound is reached; the producer's ``BusError``s when the request is not written.
        """
        timeout = timeout_s if timeout_s is not None else self._settings.default_request_timeout_s
        if not 0 < timeout <= MAX_REQUEST_LIFETIME_S:
            # Connectors refuse a longer deadline (``bus.signed_time``).
            raise ValueError(f"timeout_s must be positive and at most {MAX_REQUEST_LIFETIME_S}")
        envelope = self.new_envelope(
            request, deadline=datetime.now(UTC) + timedelta(seconds=timeout)
        )
        # Registered before sending: a fast reply must find its waiter.
        future = self.router.expect(envelope.exchange_id)
        try:
            async with asyncio.timeout(timeout):
                await self.send(request, envelope, value)
                return await future
        except TimeoutError:
            _log.info("request_timed_out", **envelope.log_context(), timeout_s=timeout)
            raise RequestTimeoutError(envelope.exchange_id, timeout) from None
        finally:
            self.router.forget(envelope.exchange_id)

    def new_envelope(self, request: OutboundRequest, *, deadline: datetime) -> Envelope:
        """The request envelope (fresh exchange id, one of our reply partitions, a child
        of the caller's trace) without sending anything."""
        traceparent = (
            child_traceparent(request.traceparent) if request.traceparent else new_traceparent()
        )
        return Envelope.new_request(
            source=request.source or self._member,
            service=request.topic.service,
            major=request.topic.major,
            provider=request.provider,
            purpose=request.purpose,
            procedure=request.procedure,
            legal_basis=request.legal_basis,
            consent_ref=request.consent_ref,
            subject_ref=request.subject_ref,
            deadline=deadline,
            reply_topic=self.router.reply_topic.name,
            reply_partition=next(self._next_partition),
            traceparent=traceparent,
        )

    def sign_with_digest(self, envelope: Envelope, value: bytes) -> tuple[Envelope, str]:
        """``envelope`` as ``send`` will write it (signed when there is a signer), and the
        ``request_digest`` a reply must name, from one computation of the signed bytes."""
        if self._signer is None:
            return envelope, request_digest(envelope, value)
        return self._signer.sign_with_digest(envelope, value)

    async def send(self, request: OutboundRequest, envelope: Envelope, value: bytes) -> Delivery:
        """Write the request (keyed by subject pseudonym, else exchange id); the reply goes
        to the router's sink and to a waiter registered with ``router.expect``.

        With a signer, the request is signed here, over the exact headers and value that
        are written (see ``bus/request_signing.py``), unless it was signed already
        (``sign_with_digest``, as the gateway does before it stores the exchange): signing is
        deterministic, so a second signature would be the same bytes at the same cost."""
        key = request.record_key(envelope.exchange_id)
        if self._signer is not None and envelope.signature is None:
            envelope = self._signer.sign(envelope, value)
        return await self._producer.send(
            request.topic, value, key=key, headers=envelope.to_headers()
        )
