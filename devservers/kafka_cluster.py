"""Runs a local multi-node Apache Kafka cluster (KRaft) for dev and the cluster tests.

Each node is a ``KafkaRunner`` over its own data directory (``<data-dir>/node-<id>``), with
its own client and controller ports and its own log, from the same Maven-fetched jars; all
nodes share one cluster id and one controller quorum (every node is controller and broker:
combined mode, see ``deploy/kafka/cluster-node.properties.template``). The cluster's layout
(cluster id, node ports) lives in ``<data-dir>/cluster.json`` so that ``stop``/``status``
work from any shell and a restart reuses the same ports and data.

A single node's quorum forms only once a majority of controllers runs, so ``start`` launches
every node first and then waits for each one to answer; a lone node restarted later (the
others running) starts like a single broker.
"""

from __future__ import annotations

import asyncio
import json
import string
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from bus import BrokerUnavailableError, probe_cluster
from devservers.broker_auth import BrokerAuth
from devservers.kafka import (
    BrokerStartError,
    BrokerTls,
    KafkaRunner,
    RunnerError,
    RunningBroker,
    _file_lock,
    _new_cluster_id,
    _require_free_port,
    _require_java,
)
from devservers.ports import free_server_port

__all__ = ["ClusterNode", "KafkaCluster", "NodeLayout", "RunningCluster"]

_READY_TIMEOUT_S: Final = 180.0
_STOP_TIMEOUT_S: Final = 60.0
# 512 MiB per node: three nodes fit beside the apps and tests on a developer machine.
_NODE_HEAP: Final = ("-Xms512m", "-Xmx512m")


@dataclass(frozen=True, slots=True)
class NodeLayout:
    """Where one node listens; fixed for the life of the cluster's data directory."""

    node_id: int
    port: int
    controller_port: int


@dataclass(frozen=True, slots=True)
class RunningCluster:
    """The nodes of a cluster that run now (a stopped node is missing from ``nodes``)."""

    cluster_id: str
    host: str
    layout: tuple[NodeLayout, ...]
    nodes: tuple[RunningBroker, ...]
    data_dir: str
    reused: bool = False
    """Every node was running already (``start`` started none)."""

    @property
    def kafka_version(self) -> str:
        return self.nodes[0].kafka_version

    @property
    def bootstrap_servers(self) -> str:
        """Every node's client address: clients find the cluster through any live one."""
        return ",".join(f"{self.host}:{node.port}" for node in self.layout)


class ClusterNode(KafkaRunner):
    """One combined controller+broker node of a ``KafkaCluster``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        layout: NodeLayout,
        quorum_voters: str,
        cluster_id: str,
        replication_factor: int,
        min_insync_replicas: int,
        cache_dir: Path | None = None,
        auth: BrokerAuth | None = None,
    ) -> None:
        super().__init__(data_dir, cache_dir=cache_dir, auth=auth)
        self.layout = layout
        self._quorum_voters = quorum_voters
        self._cluster_id = cluster_id
        self._replication_factor = replication_factor
        self._min_insync_replicas = min_insync_replicas

    def launch(self, host: str) -> int:
        """Write the config, format a fresh data directory and spawn the JVM; do not wait
        (its quorum needs the other nodes). Returns the pid of the running or new node."""
        java = _require_java()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.data_dir / ".runner.lock"):
            self._adopt_saved_auth()
            running = self.status()
            if running is not None:
                self._check_reusable(running)
                return running.pid
            libs = self.ensure_jars()
            for p in (self.layout.port, self.layout.controller_port):
                _require_free_port(host, p)
            self._write_config(host, self.layout.port, self.layout.controller_port, None)
            self._format_once(java, libs, [])
            pid = self._spawn(java, libs)
            self._write_state(
                RunningBroker(
                    pid=pid,
                    host=host,
                    port=self.layout.port,
                    controller_port=self.layout.controller_port,
                    data_dir=str(self.data_dir),
                    kafka_version=self.kafka_version,
                    authenticated=self.auth is not None,
                )
            )
            return pid

    def restart(self, host: str, *, timeout_s: float = _READY_TIMEOUT_S) -> RunningBroker:
        """Start this node again on its own ports (the others keep the quorum) and wait."""
        return self.start(
            port=self.layout.port,
            controller_port=self.layout.controller_port,
            host=host,
            timeout_s=timeout_s,
        )

    def _write_config(
        self, host: str, port: int, controller_port: int, tls: BrokerTls | None
    ) -> None:
        if tls is not None:
            raise RunnerError("cluster nodes have no TLS listeners yet")
        template_file = self._deploy / "cluster-node.properties.template"
        template = string.Template(template_file.read_text())
        self._write_private(
            self.config_file,
            template.substitute(
                node_id=self.layout.node_id,
                quorum_voters=self._quorum_voters,
                host=host,
                port=port,
                controller_port=controller_port,
                log_dir=self.log_dir,
                rack=f"rack-{self.layout.node_id}",
                replication_factor=self._replication_factor,
                min_insync_replicas=self._min_insync_replicas,
                listener_settings=self._listener_settings(host, port, controller_port, None),
                security_settings=self._security_settings(None),
            ),
        )

    def _cluster_id_to_format(self) -> str:
        return self._cluster_id

    def _heap_options(self) -> tuple[str, ...]:
        return _NODE_HEAP


class KafkaCluster:
    """Starts, probes and stops ``nodes`` local KRaft nodes under one data directory."""

    def __init__(
        self,
        data_dir: Path,
        *,
        nodes: int = 3,
        cache_dir: Path | None = None,
        auth: BrokerAuth | None = None,
    ) -> None:
        if nodes < 1:
            raise RunnerError("a cluster needs at least one node")
        self.data_dir = data_dir.resolve()
        self.auth = auth
        self.size = nodes
        """Nodes of a new cluster (a recorded layout keeps its own)."""
        self._cache_dir = cache_dir

    @property
    def layout_file(self) -> Path:
        return self.data_dir / "cluster.json"

    @property
    def broker_log(self) -> Path:
        """Where the nodes log (one ``broker.log`` per node directory)."""
        return self.data_dir / "node-*" / "broker.log"

    def node(self, node_id: int) -> ClusterNode:
        """The runner of one node of the recorded layout."""
        cluster_id, host, layout = self._read_layout()
        del host
        by_id = {node.node_id: node for node in layout}
        if node_id not in by_id:
            raise RunnerError(f"the cluster in {self.data_dir} has no node {node_id}")
        return self._node(cluster_id, layout, by_id[node_id])

    def nodes(self) -> list[ClusterNode]:
        """Runners of every node of the recorded layout (none before the first start)."""
        if not self.layout_file.is_file():
            return []
        cluster_id, _, layout = self._read_layout()
        return [self._node(cluster_id, layout, node) for node in layout]

    def status(self) -> RunningCluster | None:
        """The cluster recorded in ``data_dir`` with its live nodes, None if none runs."""
        if not self.layout_file.is_file():
            return None
        cluster_id, host, layout = self._read_layout()
        live = [
            broker
            for node in layout
            if (broker := self._node(cluster_id, layout, node).status()) is not None
        ]
        if not live:
            return None
        return RunningCluster(cluster_id, host, layout, tuple(live), str(self.data_dir))

    def start(
        self,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        timeout_s: float = _READY_TIMEOUT_S,
    ) -> RunningCluster:
        """Start every node (reusing running ones and a recorded layout) and wait until
        each answers and sees all the cluster's brokers.

        For a new cluster, ``port`` gives node *i* the client port ``port + 2i`` and the
        controller port one above; without it every port is a free one below the
        ephemeral range.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.data_dir / ".cluster.lock"):
            if self.layout_file.is_file():
                cluster_id, host, layout = self._read_layout()
            else:
                cluster_id, layout = _new_cluster_id(), _new_layout(self.size, port, host)
                self._write_layout(cluster_id, host, layout)
            runners = [self._node(cluster_id, layout, node) for node in layout]
            reused = all(runner.status() is not None for runner in runners)
            try:
                for runner in runners:
                    runner.launch(host)
                # A cluster formatted with authentication keeps it (each node's saved logins).
                self.auth = self.auth or runners[0].auth
                asyncio.run(self._wait_ready(host, layout, timeout_s))
            except BaseException:
                self._stop_all(runners, _STOP_TIMEOUT_S)
                raise
        running = self.status()
        if running is None:  # pragma: no cover - every node just answered
            raise BrokerStartError("the cluster's nodes exited right after starting")
        return replace(running, reused=reused)

    def stop(self, *, timeout_s: float = _STOP_TIMEOUT_S) -> int:
        """Stop every node (all at once: a lone last controller cannot shut down cleanly
        waiting for a quorum that left). Returns how many nodes were running."""
        return self._stop_all(self.nodes(), timeout_s)

    # -- internals ---------------------------------------------------------------------
    def _node(
        self, cluster_id: str, layout: tuple[NodeLayout, ...], node: NodeLayout
    ) -> ClusterNode:
        voters = ",".join(f"{n.node_id}@{self._host()}:{n.controller_port}" for n in layout)
        size = len(layout)
        return ClusterNode(
            self.data_dir / f"node-{node.node_id}",
            layout=node,
            quorum_voters=voters,
            cluster_id=cluster_id,
            replication_factor=min(3, size),
            min_insync_replicas=2 if size >= 3 else 1,
            cache_dir=self._cache_dir,
            auth=self.auth,
        )

    def _host(self) -> str:
        return str(json.loads(self.layout_file.read_text())["host"])

    async def _wait_ready(
        self, host: str, layout: tuple[NodeLayout, ...], timeout_s: float
    ) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        for node in layout:
            address = f"{host}:{node.port}"
            target = address if self.auth is None else self.auth.admin_settings(address)
            while True:
                try:
                    info = await probe_cluster(target, timeout_s=2.0)
                    if info.broker_count >= len(layout):
                        break
                except BrokerUnavailableError:
                    pass
                if asyncio.get_running_loop().time() >= deadline:
                    raise BrokerStartError(
                        f"node {node.node_id} of the cluster did not answer at {address} "
                        f"with all {len(layout)} brokers within {timeout_s:.0f}s; see "
                        f"{self.data_dir / f'node-{node.node_id}' / 'broker.log'}"
                    )
                await asyncio.sleep(0.3)

    @staticmethod
    def _stop_all(runners: list[ClusterNode], timeout_s: float) -> int:
        if not runners:
            return 0
        with ThreadPoolExecutor(max_workers=len(runners)) as pool:
            stopped = list(pool.map(lambda runner: runner.stop(timeout_s=timeout_s), runners))
        return sum(stopped)

    def _read_layout(self) -> tuple[str, str, tuple[NodeLayout, ...]]:
        try:
            raw = json.loads(self.layout_file.read_text())
            layout = tuple(NodeLayout(**node) for node in raw["nodes"])
            return str(raw["cluster_id"]), str(raw["host"]), layout
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise RunnerError(f"no readable cluster layout in {self.layout_file}") from exc

    def _write_layout(self, cluster_id: str, host: str, layout: tuple[NodeLayout, ...]) -> None:
        state = {
            "cluster_id": cluster_id,
            "host": host,
            "nodes": [
                {"node_id": n.node_id, "port": n.port, "controller_port": n.controller_port}
                for n in layout
            ],
        }
        tmp = self.layout_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.layout_file)


def _new_layout(nodes: int, base_port: int | None, host: str) -> tuple[NodeLayout, ...]:
    if base_port is not None:
        return tuple(
            NodeLayout(node_id=i + 1, port=base_port + 2 * i, controller_port=base_port + 2 * i + 1)
            for i in range(nodes)
        )
    taken: set[int] = set()

    def pick() -> int:
        while (port := free_server_port(host)) in taken:
            pass
        taken.add(port)
        return port

    return tuple(
        NodeLayout(node_id=i + 1, port=pick(), controller_port=pick()) for i in range(nodes)
    )
