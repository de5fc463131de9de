"""Garbled request headers go to the dead-letter topic, never into a crash loop."""

from __future__ import annotations

from bus import (
    BusProducer,
    DuplicatedHeaderError,
    KafkaSettings,
    MalformedHeaderError,
    MissingHeaderError,
    OutboundRequest,
    parse_member_id,
)
from tests.integration.bus.conftest import BusTopics
from tests.integration.bus.kafka_helpers import committed_offsets, end_offsets, read_topic
from tests.integration.bus.test_request_reply import echo, running_exchange
from tests.unit.bus.envelopes import request_envelope


async def test_garbled_headers_are_dead_lettered_with_reason_and_coordinates(
    settings: KafkaSettings, topics: BusTopics
) -> None:
    """Missing, duplicated, non-UTF-8 and hostile headers each land in the DLQ; service goes on."""
    good = request_envelope(reply_topic=topics.reply.name, service=topics.request.service)
    headers = good.to_headers()
    garbled = {
        b"missing": (
            [(k, v) for k, v in headers if k != "ce_id"],
            MissingHeaderError.code,
            "ce_id",
        ),
        b"duplicated": (
            [*headers, ("ce_type", dict(headers)["ce_type"])],
            DuplicatedHeaderError.code,
            "ce_type",
        ),
        b"not-utf8": (
            [(k, b"\xff\xfe" if k == "traceparent" else v) for k, v in headers],
            MalformedHeaderError.code,
            "traceparent",
        ),
        b"hostile": (
            [(k, b"ok\x1b[2J\nFAKE LOG" if k == "interop_purpose" else v) for k, v in headers],
            MalformedHeaderError.code,
            "interop_purpose",
        ),
    }
    async with running_exchange(settings, topics, echo) as (requester, responder):
        async with BusProducer(settings) as producer:
            sent = {
                value: await producer.send(topics.request, value, key=b"k", headers=bad)
                for value, (bad, _code, _header) in garbled.items()
            }
        request = OutboundRequest(
            topic=topics.request, provider=parse_member_id("it.provider"), purpose="after"
        )
        reply = await requester.request(request, b"still-served", timeout_s=20)
        dead = await read_topic(settings, topics.dead_letter.name, count=len(garbled))
        dead_lettered = responder.stats.dead_lettered
    assert reply.value == b"re:still-served"
    assert dead_lettered == len(garbled)
    assert len(dead) == len(garbled)
    for record in dead:
        assert record.value is not None
        bad_headers, code, header = garbled[record.value]
        added = {k: v.decode() for k, v in record.headers if k.startswith("interop_dlq_")}
        delivery = sent[record.value]
        assert added["interop_dlq_error_code"] == code
        assert header in added["interop_dlq_reason"]
        assert added["interop_dlq_topic"] == topics.request.name
        assert int(added["interop_dlq_partition"]) == delivery.partition
        assert int(added["interop_dlq_offset"]) == delivery.offset
        assert added["interop_dlq_timestamp"].endswith("Z")
        original = [(k, v) for k, v in record.headers if not k.startswith("interop_dlq_")]
        assert original == bad_headers
        assert record.key == b"k"
    # Every request offset is committed: nothing is left to crash-loop on after a restart.
    committed = await committed_offsets(settings, f"g-{topics.request.service}")
    ends = await end_offsets(settings, topics.request.name)
    assert {p: committed.get(p, 0) for p in ends} == ends
