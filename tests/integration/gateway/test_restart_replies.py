"""A gateway that restarts reads the replies waiting for it before it expires anything.

Issue #14, item 5: the gateway was killed with exchanges pending; the provider answered
while it was down, in time; after the restart the expiry loop ran before the reply
router had read those replies, and answered exchanges ended TIMED_OUT. Here the replies
are on the reply topic, written before the deadlines, and the gateway comes back only
after the deadlines passed: every exchange must end completed with the provider's data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry

from bus import BusProducer, catalogue_topic_specs, ensure_topics, parse_gateway_group_id
from gateway.app import create_app
from gateway.http_server import gateway_runner
from tests.integration.bus.kafka_helpers import end_offsets, settings_for
from tests.integration.gateway.support import (
    Provider,
    gateway_settings,
    http,
    make_catalogue,
    poll_until,
    setup_started,
    write_members,
)


async def test_replies_written_while_the_gateway_was_down_complete_their_exchanges(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """Five pending exchanges; gateway stopped; the provider answers; the deadlines pass;
    the gateway restarts: all five are completed (none TIMED_OUT)."""
    kafka = settings_for(kafka_bootstrap, client_id="restart-it")
    cat = make_catalogue(tmp_path / "catalogue", "it" + unique_name("d").rsplit("-", 1)[-1])
    keys = write_members(tmp_path / "members.yaml", cat)
    group = unique_name("gw")
    settings = gateway_settings(
        tmp_path,
        cat,
        group,
        exchanges={"max_wait_s": 20.0, "expiry_interval_s": 0.2, "max_deadline_s": 3.0},
    )
    await ensure_topics(
        kafka,
        catalogue_topic_specs(
            cat.catalogue,
            gateway_groups=[parse_gateway_group_id(group)],
            request_partitions=2,
            reply_partitions=2,
            replication_factor=1,
        ),
    )
    reply_topic = f"interop.rep.{group}"
    auth = {"Authorization": f"Bearer {keys['town']}"}

    async def serve() -> web.AppRunner:
        app = create_app(kafka, settings, registry=CollectorRegistry())
        runner = gateway_runner(app, shutdown_timeout=5)
        await setup_started(runner, app)
        await web.TCPSite(runner, settings.http.host, settings.http.port).start()
        return runner

    base = f"http://{settings.http.host}:{settings.http.port}"
    provider = Provider(kafka, cat)
    async with BusProducer(kafka) as producer:
        await provider.start(producer, unique_name("provider"))
        try:
            first = await serve()
            ids: list[str] = []
            deadlines: list[datetime] = []
            try:
                for n in range(5):
                    body = {
                        "service": cat.residence,
                        "version": "1",
                        "subject": f"SLOW-{n}-{group[-6:]}",
                        "purpose": "social-benefits",
                        "official": "official-7",
                        "data": {
                            "document_type": "DNI",
                            "document_number": f"SLOW-{n}-{group[-6:]}",
                        },
                    }
                    status, _, pending = await http(
                        "POST", f"{base}/v1/exchanges", headers=auth, json=body
                    )
                    assert status == 202, pending
                    ids.append(pending["id"])
                    deadlines.append(datetime.fromisoformat(pending["deadline"]))

                async def held() -> int:
                    return len(provider.requests)

                await poll_until(
                    held,
                    lambda n: n >= 5,
                    timeout_s=20,
                    what="the provider to hold the five requests",
                )
            finally:
                await first.cleanup()
            before = sum((await end_offsets(kafka, reply_topic)).values())
            provider.release_slow.set()  # answered while the gateway is down, in time
            await poll_until(
                lambda: end_offsets(kafka, reply_topic),
                lambda ends: sum(ends.values()) >= before + 5,
                timeout_s=20,
                what="the five replies on the reply topic",
            )
            # The deadlines pass while the gateway is down (a known instant, not a guess).
            await asyncio.sleep(max(0.0, (max(deadlines) - datetime.now(UTC)).total_seconds()))
            second = await serve()
            try:
                started = time.monotonic()
                finals = []
                for exchange_id in ids:
                    _, _, final = await poll_until(
                        lambda i=exchange_id: http("GET", f"{base}/v1/exchanges/{i}", headers=auth),
                        lambda r: r[2].get("status") != "pending",
                        timeout_s=20,
                        what="the exchange to end",
                    )
                    finals.append(final)
                assert time.monotonic() - started < 20
            finally:
                await second.cleanup()
        finally:
            await provider.stop()
    assert [f["status"] for f in finals] == ["completed"] * 5, finals
    assert all(f["data"]["municipality_code"] == "28005" for f in finals)
