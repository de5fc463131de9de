"""What a bench runs on: the broker (one node or a cluster, open or with logins) and the store.

``BenchTarget`` describes it for the rest of the bench (the client settings each part
logs in with, the replication factor of the run's topics, the PostgreSQL server whose
databases the run creates) and for the report's header. ``start_target`` starts what
``interop bench`` needs for it: a private broker or ``KafkaCluster`` on free ports, with
fresh SCRAM logins when authenticated, and a private PostgreSQL server, each in a
temporary directory and stopped through the caller's ``ExitStack``.

The production configuration is ``--store postgres --nodes 3``: gateways, consent, audit
index and connectors' reply stores in PostgreSQL, the audit indexer in its own process,
three brokers (replication factor 3, ``min.insync.replicas`` 2, ``acks=all``), SASL/SCRAM
logins and ACLs (one Kafka user per member), as ``interop dev --nodes 3`` runs it.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from benchmarks.processes import SharedServer
from bus import KafkaSettings
from devservers.broker_auth import SCRAM_MECHANISM, BrokerAuth, new_password
from devservers.kafka import KafkaRunner
from devservers.kafka_cluster import KafkaCluster
from devservers.ports import free_server_port
from devservers.postgres import PostgresRunner

__all__ = [
    "ADMIN_USER",
    "FLOOR_USER",
    "GATEWAY_USER",
    "PROVIDER_USER",
    "BenchTarget",
    "Store",
    "new_broker_auth",
    "start_target",
]

Store = Literal["sqlite", "postgres"]

ADMIN_USER: Final = "bench-admin"
"""Creates the run's topics and ACLs (a super user, as an operator is)."""
GATEWAY_USER: Final = "bench-gateway"
"""The gateways' and audit indexers' Kafka user."""
PROVIDER_USER: Final = "es.ine.padron"
"""The connectors' Kafka user: the provider's member id, as ``interop acls apply`` names it."""
FLOOR_USER: Final = "bench-floor"
"""The floor's client and responder: ACLs on the floor's two topics only, so the floor
pays the same authentication and authorization as the bus."""
_CLIENT_ID: Final = "interop-bench"


@dataclass(frozen=True, slots=True)
class BenchTarget:
    """The broker (or cluster) and the store one bench run measures on."""

    bootstrap: str
    nodes: int = 1
    auth: BrokerAuth | None = field(default=None, repr=False)
    postgres_dsn: str | None = field(default=None, repr=False)
    """A superuser DSN: the run creates its own databases on this server and drops them."""
    shared_servers: tuple[SharedServer, ...] = ()
    """The servers this run started (broker nodes, PostgreSQL), measured like the parts."""

    @property
    def store(self) -> Store:
        return "sqlite" if self.postgres_dsn is None else "postgres"

    @property
    def replication_factor(self) -> int:
        return min(3, self.nodes)

    @property
    def min_insync_replicas(self) -> int:
        """What the local cluster runner configures (``devservers.kafka_cluster``)."""
        return 2 if self.nodes >= 3 else 1

    def admin(self) -> KafkaSettings:
        """Client settings that may create topics and ACLs."""
        if self.auth is None:
            return KafkaSettings(bootstrap_servers=self.bootstrap, client_id=_CLIENT_ID)
        return self.auth.admin_settings(self.bootstrap, client_id=_CLIENT_ID)

    def login(self, user: str) -> dict[str, str]:
        """The ``kafka:`` fields a part logs in with as ``user`` (none on an open broker)."""
        return {} if self.auth is None else self.auth.login_fields(user)

    def configuration(self) -> dict[str, Any]:
        """What was measured, for the JSON document and the report's header."""
        return {
            "store": self.store,
            "audit_indexer": "own process (interop audit index)",
            "kafka_nodes": self.nodes,
            "replication_factor": self.replication_factor,
            "min_insync_replicas": self.min_insync_replicas,
            "acks": "all",
            "kafka_auth": f"SASL/{SCRAM_MECHANISM} + ACLs" if self.auth is not None else "none",
        }


def new_broker_auth() -> BrokerAuth:
    """Fresh logins for a private broker: an administrator and one user per part."""
    return BrokerAuth(
        broker_password=new_password(),
        admin_user=ADMIN_USER,
        admin_password=new_password(),
        users={user: new_password() for user in (GATEWAY_USER, PROVIDER_USER, FLOOR_USER)},
    )


def _temporary_dir(stack: contextlib.ExitStack, prefix: str) -> Path:
    # Not a TemporaryDirectory: under root PostgreSQL runs as ``postgres`` and takes the
    # directory over, so it is removed with ignore_errors after the server stopped.
    path = Path(tempfile.mkdtemp(prefix=prefix))
    stack.callback(shutil.rmtree, path, ignore_errors=True)
    return path


def start_target(
    stack: contextlib.ExitStack,
    *,
    nodes: int,
    auth: bool,
    store: Store,
    progress: Callable[[str], None],
    bootstrap: str | None = None,
    postgres_dsn: str | None = None,
) -> BenchTarget:
    """Start what the run needs and is not given; everything stops when ``stack`` closes.

    ``bootstrap``: a running, open broker (its logins are unknown to the bench, so it
    cannot be combined with ``auth``). ``postgres_dsn``: a running server's superuser DSN.
    """
    broker_auth = new_broker_auth() if auth else None
    shared: list[SharedServer] = []
    if bootstrap is None:
        data = _temporary_dir(stack, "bench-kafka-")
        if nodes == 1:
            runner = KafkaRunner(data, auth=broker_auth)
            progress(f"starting a private Kafka broker ({_auth_words(broker_auth)})")
            broker = runner.start(port=free_server_port(), controller_port=free_server_port())
            stack.callback(runner.stop)
            bootstrap = broker.bootstrap_servers
            shared.append(SharedServer("broker", broker.pid))
        else:
            cluster = KafkaCluster(data, nodes=nodes, auth=broker_auth)
            progress(f"starting a private {nodes}-node Kafka cluster ({_auth_words(broker_auth)})")
            # Registered before start: a cluster half up when start fails still stops.
            stack.callback(cluster.stop)
            running = cluster.start()
            bootstrap = running.bootstrap_servers
            shared += [SharedServer(f"broker-{i + 1}", n.pid) for i, n in enumerate(running.nodes)]
    if store == "postgres" and postgres_dsn is None:
        runner_pg = PostgresRunner(_temporary_dir(stack, "bench-pg-"))
        progress("starting a private PostgreSQL server")
        stack.callback(runner_pg.stop)
        postgres_dsn = runner_pg.start().dsn
        if (postmaster := runner_pg.postmaster_pid()) is not None:
            shared.append(SharedServer("postgres", postmaster, with_descendants=True))
    return BenchTarget(
        bootstrap=bootstrap,
        nodes=nodes,
        auth=broker_auth,
        postgres_dsn=postgres_dsn if store == "postgres" else None,
        shared_servers=tuple(shared),
    )


def _auth_words(auth: BrokerAuth | None) -> str:
    return "SASL/SCRAM logins and ACLs" if auth is not None else "no authentication"
