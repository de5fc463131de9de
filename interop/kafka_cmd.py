"""``interop kafka start|stop|status``: the local single-node broker for dev and tests."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from devservers.kafka import KafkaRunner

__all__ = ["DEFAULT_DATA_DIR", "register"]

DEFAULT_DATA_DIR = Path(".interop/kafka")
# `interop kafka status` exits like an LSB init script: 0 running, 3 not running.
_EXIT_NOT_RUNNING = 3


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``kafka`` command group."""
    kafka = subparsers.add_parser("kafka", help="run a local single-node Kafka broker (KRaft)")
    commands = kafka.add_subparsers(dest="kafka_command", metavar="ACTION", required=True)

    start = commands.add_parser(
        "start", help="start the broker in the background (reuses a running one)"
    )
    start.add_argument("--port", type=int, default=9092, help="client port (default 9092)")
    start.add_argument(
        "--controller-port", type=int, default=None, help="KRaft controller port (default: port+1)"
    )
    start.add_argument("--host", default="127.0.0.1", help="address to listen on")
    _add_data_dir(start)
    start.set_defaults(handler=_start)

    stop = commands.add_parser("stop", help="stop the broker cleanly")
    _add_data_dir(stop)
    stop.set_defaults(handler=_stop)

    status = commands.add_parser("status", help="say whether the broker runs (exit 3 if not)")
    _add_data_dir(status)
    status.set_defaults(handler=_status)

    fetch = commands.add_parser("fetch", help="only fetch the broker's jars with Maven")
    _add_data_dir(fetch)
    fetch.set_defaults(handler=_fetch)


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"broker data directory, kept across restarts (default {DEFAULT_DATA_DIR})",
    )


def _start(args: argparse.Namespace) -> int:
    runner = KafkaRunner(args.data_dir)
    broker = runner.start(port=args.port, controller_port=args.controller_port, host=args.host)
    verb = "already running" if broker.reused else "started"
    print(
        f"Kafka {broker.kafka_version} {verb} (pid {broker.pid}, data in {broker.data_dir}, "
        f"log {runner.broker_log})"
    )
    print(broker.bootstrap_servers)
    return 0


def _stop(args: argparse.Namespace) -> int:
    runner = KafkaRunner(args.data_dir)
    if runner.stop():
        print(f"Kafka stopped (data kept in {runner.data_dir})")
    else:
        print(f"no Kafka broker was running from {runner.data_dir}")
    return 0


def _status(args: argparse.Namespace) -> int:
    runner = KafkaRunner(args.data_dir)
    broker = runner.status()
    if broker is None:
        print(f"not running (data dir {runner.data_dir})")
        return _EXIT_NOT_RUNNING
    print(
        f"running: pid {broker.pid}, bootstrap {broker.bootstrap_servers}, "
        f"Kafka {broker.kafka_version}"
    )
    return 0


def _fetch(args: argparse.Namespace) -> int:
    libs = KafkaRunner(args.data_dir).ensure_jars()
    print(libs)
    return 0
