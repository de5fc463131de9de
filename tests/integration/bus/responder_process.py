"""A responder in its own OS process (for the kill-and-restart test).

``python -m tests.integration.bus.responder_process --bootstrap H:P --service S --group G``
echoes each request as ``re:<value>`` after ``--delay-ms``; prints ``ready`` once the group
gave it partitions, and stops gracefully on SIGTERM (SIGKILL is the point of the test).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from bus import (
    BusProducer,
    Envelope,
    ReplyOutcome,
    RequestTopic,
    Responder,
    configure_logging,
    parse_member_id,
    parse_service_id,
)
from tests.integration.bus.kafka_helpers import settings_for


async def main(args: argparse.Namespace) -> None:
    settings = settings_for(args.bootstrap, client_id="responder-process")
    delay_s = args.delay_ms / 1000

    async def echo(_envelope: Envelope, value: bytes | None) -> ReplyOutcome:
        await asyncio.sleep(delay_s)  # simulated registry latency, so a kill lands mid-stream
        return ReplyOutcome(b"re:" + (value or b""))

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with BusProducer(settings) as producer:
        responder = Responder(
            settings,
            member=parse_member_id("it.provider"),
            topic=RequestTopic(parse_service_id(args.service), 1),
            group_id=args.group,
            handler=echo,
            producer=producer,
            max_in_flight=8,
        )
        await responder.start()
        await responder.consumer.wait_assigned(timeout_s=60)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await stop.wait()
        await responder.stop()


if __name__ == "__main__":
    # Logs go to stderr: stdout is the line protocol with the test.
    configure_logging(json=True, level="WARNING")
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--delay-ms", type=int, default=0)
    asyncio.run(main(parser.parse_args()))
