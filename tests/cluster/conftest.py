"""The cluster suite: the whole system on a real three-node Kafka cluster, brokers lost.

One ``interop dev --nodes 3`` (three KRaft nodes, replication factor 3, min.insync.replicas
2; the demo registries, ``interop gateway`` and three ``interop connector run``) is started
by the first case that asks for ``cluster`` and shared by the suite; it is stopped (every
broker with it) at the end, and a node a case left stopped is started again after it.
The cases run one at a time: three JVMs are heavy on a shared machine. Each case fills a
``CaseReport`` (the fault suite's table, ``tests/faults``), printed at the end of the run
("cluster: what clients saw").
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from devservers.kafka_cluster import KafkaCluster
from tests.faults.load import Load
from tests.faults.reconcile import tally
from tests.faults.report import CaseReport, table
from tests.faults.system import System, start_system

CLUSTER_CASES: list[CaseReport] = []


@pytest.fixture(scope="session")
def cluster_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """``interop dev --nodes 3`` for the suite (stopped with its brokers at the end)."""
    with start_system(tmp_path_factory.mktemp("cluster"), nodes=3) as system:
        yield system


@pytest.fixture
def cluster(cluster_system: System) -> Iterator[System]:
    """The shared cluster; a node a case left stopped is started again after it."""
    yield cluster_system
    for node in KafkaCluster(cluster_system.kafka_dir).nodes():
        if node.status() is None:
            node.restart("127.0.0.1")


@pytest.fixture
def case(request: pytest.FixtureRequest) -> Iterator[CaseReport]:
    """This case's row of the final table (its outcome and wall time filled in here)."""
    report = CaseReport(name=request.node.name.removeprefix("test_"))
    started = time.monotonic()
    yield report
    report.seconds = time.monotonic() - started
    if report.lost is None and report.loads:  # failed before reconciling: what was seen
        merged = Load(report.loads[0].system)
        for load in report.loads:
            merged.answers += load.answers
        tally(report, merged)
    call = getattr(request.node, "rep_call", None)
    report.outcome = "?" if call is None else call.outcome
    CLUSTER_CASES.append(report)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, Any]:
    """Keep each phase's report on the item, so ``case`` knows how the case ended."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Per case: sent / 200 / 202 / errors by code / lost / duplicated / recovery."""
    if not CLUSTER_CASES:
        return
    terminalreporter.section("cluster: what clients saw")
    for line in table(CLUSTER_CASES):
        terminalreporter.write_line(line)
