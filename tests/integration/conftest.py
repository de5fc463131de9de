"""Integration tests run against a real Apache Kafka broker.

The session starts its own single-node KRaft broker with the project's runner (the same
code as ``interop kafka start``) in a temporary data directory on free ports, and stops it
at the end. Set ``INTEROP_TEST_BOOTSTRAP=host:port`` to run against a broker you started.
Tests use unique topic names (``unique_name``), so they can share the broker.

PostgreSQL is real too: the first test that asks for ``postgres_dsn`` starts a local
server (Debian's package, installed on demand; see ``devservers.postgres``) for the
session, and each test gets its own fresh database on it. Set
``INTEROP_TEST_POSTGRES=postgresql://user:password@host:port/postgres`` (a superuser DSN)
to use a server you started, e.g. with ``python -m devservers.postgres start``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from devservers.kafka import KafkaRunner
from devservers.ports import free_server_port
from devservers.postgres import PostgresRunner


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now, BELOW the machine's
    ephemeral range (``devservers.ports``: a client reconnecting to a stopped server on an
    ephemeral port can connect to itself), scanned from a per-process random start so
    concurrent test sessions rarely try the same port."""
    return free_server_port()


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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Superuser DSN of the real PostgreSQL server shared by the session."""
    external = os.environ.get("INTEROP_TEST_POSTGRES")
    if external:
        yield external
        return
    # Not under pytest's tmp dir: that one is private to us, and under root the server
    # runs as the ``postgres`` user, who must be able to reach its data directory.
    data_dir = Path(tempfile.mkdtemp(prefix="interop-test-pg-"))
    runner = PostgresRunner(data_dir)
    try:
        yield runner.start().dsn
    finally:
        runner.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
async def postgres_dsn(postgres_server: str) -> AsyncIterator[str]:
    """DSN of a fresh, empty database on the session's server, dropped after the test."""
    name = "t_" + uuid.uuid4().hex[:20]
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield urlunsplit(urlsplit(postgres_server)._replace(path="/" + name))
    admin = await asyncpg.connect(postgres_server)
    try:
        # FORCE: a test that failed half-way may leave connections open.
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
