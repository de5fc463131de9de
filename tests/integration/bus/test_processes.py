"""Request-reply across real OS processes: shared reply topic, and a responder killed mid-stream."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bus import (
    BusProducer,
    Envelope,
    KafkaSettings,
    OutboundRequest,
    Requester,
    Responder,
    parse_member_id,
)
from tests.integration.bus.conftest import REPLY_PARTITIONS, BusTopics
from tests.integration.bus.kafka_helpers import end_offsets, read_topic, wait_for
from tests.integration.bus.test_request_reply import echo

REPO = Path(__file__).resolve().parents[3]


def _spawn(module: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", f"tests.integration.bus.{module}", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@contextmanager
def _reaped(*processes: subprocess.Popen[str]) -> Iterator[None]:
    """Kill what is still running when the test ends, whatever happened."""
    try:
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
            if process.stdout is not None:
                process.stdout.close()


async def _read_line(process: subprocess.Popen[str], timeout_s: float) -> str:
    assert process.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), timeout_s)
    return line.strip()


async def test_two_requester_processes_share_one_reply_topic(
    settings: KafkaSettings, topics: BusTopics
) -> None:
    """Two processes own disjoint partitions of one reply topic; no reply lost or crossed."""
    count = 200
    common = ["--bootstrap", settings.bootstrap_servers, "--service", topics.request.service]
    common += ["--reply-group", topics.reply.gateway_group, "--count", str(count)]
    async with BusProducer(settings) as producer:
        responder = Responder(
            settings,
            member=parse_member_id("it.provider"),
            topic=topics.request,
            group_id=f"g-{topics.request.service}",
            handler=echo,
            producer=producer,
            max_in_flight=32,
        )
        await responder.start()
        try:
            await responder.consumer.wait_assigned(timeout_s=20)
            first = _spawn("requester_process", *common, "--partitions", "0,1", "--tag", "A")
            second = _spawn("requester_process", *common, "--partitions", "2,3", "--tag", "B")
            with _reaped(first, second):
                results = [json.loads(await _read_line(p, 90)) for p in (first, second)]
                codes = [await asyncio.to_thread(p.wait, 30) for p in (first, second)]
        finally:
            await responder.stop()
    assert codes == [0, 0]
    expected = {"ok": count, "crossed": 0, "foreign_partition": 0, "failed": 0, "dropped": 0}
    assert results == [expected, expected]
    replies = await read_topic(settings, topics.reply.name, count=2 * count)
    by_partition = collections.Counter(record.partition for record in replies)
    assert by_partition[0] + by_partition[1] == count
    assert by_partition[2] + by_partition[3] == count


async def test_responder_killed_mid_stream_and_restarted_loses_nothing(
    settings: KafkaSettings, topics: BusTopics
) -> None:
    """SIGKILL the responder mid-stream; its successor answers the rest (at-least-once).

    Requests handled but not committed before the kill are answered twice: the duplicate
    reply has the same exchange id, and the requester drops it as already answered.
    """
    count = 150
    group = f"g-{topics.request.service}"
    args = ["--bootstrap", settings.bootstrap_servers, "--service", topics.request.service]
    args += ["--group", group, "--delay-ms", "20"]
    first = _spawn("responder_process", *args)
    second: subprocess.Popen[str] | None = None
    with _reaped(first):
        assert await _read_line(first, 60) == "ready"
        async with BusProducer(settings) as producer:
            requester = Requester(
                settings,
                member=parse_member_id("it.requester"),
                producer=producer,
                reply_topic=topics.reply,
                reply_partitions=range(REPLY_PARTITIONS),
            )
            async with requester:
                request = OutboundRequest(
                    topic=topics.request,
                    provider=parse_member_id("it.provider"),
                    purpose="integration-test",
                )
                values = [f"kill-{i}".encode() for i in range(count)]
                calls = asyncio.gather(
                    *(requester.request(request, value, timeout_s=90) for value in values)
                )
                stats = requester.router.stats
                await wait_for(lambda: stats.delivered >= count // 5, timeout_s=60, what="replies")
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=30)
                answered_before_kill = stats.delivered
                second = _spawn("responder_process", *args)
                with _reaped(second):
                    replies = await asyncio.wait_for(calls, timeout=120)
                    total = sum((await end_offsets(settings, topics.reply.name)).values())
                    # Every reply written (duplicates included) reaches the router.
                    await wait_for(
                        lambda: stats.delivered + stats.dropped_unknown == total,
                        timeout_s=30,
                        what="all replies routed",
                    )
                    second.send_signal(signal.SIGTERM)
                    assert await asyncio.to_thread(second.wait, 60) == 0

    assert answered_before_kill < count, "the kill must land mid-stream"
    assert [reply.value for reply in replies] == [b"re:" + value for value in values]
    reply_records = await read_topic(settings, topics.reply.name, count=total)
    per_exchange = collections.Counter(
        Envelope.from_headers(record.headers).exchange_id for record in reply_records
    )
    assert set(per_exchange) == {reply.envelope.exchange_id for reply in replies}
    duplicates = sum(n - 1 for n in per_exchange.values())
    assert stats.dropped_unknown == duplicates
    assert stats.delivered == count
