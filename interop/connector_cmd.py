"""``interop connector run connector.yaml``: serve one or more services until SIGINT/SIGTERM.

Settings come from the YAML file (``kafka:`` and ``connector:``, the one root of
``interop.settings``) and ``INTEROP__...`` environment variables, validated before anything
connects (a bad field is one line naming it and the file).
Audit records go to ``interop.audit`` through ``KafkaAuditTrail``. On SIGTERM the
connector stops fetching, finishes the requests in flight (bounded by
``shutdown_timeout_s``), commits their offsets and exits 0. When it cannot go on (the
broker fenced it: another running connector has its ``instance_id``) it stops the same
way, then exits 1 with the error on one line.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path
from typing import Any

import structlog

from bus import BusProducer, freeze_startup_objects, unless_stopped
from bus.audit import KafkaAuditTrail
from connectors import ConnectorRuntime, ConnectorSettings
from contracts.errors import InteropError
from interop.settings import SettingsError, load_settings

__all__ = ["register", "serve"]

_log = structlog.get_logger(__name__)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``connector`` command group."""
    connector = subparsers.add_parser("connector", help="run a provider's connector")
    actions = connector.add_subparsers(dest="connector_command", metavar="ACTION")
    run = actions.add_parser("run", help="serve the services of a connector.yaml")
    run.add_argument(
        "config",
        type=Path,
        help="connector.yaml (environment variables INTEROP__... override it)",
    )
    run.set_defaults(handler=_run)
    connector.set_defaults(handler=lambda _args: _usage(connector))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, only="connector").connector
    if settings is None:  # pragma: no cover - load_settings(only=...) requires it
        raise SettingsError(f"{args.config}: no `connector:` section")
    asyncio.run(serve(settings))
    return 0


async def serve(settings: ConnectorSettings, *, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set or SIGINT/SIGTERM arrives, then shut down gracefully."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    def kafka_audit(producer: BusProducer) -> KafkaAuditTrail:
        # Signed with the connector's member key, as its replies are.
        return KafkaAuditTrail(producer, signer=runtime.signer)

    runtime = ConnectorRuntime(settings, audit=kafka_audit)
    try:
        started, _ = await unless_stopped(runtime.start(), stop)  # it may wait for the broker
        if not started:
            _log.info("connector_stopping")
            return
        freeze_startup_objects("connector")
        failure = await _stopped_or_failed(stop, runtime)
        _log.info("connector_stopping")
        if failure is not None:
            raise failure  # after the graceful stop below: nothing handled is lost
    finally:
        await runtime.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _stopped_or_failed(stop: asyncio.Event, runtime: ConnectorRuntime) -> InteropError | None:
    """Wait for a stop signal or a failure the runtime cannot recover from (returned)."""
    stopping = asyncio.create_task(stop.wait())
    failing = asyncio.create_task(runtime.wait_failed())
    done, pending = await asyncio.wait({stopping, failing}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return failing.result() if failing in done else None
