"""Integration tests run against a real Apache Kafka broker.

The session starts its own single-node KRaft broker with the project's runner (the same
code as ``interop kafka start``) in a temporary data directory on free ports, and stops it
at the end. Set ``INTEROP_TEST_BOOTSTRAP=host:port`` to run against a broker you started.
Tests use unique topic names (``unique_name``), so they can share the broker.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from interop.kafka_runner import KafkaRunner


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of the real broker shared by the whole test session."""
    external = os.environ.get("INTEROP_TEST_BOOTSTRAP")
    if external:
        yield external
        return
    runner = KafkaRunner(tmp_path_factory.mktemp("kafka") / "data")
    broker = runner.start(port=free_port(), controller_port=free_port())
    try:
        yield broker.bootstrap_servers
    finally:
        runner.stop()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Make names (topics, groups) unique to this test so tests can run side by side."""
    token = uuid.uuid4().hex[:10]
    test = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40]

    def make(prefix: str) -> str:
        return f"{prefix}-{test}-{token}"

    return make


@pytest.fixture
def kafka_runner_factory(tmp_path: Path) -> Callable[[], KafkaRunner]:
    """A runner over a fresh data directory, for tests of the runner itself."""
    return lambda: KafkaRunner(tmp_path / "kafka")
