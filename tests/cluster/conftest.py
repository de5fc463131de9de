"""The cluster suite: the whole system on a real three-node Kafka cluster, brokers lost.

One ``interop dev --nodes 3`` (three KRaft nodes, replication factor 3, min.insync.replicas
2; the demo registries, ``interop gateway`` and three ``interop connector run``) with its
stores on a real PostgreSQL server (``store_server.py``: the production topology, where
gateway replicas share PostgreSQL) is started by the first case that asks for ``cluster``
and shared by the suite; it is stopped (every broker and the database with it) after the
last cluster case, and a node or the database a case left stopped is started again after it.
The cases run one at a time: three JVMs are heavy on a shared machine. Each case fills a
``CaseReport`` (the fault suite's table, ``tests/faults``), printed at the end of the run
("cluster: what clients saw").
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devservers.kafka_cluster import KafkaCluster
from tests.cluster.store_server import StoreServer, store_server
from tests.faults.report import CaseReport, print_cases, record_case
from tests.faults.system import System, start_system

CLUSTER_CASES: list[CaseReport] = []


# Package scope: the database and the three brokers stop once the cluster cases are done.
@pytest.fixture(scope="package")
def cluster_store() -> Iterator[StoreServer]:
    """The PostgreSQL server of the cluster's stores."""
    with store_server() as server:
        yield server


@pytest.fixture(scope="package")
def cluster_system(
    tmp_path_factory: pytest.TempPathFactory, cluster_store: StoreServer
) -> Iterator[System]:
    """``interop dev --nodes 3`` for the suite, its stores on ``cluster_store`` (stopped
    with its brokers at the end)."""
    # An open broker for now: the levers talk to the nodes with a plain admin client.
    with start_system(
        tmp_path_factory.mktemp("cluster"),
        nodes=3,
        secure=False,
        gateway_store_url=cluster_store.url("gateway"),
        connector_store_url=cluster_store.url("connectors"),
    ) as system:
        yield system


@pytest.fixture
def cluster(cluster_system: System, cluster_store: StoreServer) -> Iterator[System]:
    """The shared cluster; a node or the database a case left stopped is started again
    after it."""
    yield cluster_system
    cluster_store.start()
    for node in KafkaCluster(cluster_system.kafka_dir).nodes():
        if node.status() is None:
            node.restart("127.0.0.1")


@pytest.fixture
def case(request: pytest.FixtureRequest) -> Iterator[CaseReport]:
    """This case's row of the final table (its outcome and wall time filled in here)."""
    yield from record_case(request, CLUSTER_CASES)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Per case: sent / 200 / 202 / errors by code / lost / duplicated / recovery."""
    print_cases(terminalreporter, "cluster: what clients saw", CLUSTER_CASES)
