"""The requesting side of request-reply: send a request, await its reply until a deadline.

Unlike Faust's ``ask()`` (no timeout) every request here has a deadline: it travels in
``interop_deadline`` so the responder can skip work nobody waits for, and the caller gets
``RequestTimeoutError`` when it passes. The reply is matched by exchange id only among
replies on this requester's own partitions (see ``bus/reply_router.py``).
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
from bus.reply_router import Reply, ReplyRouter
from bus.settings import KafkaSettings
from bus.topics import ReplyTopic, RequestTopic
from bus.traceparent import TraceParent, child_traceparent, new_traceparent

__all__ = ["OutboundRequest", "Requester"]

_log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """What a request is about; the requester adds ids, times and routing.

    ``subject_ref`` must be a pseudonym (the envelope refuses anything else); it is also
    the record key, so requests about one subject stay in order on one partition.
    """

    topic: RequestTopic
    provider: MemberId
    purpose: str
    procedure: str | None = None
    legal_basis: str | None = None
    consent_ref: str | None = None
    subject_ref: str | None = None
    traceparent: TraceParent | None = None


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
    ) -> None:
        self._settings = settings
        self._member = member
        self._producer = producer
        self.router = ReplyRouter(settings, reply_topic=reply_topic, partitions=reply_partitions)
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
        if timeout <= 0:
            raise ValueError("timeout_s must be positive")
        traceparent = (
            child_traceparent(request.traceparent) if request.traceparent else new_traceparent()
        )
        envelope = Envelope.new_request(
            source=self._member,
            service=request.topic.service,
            major=request.topic.major,
            provider=request.provider,
            purpose=request.purpose,
            procedure=request.procedure,
            legal_basis=request.legal_basis,
            consent_ref=request.consent_ref,
            subject_ref=request.subject_ref,
            deadline=datetime.now(UTC) + timedelta(seconds=timeout),
            reply_topic=self.router.reply_topic.name,
            reply_partition=next(self._next_partition),
            traceparent=traceparent,
        )
        key = (request.subject_ref or envelope.exchange_id).encode()
        # Registered before sending: a fast reply must find its waiter.
        future = self.router.expect(envelope.exchange_id)
        try:
            async with asyncio.timeout(timeout):
                await self._producer.send(
                    request.topic, value, key=key, headers=envelope.to_headers()
                )
                return await future
        except TimeoutError:
            _log.info("request_timed_out", **envelope.log_context(), timeout_s=timeout)
            raise RequestTimeoutError(envelope.exchange_id, timeout) from None
        finally:
            self.router.forget(envelope.exchange_id)
