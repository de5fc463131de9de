"""The reply router's sink and committed offsets, against the real broker.

A gateway stores every reply (``on_reply``) so that callers who did not wait, and other
replicas, find the result; and it resumes its reply partitions where it stopped, so a
reply written while it was down is not skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bus import (
    BusProducer,
    Envelope,
    KafkaSettings,
    Reply,
    ReplyRouter,
    ReplyStatus,
    Requester,
    new_traceparent,
    parse_member_id,
)
from tests.integration.bus.conftest import REPLY_PARTITIONS, BusTopics
from tests.integration.bus.kafka_helpers import committed_offsets, wait_for
from tests.integration.bus.test_request_reply import _request, echo, running_exchange


def _reply_headers(topics: BusTopics) -> tuple[str, list[tuple[str, bytes]]]:
    request = Envelope.new_request(
        source=parse_member_id("it.requester"),
        service=topics.request.service,
        major=topics.request.major,
        provider=parse_member_id("it.provider"),
        purpose="integration-test",
        deadline=datetime.now(UTC) + timedelta(seconds=30),
        reply_topic=topics.reply.name,
        reply_partition=0,
        traceparent=new_traceparent(),
    )
    reply = request.reply(source=parse_member_id("it.provider"), status=ReplyStatus.OK)
    return request.exchange_id, reply.to_headers()


async def test_the_sink_takes_every_reply_before_the_waiter_wakes(
    settings: KafkaSettings, topics: BusTopics
) -> None:
    """Each reply reaches the sink first, then its waiter; one without a waiter too."""
    events: list[str] = []

    async def sink(reply: Reply) -> None:
        events.append(f"sink:{reply.value!r}")

    async with running_exchange(settings, topics, echo) as (plain, _):
        await plain.stop()  # this test's requester below owns the partitions instead
        async with BusProducer(settings) as producer:
            requester = Requester(
                settings,
                member=parse_member_id("it.requester"),
                producer=producer,
                reply_topic=topics.reply,
                reply_partitions=range(REPLY_PARTITIONS),
                on_reply=sink,
            )
            async with requester:
                reply = await requester.request(_request(topics), b"a", timeout_s=20)
                events.append(f"waiter:{reply.value!r}")
                # Sent without a waiter (an async caller): the sink still gets the reply.
                envelope = requester.new_envelope(
                    _request(topics), deadline=datetime.now(UTC) + timedelta(seconds=20)
                )
                await requester.send(_request(topics), envelope, b"b")
                await wait_for(lambda: len(events) == 3, timeout_s=20, what="the second reply")
                stats = requester.router.stats
    assert events == ["sink:b're:a'", "waiter:b're:a'", "sink:b're:b'"]
    assert (stats.sunk, stats.delivered, stats.dropped_unknown) == (2, 1, 0)


async def test_a_failing_sink_is_retried_until_it_takes_the_reply(
    settings: KafkaSettings, topics: BusTopics
) -> None:
    """A sink that raises twice (the store blinked) is called again; the waiter still wakes."""
    calls = 0

    async def flaky(_reply: Reply) -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise ConnectionError("store down")

    async with BusProducer(settings) as producer:
        router = ReplyRouter(
            settings, reply_topic=topics.reply, partitions=[0], on_reply=flaky, sink_retry_s=0.01
        )
        await router.start()
        try:
            exchange_id, headers = _reply_headers(topics)
            future = router.expect(exchange_id)  # type: ignore[arg-type]
            await producer.send(topics.reply, b"v", headers=headers, partition=0)
            reply = await asyncio.wait_for(future, timeout=20)
        finally:
            await router.stop()
    assert reply.envelope.exchange_id == exchange_id
    assert calls == 3
    assert (router.stats.sink_failures, router.stats.sunk) == (2, 1)


async def test_a_restarted_router_resumes_from_committed_offsets(
    settings: KafkaSettings, topics: BusTopics, unique_name: Callable[[str], str]
) -> None:
    """Replies written while no router ran reach the next one; replies already taken do not."""
    group = unique_name("offsets")
    seen: list[bytes | None] = []

    async def sink(reply: Reply) -> None:
        seen.append(reply.value)

    def router() -> ReplyRouter:
        return ReplyRouter(
            settings,
            reply_topic=topics.reply,
            partitions=[0, 1],
            on_reply=sink,
            offsets_group=group,
        )

    async with BusProducer(settings) as producer:
        first = router()
        await first.start()
        _, headers = _reply_headers(topics)
        await producer.send(topics.reply, b"one", headers=headers, partition=0)
        await wait_for(lambda: seen == [b"one"], timeout_s=20, what="the first reply")
        await wait_for(lambda: first.stats.commits >= 1, timeout_s=20, what="a commit")
        await first.stop()
        assert (await committed_offsets(settings, group)).get(0) == 1

        _, headers = _reply_headers(topics)
        await producer.send(topics.reply, b"two", headers=headers, partition=1)
        latest = ReplyRouter(settings, reply_topic=topics.reply, partitions=[0, 1], on_reply=sink)
        await latest.start()  # no offsets group: starts at the end, so "two" is not re-read
        await latest.stop()

        second = router()
        await second.start()
        try:
            await wait_for(
                lambda: len(seen) >= 2, timeout_s=20, what="the reply written while down"
            )
        finally:
            await second.stop()
    assert seen == [b"one", b"two"]
