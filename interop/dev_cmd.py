"""``interop dev``: run the whole system locally.

Today that is the broker with every topic the demo catalogue needs; the gateway, the demo
connectors and demo data join as their issues land (see the README). Ctrl-C stops what it
started; the broker's data is kept for the next run.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import threading
from pathlib import Path
from typing import Any

from bus.admin import TopicChange, ensure_topics
from bus.ids import parse_gateway_group_id
from bus.provisioning import catalogue_topic_specs
from bus.settings import KafkaSettings
from contracts.catalogue import DEFAULT_CATALOGUE_DIR, load_catalogue
from interop.kafka_cmd import DEFAULT_DATA_DIR
from interop.kafka_runner import KafkaRunner

__all__ = ["DEV_GATEWAY_GROUP", "register"]

# The reply topic of the development gateway group: interop.rep.dev.
DEV_GATEWAY_GROUP = "dev"
_DEV_REQUEST_PARTITIONS = 3
_DEV_REPLY_PARTITIONS = 4


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
    dev.add_argument(
        "--catalogue",
        type=Path,
        default=DEFAULT_CATALOGUE_DIR,
        help="contracts catalogue whose topics to create (default: the demo catalogue)",
    )
    dev.add_argument(
        "--exit-when-ready",
        action="store_true",
        help="set everything up, print the summary and exit, leaving the broker running",
    )
    dev.set_defaults(handler=_dev)


def _dev(args: argparse.Namespace) -> int:
    catalogue = load_catalogue(args.catalogue)
    runner = KafkaRunner(args.data_dir)
    broker = runner.start(port=args.port)
    started_here = not broker.reused
    print(
        f"Kafka {broker.kafka_version} is up at {broker.bootstrap_servers} "
        f"(data in {broker.data_dir}, log {runner.broker_log})"
    )
    specs = catalogue_topic_specs(
        catalogue,
        gateway_groups=[parse_gateway_group_id(DEV_GATEWAY_GROUP)],
        request_partitions=_DEV_REQUEST_PARTITIONS,
        reply_partitions=_DEV_REPLY_PARTITIONS,
        replication_factor=1,
    )
    settings = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, client_id="interop-dev")
    changes = asyncio.run(ensure_topics(settings, specs))
    print(f"Topics for {len(catalogue.services)} services:")
    for spec in specs:
        change = changes[spec.topic.name]
        marker = "+" if change is TopicChange.CREATED else " "
        print(f"  {marker} {spec.topic.name:<50} {spec.partitions} partition(s)  {change.value}")
    print("The gateway, demo connectors and demo data arrive with their issues (README, Status).")
    if args.exit_when_ready:
        print(f"Broker left running; stop it with: interop kafka stop --data-dir {args.data_dir}")
        return 0
    print("Press Ctrl-C to stop.")
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    while not stopped.wait(timeout=1.0):
        if runner.status() is None:
            print(f"the Kafka broker exited; see {runner.broker_log}")
            return 1
    if started_here:
        runner.stop()
        print("Kafka stopped; its data is kept for the next run.")
    else:
        print("Kafka was already running before `interop dev`; left running.")
    return 0
