"""A requester in its own OS process (for the shared-reply-topic test).

``python -m tests.integration.bus.requester_process --bootstrap H:P --service S
--reply-group G --partitions 0,1 --count N --tag A`` sends N concurrent requests valued
``<tag>-<i>``, checks each reply is ``re:<tag>-<i>`` and arrived on an owned partition, and
prints one JSON line with the counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from bus import (
    BusError,
    BusProducer,
    OutboundRequest,
    ReplyTopic,
    Requester,
    RequestTopic,
    configure_logging,
    parse_gateway_group_id,
    parse_member_id,
    parse_service_id,
)
from tests.integration.bus.kafka_helpers import settings_for


async def main(args: argparse.Namespace) -> dict[str, int]:
    settings = settings_for(args.bootstrap, client_id=f"requester-{args.tag}")
    owned = [int(p) for p in args.partitions.split(",")]
    request = OutboundRequest(
        topic=RequestTopic(parse_service_id(args.service), 1),
        provider=parse_member_id("it.provider"),
        purpose="integration-test",
    )
    counts = {"ok": 0, "crossed": 0, "foreign_partition": 0, "failed": 0}
    async with (
        BusProducer(settings) as producer,
        Requester(
            settings,
            member=parse_member_id(f"it.requester-{args.tag.lower()}"),
            producer=producer,
            reply_topic=ReplyTopic(parse_gateway_group_id(args.reply_group)),
            reply_partitions=owned,
        ) as requester,
    ):

        async def one(i: int) -> None:
            value = f"{args.tag}-{i}".encode()
            try:
                reply = await requester.request(request, value, timeout_s=60)
            except BusError:
                counts["failed"] += 1
                return
            if reply.value != b"re:" + value:
                counts["crossed"] += 1
            elif reply.partition not in owned:
                counts["foreign_partition"] += 1
            else:
                counts["ok"] += 1

        await asyncio.gather(*(one(i) for i in range(args.count)))
        counts["dropped"] = requester.router.stats.dropped_unknown
    return counts


if __name__ == "__main__":
    # Logs go to stderr: stdout is the line protocol with the test.
    configure_logging(json=True, level="WARNING")
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--reply-group", required=True)
    parser.add_argument("--partitions", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--tag", required=True)
    result = asyncio.run(main(parser.parse_args()))
    sys.stdout.write(json.dumps(result) + "\n")
