"""Request-reply against the real broker, requester and responder in this process."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from bus import (
    BusProducer,
    Envelope,
    KafkaSettings,
    OutboundRequest,
    ReplyOutcome,
    ReplyStatus,
    Requester,
    RequestTimeoutError,
    Responder,
    parse_member_id,
)
from tests.integration.bus.conftest import REPLY_PARTITIONS, BusTopics
from tests.integration.bus.kafka_helpers import wait_for

Handler = Callable[[Envelope, bytes | None], Awaitable[ReplyOutcome]]


async def echo(_envelope: Envelope, value: bytes | None) -> ReplyOutcome:
    """Reply ``re:<value>``: a crossed reply is visible in its value."""
    return ReplyOutcome(b"re:" + (value or b""))


@asynccontextmanager
async def running_exchange(
    settings: KafkaSettings, topics: BusTopics, handler: Handler, *, max_in_flight: int = 16
) -> AsyncIterator[tuple[Requester, Responder]]:
    """A started responder (partitions assigned) and a requester owning every reply partition."""
    async with BusProducer(settings) as producer:
        responder = Responder(
            settings,
            member=parse_member_id("it.provider"),
            topic=topics.request,
            group_id=f"g-{topics.request.service}",
            handler=handler,
            producer=producer,
            max_in_flight=max_in_flight,
        )
        await responder.start()
        requester = Requester(
            settings,
            member=parse_member_id("it.requester"),
            producer=producer,
            reply_topic=topics.reply,
            reply_partitions=range(REPLY_PARTITIONS),
        )
        try:
            await responder.consumer.wait_assigned(timeout_s=20)
            async with requester:
                yield requester, responder
        finally:
            await responder.stop()


def _request(topics: BusTopics, **kw: str) -> OutboundRequest:
    return OutboundRequest(
        topic=topics.request,
        provider=parse_member_id("it.provider"),
        purpose="integration-test",
        **kw,
    )


async def test_reply_carries_the_exchange_id_status_and_policy_of_its_request(
    settings: KafkaSettings, topics: BusTopics
) -> None:
    """The reply envelope has the request's exchange id, the handler's status and its policy."""

    async def not_found(envelope: Envelope, _value: bytes | None) -> ReplyOutcome:
        assert envelope.purpose == "integration-test"
        return ReplyOutcome(b"", ReplyStatus.NOT_FOUND, "NO_SUCH_RECORD")

    async with running_exchange(settings, topics, not_found) as (requester, _):
        reply = await requester.request(
            _request(topics, subject_ref="s" * 43, consent_ref="urn:c:1"), b"q", timeout_s=20
        )
    assert reply.envelope.status is ReplyStatus.NOT_FOUND
    assert reply.envelope.error_code == "NO_SUCH_RECORD"
    assert reply.envelope.subject_ref == "s" * 43
    assert reply.envelope.consent_ref == "urn:c:1"
    assert reply.envelope.source == "it.provider"
    assert reply.partition in range(REPLY_PARTITIONS)


async def test_a_thousand_concurrent_requests_get_their_own_replies(
    settings: KafkaSettings, topics: BusTopics
) -> None:
    """1,000 requests at once: every one answered, each with its own reply, none dropped."""
    count = 1000
    async with running_exchange(settings, topics, echo, max_in_flight=64) as (requester, _):
        request = _request(topics)
        values = [f"v-{i}-{os.urandom(4).hex()}".encode() for i in range(count)]
        replies = await asyncio.gather(
            *(requester.request(request, value, timeout_s=60) for value in values)
        )
        stats = requester.router.stats
        pending = requester.router.pending_count
    assert [reply.value for reply in replies] == [b"re:" + value for value in values]
    assert len({reply.envelope.exchange_id for reply in replies}) == count
    assert (stats.delivered, stats.dropped_unknown, stats.dropped_invalid) == (count, 0, 0)
    assert pending == 0


async def test_deadline_expiry_raises_and_the_late_reply_is_dropped(
    settings: KafkaSettings, topics: BusTopics
) -> None:
    """A reply after the deadline raises RequestTimeoutError; the late reply reaches nobody."""
    slow_started = asyncio.Event()
    release = asyncio.Event()

    async def handler(envelope: Envelope, value: bytes | None) -> ReplyOutcome:
        if value == b"slow":
            slow_started.set()
            await release.wait()
        return await echo(envelope, value)

    async with running_exchange(settings, topics, handler) as (requester, responder):
        with pytest.raises(RequestTimeoutError) as caught:
            await requester.request(_request(topics), b"slow", timeout_s=1.0)
        assert caught.value.retriable
        assert slow_started.is_set()
        release.set()
        await wait_for(
            lambda: requester.router.stats.dropped_unknown == 1,
            timeout_s=20,
            what="the late reply to be dropped",
        )
        reply = await requester.request(_request(topics), b"fast", timeout_s=20)
        # The responder counts a reply once its send is acknowledged, which can come after
        # the requester already read it: wait for the count, do not sample it.
        await wait_for(
            lambda: responder.stats.replied == 2, timeout_s=20, what="both replies counted"
        )
    assert reply.value == b"re:fast"
    assert reply.envelope.exchange_id != caught.value.exchange_id
    assert requester.router.stats.by_reason == {"late_or_unknown": 1}


async def test_a_request_nobody_answers_times_out_at_its_deadline(
    settings: KafkaSettings, topics: BusTopics
) -> None:
    """With no responder at all, the caller gets a typed timeout close to the deadline."""
    async with BusProducer(settings) as producer:
        requester = Requester(
            settings,
            member=parse_member_id("it.requester"),
            producer=producer,
            reply_topic=topics.reply,
            reply_partitions=[0],
        )
        async with requester:
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(RequestTimeoutError):
                await requester.request(_request(topics), b"anyone?", timeout_s=0.5)
            elapsed = loop.time() - started
            assert requester.router.pending_count == 0
    assert 0.5 <= elapsed < 2.0
