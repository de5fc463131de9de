"""``interop dev``: run the whole system locally.

Today that is the broker with the bus's core topics; the gateway, the demo connectors and
demo data join as their issues land (see the README). Ctrl-C stops what it started.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any

from interop.kafka_cmd import DEFAULT_DATA_DIR
from interop.kafka_runner import KafkaRunner

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``dev`` command."""
    dev = subparsers.add_parser("dev", help="run the whole system locally until Ctrl-C")
    dev.add_argument("--port", type=int, default=9092, help="Kafka client port (default 9092)")
    dev.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"broker data directory, reused by the next run (default {DEFAULT_DATA_DIR})",
    )
    dev.set_defaults(handler=_dev)


def _dev(args: argparse.Namespace) -> int:
    runner = KafkaRunner(args.data_dir)
    broker = runner.start(port=args.port)
    started_here = not broker.reused
    print(
        f"Kafka {broker.kafka_version} is up at {broker.bootstrap_servers} "
        f"(data in {broker.data_dir})"
    )
    print("The gateway, demo connectors and demo data arrive with their issues; for now the")
    print("bus runs on this broker. Press Ctrl-C to stop.")
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    while not stopped.wait(timeout=1.0):
        if runner.status() is None:
            print("the Kafka broker exited; see", runner.broker_log)
            return 1
    if started_here:
        runner.stop()
        print("Kafka stopped; data kept for the next run.")
    return 0
