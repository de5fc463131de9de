"""Entry point of the bench's child processes: ``python -m benchmarks.roles ROLE SPEC``.

``SPEC`` is one JSON object (the floor's Kafka settings, login included, come from
``$INTEROP_BENCH_KAFKA``). Servers (``direct-registry``, ``floor-responder``) announce
``READY`` and serve until SIGTERM. Load generators (``http-load``, ``floor-load``)
announce ``READY``, then run one ``LoadCommand`` per stdin line and answer each with a
``LoadReport`` line, until stdin closes. Gateways and connectors are not roles: they run
as ``interop gateway`` and ``interop connector run``, exactly as deployed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Final

import aiohttp
from aiohttp import web

from benchmarks.closed_loop import Call, LoadCommand, closed_loop
from benchmarks.direct_registry import registry_app
from benchmarks.floor import FloorClient, FloorResponder
from benchmarks.processes import announce_ready
from bus import KafkaSettings, configure_logging

__all__ = ["KAFKA_ENV", "main"]

KAFKA_ENV: Final = "INTEROP_BENCH_KAFKA"
"""The floor processes' ``KafkaSettings`` as JSON (a password stays off the command line)."""


def _kafka() -> KafkaSettings:
    """The floor's client settings, login included, from ``KAFKA_ENV``."""
    return KafkaSettings.model_validate_json(os.environ[KAFKA_ENV])


async def _until_terminated() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


async def _serve_commands(call: Call) -> None:
    """Run the orchestrator's load commands until it closes our stdin."""
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        report = await closed_loop(call, LoadCommand.model_validate_json(line))
        sys.stdout.write(report.model_dump_json() + "\n")
        sys.stdout.flush()


async def _http_load(spec: dict[str, Any]) -> None:
    urls: list[str] = spec["urls"]
    # Cycle through the bodies (one per subject) so requests spread over partitions.
    bodies = [json.dumps(body).encode() for body in spec["bodies"]]
    sent = itertools.count()
    headers = {"Content-Type": "application/json", **spec.get("headers", {})}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def call(worker: int) -> str | None:
            body = bodies[next(sent) % len(bodies)]
            async with session.post(urls[worker % len(urls)], data=body, headers=headers) as r:
                await r.read()
                return None if r.status == 200 else f"http_{r.status}"

        announce_ready()
        await _serve_commands(call)


async def _floor_load(spec: dict[str, Any]) -> None:
    client = FloorClient(
        _kafka(),
        request_topic=spec["request_topic"],
        reply_topic=spec["reply_topic"],
        reply_partitions=spec["reply_partitions"],
    )
    await client.start()
    try:
        announce_ready()
        await _serve_commands(client.call)
    finally:
        await client.stop()


async def _floor_responder(spec: dict[str, Any]) -> None:
    responder = FloorResponder(
        _kafka(),
        request_topic=spec["request_topic"],
        reply_topic=spec["reply_topic"],
        group_id=spec["group_id"],
    )
    await responder.start()
    serving = asyncio.create_task(responder.serve())
    try:
        announce_ready()
        await _until_terminated()
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await responder.stop()


async def _direct_registry(spec: dict[str, Any]) -> None:
    runner = web.AppRunner(registry_app(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", int(spec["port"])).start()
        announce_ready()
        await _until_terminated()
    finally:
        await runner.cleanup()


_ROLES: dict[str, Callable[[dict[str, Any]], Coroutine[Any, Any, None]]] = {
    "http-load": _http_load,
    "floor-load": _floor_load,
    "floor-responder": _floor_responder,
    "direct-registry": _direct_registry,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] not in _ROLES:
        print(
            f"usage: python -m benchmarks.roles {{{','.join(_ROLES)}}} SPEC-JSON", file=sys.stderr
        )
        return 2
    configure_logging(json=True)
    asyncio.run(_ROLES[args[0]](json.loads(args[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
