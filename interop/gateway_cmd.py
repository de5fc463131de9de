"""``interop gateway --config FILE``: run one gateway replica until SIGINT/SIGTERM.

Settings come from the YAML file and ``INTEROP__...`` environment variables (see
``interop.settings``), loaded once here and passed down. On SIGTERM the server stops
accepting connections, releases callers waiting for replies (they get 202 and the
exchange keeps going), gives in-flight requests ``shutdown_timeout_s``, then closes the
reply router, the producer and the store.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from bus import freeze_startup_objects, unless_stopped
from gateway.app import GATEWAY_KEY, create_app
from gateway.auth import server_ssl_context
from gateway.http_server import gateway_runner
from interop.settings import InteropSettings, SettingsError, load_settings

__all__ = ["register", "serve"]

_log = structlog.get_logger(__name__)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``gateway`` command."""
    gateway = subparsers.add_parser("gateway", help="run an HTTP gateway replica")
    gateway.add_argument(
        "--config",
        type=Path,
        required=True,
        help="YAML settings file (environment variables INTEROP__... override it)",
    )
    gateway.set_defaults(handler=_gateway)


def _gateway(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, only="gateway")
    asyncio.run(serve(settings))
    return 0


async def serve(settings: InteropSettings, *, stop: asyncio.Event | None = None) -> None:
    """Serve until ``stop`` is set or SIGINT/SIGTERM arrives, then shut down gracefully."""
    gateway = settings.gateway
    if gateway is None:
        raise SettingsError("the settings have no `gateway:` section")
    app = create_app(settings.kafka, gateway)
    ssl_context = server_ssl_context(gateway.tls) if gateway.tls is not None else None
    runner = gateway_runner(
        app,
        shutdown_timeout=gateway.exchanges.shutdown_timeout_s,
        access_log=None,
        handle_signals=False,
    )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await runner.setup()
    try:
        site = web.TCPSite(runner, gateway.http.host, gateway.http.port, ssl_context=ssl_context)
        await site.start()
        _log.info(
            "gateway_listening",
            host=gateway.http.host,
            port=gateway.http.port,
            tls=ssl_context is not None,
            gateway_group=gateway.gateway_group,
            reply_partitions=list(gateway.reply_partitions),
        )
        freeze_startup_objects("gateway")
        # A start that waited for the broker and then found something else wrong (the
        # reply partitions missing...) ends the process, as it would have at once.
        startup = app[GATEWAY_KEY].startup
        start_failed, _ = await unless_stopped(startup.failed.wait(), stop)
        _log.info("gateway_stopping")
    finally:
        await runner.cleanup()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    _log.info("gateway_stopped")
    if start_failed and startup.failure is not None:
        raise startup.failure
