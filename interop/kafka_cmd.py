"""``interop kafka start|stop|status``: the local broker (or ``--nodes 3`` cluster) for dev
and tests."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from devservers.kafka import KafkaRunner
from devservers.kafka_cluster import KafkaCluster

__all__ = ["DEFAULT_CLUSTER_DATA_DIR", "DEFAULT_DATA_DIR", "register"]

DEFAULT_DATA_DIR = Path(".interop/kafka")
DEFAULT_CLUSTER_DATA_DIR = Path(".interop/kafka-cluster")
# `interop kafka status` exits like an LSB init script: 0 running, 3 not running.
_EXIT_NOT_RUNNING = 3


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``kafka`` command group."""
    kafka = subparsers.add_parser(
        "kafka", help="run a local Kafka broker or multi-node cluster (KRaft)"
    )
    commands = kafka.add_subparsers(dest="kafka_command", metavar="ACTION", required=True)

    start = commands.add_parser(
        "start", help="start the broker in the background (reuses a running one)"
    )
    start.add_argument("--port", type=int, default=9092, help="client port (default 9092)")
    start.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="nodes of the cluster (default 1; with N>1 node i listens on port+2i, its "
        f"controller on port+2i+1, data in {DEFAULT_CLUSTER_DATA_DIR})",
    )
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
        default=None,
        help=f"data directory, kept across restarts (default {DEFAULT_DATA_DIR}, "
        f"or {DEFAULT_CLUSTER_DATA_DIR} for a cluster)",
    )


def _cluster(args: argparse.Namespace) -> KafkaCluster | None:
    """The cluster ``stop``/``status`` mean: the one in ``--data-dir`` if it holds one,
    else the default cluster directory when it holds one and no ``--data-dir`` was given."""
    if args.data_dir is not None:
        cluster = KafkaCluster(args.data_dir)
        return cluster if cluster.layout_file.is_file() else None
    cluster = KafkaCluster(DEFAULT_CLUSTER_DATA_DIR)
    return cluster if cluster.layout_file.is_file() else None


def _runner(args: argparse.Namespace) -> KafkaRunner:
    return KafkaRunner(args.data_dir or DEFAULT_DATA_DIR)


def _start(args: argparse.Namespace) -> int:
    if args.nodes > 1:
        return _start_cluster(args)
    runner = _runner(args)
    broker = runner.start(port=args.port, controller_port=args.controller_port, host=args.host)
    verb = "already running" if broker.reused else "started"
    print(
        f"Kafka {broker.kafka_version} {verb} (pid {broker.pid}, data in {broker.data_dir}, "
        f"log {runner.broker_log}){_security(broker.authenticated, runner)}"
    )
    print(broker.bootstrap_servers)
    return 0


def _start_cluster(args: argparse.Namespace) -> int:
    cluster = KafkaCluster(args.data_dir or DEFAULT_CLUSTER_DATA_DIR, nodes=args.nodes)
    running = cluster.start(port=args.port, host=args.host)
    print(
        f"Kafka cluster {running.cluster_id}: {len(running.nodes)} of {len(running.layout)} "
        f"nodes running (data in {cluster.data_dir})"
    )
    print(running.bootstrap_servers)
    return 0


def _stop(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    if cluster is not None:
        stopped = cluster.stop()
        print(f"Kafka cluster: {stopped} node(s) stopped (data kept in {cluster.data_dir})")
        if args.data_dir is not None:
            return 0
    runner = _runner(args)
    if runner.stop():
        print(f"Kafka stopped (data kept in {runner.data_dir})")
    elif cluster is None:
        print(f"no Kafka broker was running from {runner.data_dir}")
    return 0


def _status(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    if cluster is not None:
        return _cluster_status(cluster)
    runner = _runner(args)
    broker = runner.status()
    if broker is None:
        print(f"not running (data dir {runner.data_dir})")
        return _EXIT_NOT_RUNNING
    print(
        f"running: pid {broker.pid}, bootstrap {broker.bootstrap_servers}, "
        f"Kafka {broker.kafka_version}{_security(broker.authenticated, runner)}"
    )
    return 0


def _security(authenticated: bool, runner: KafkaRunner) -> str:
    """How clients get in: said, so nobody mistakes a secured broker for an open one."""
    if not authenticated:
        return ", no authentication"
    return f", SASL/SCRAM logins and ACLs (logins in {runner.auth_file})"


def _cluster_status(cluster: KafkaCluster) -> int:
    """One line per node; exit 0 while any node runs (the cluster may be degraded)."""
    live = 0
    for node in cluster.nodes():
        broker = node.status()
        where = f"{node.layout.port} (controller {node.layout.controller_port})"
        if broker is None:
            print(f"node {node.layout.node_id}: stopped, port {where}, data {node.data_dir}")
        else:
            live += 1
            print(f"node {node.layout.node_id}: running, pid {broker.pid}, port {where}")
    print(f"{live} of {len(cluster.nodes())} nodes running (data dir {cluster.data_dir})")
    return 0 if live else _EXIT_NOT_RUNNING


def _fetch(args: argparse.Namespace) -> int:
    libs = _runner(args).ensure_jars()
    print(libs)
    return 0
