"""The system under fault: ``interop dev`` as a child process, and the faults' levers.

``interop dev`` runs the broker (``KafkaRunner``, its own data directory, ports below the
ephemeral range), the demo registries, and ``interop gateway`` plus one ``interop
connector run`` per registry as its own supervised children: the very processes and
configuration files an operator runs. A child killed here is restarted by ``interop dev``
(issue #14, item 11), which is part of what the suite proves.

The levers: ``kill`` a child (SIGKILL by command line), ``kafka("stop"|"start")`` as an
operator would, and the municipal register's SQLite file hung (an exclusive lock) or
corrupted (its header overwritten in place) for a while. ``Probe`` samples a ``/readyz``
in the background, so a case can tell when readiness went and came back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import yaml

from bus import KafkaSettings
from connectors.demo.population import Person, generate_population
from devservers.ports import ephemeral_port_range, free_server_port, server_can_bind
from interop.dev_setup import KAFKA_ADMIN_USER, load_or_create_secrets
from tests.integration.bus.kafka_helpers import settings_for
from tests.support.dev_process import dev_argv, pid_of, read_until

__all__ = ["CONNECTORS", "PEOPLE", "Probe", "System", "start_system"]

PEOPLE: Final = 300
"""Synthetic people in the demo registries (``interop dev --people``)."""
CONNECTORS: Final = ("padron", "aeat", "tgss")
_READY_TIMEOUT_S: Final = 240.0
_STOP_TIMEOUT_S: Final = 90.0


@dataclass
class System:
    """A running ``interop dev``: its process, URLs, keys, registries and state."""

    process: subprocess.Popen[str]
    url: str
    keys: dict[str, str]
    verify: list[str]
    state_dir: Path
    kafka_dir: Path
    kafka_port: int
    people: list[Person]
    output: list[str] = field(default_factory=list)
    """What ``interop dev`` printed after its summary (restarts of its children...)."""
    nodes: int = 1
    """Kafka nodes (``interop dev --nodes``); node i listens on ``kafka_port + 2i``."""
    secure: bool = True
    """Kafka with SASL/SCRAM logins and ACLs (``interop dev``'s default)."""

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.kafka_port + 2 * i}" for i in range(self.nodes))

    def kafka_login(self, user: str = KAFKA_ADMIN_USER) -> KafkaSettings:
        """Client settings that log in as ``user`` (a member's Kafka user, or by default
        the administrator), with the dev state's passwords; plain ones on an open broker."""
        if not self.secure:
            return settings_for(self.bootstrap)
        dev = load_or_create_secrets(self.state_dir)
        return dev.broker_auth().client_settings(
            self.bootstrap, user, client_id="interop-faults", request_timeout_ms=15_000
        )

    @property
    def padron_file(self) -> Path:
        """The municipal register's SQLite file the padron connector reads."""
        return self.state_dir / "registries" / "padron.sqlite"

    def log_of(self, child: str) -> Path:
        """``gateway`` or ``connector-<registry>``: the child's JSON log file."""
        return self.state_dir / "logs" / f"{child}.log"

    def connector_ready_url(self, registry: str) -> str:
        """The ``/readyz`` of one demo connector (its health port is in its config)."""
        config = self.state_dir / "registries" / f"connector-{registry}.yaml"
        document = yaml.safe_load(config.read_text(encoding="utf-8"))
        return f"http://127.0.0.1:{document['connector']['health']['port']}/readyz"

    def connector_metrics_url(self, registry: str) -> str:
        return self.connector_ready_url(registry).replace("/readyz", "/metrics")

    def pid_of(self, *words: str) -> int:
        """The one child of this system whose command line holds every word."""
        return pid_of(str(self.state_dir), *words)

    def kill_gateway(self) -> None:
        """SIGKILL ``interop gateway`` (``interop dev`` restarts it)."""
        # " gateway --config": not `audit index --config .../gateway.yaml`.
        os.kill(self.pid_of(" gateway --config"), signal.SIGKILL)

    def kill_connector(self, registry: str) -> None:
        """SIGKILL one ``interop connector run`` (``interop dev`` restarts it)."""
        os.kill(self.pid_of("connector run", f"connector-{registry}.yaml"), signal.SIGKILL)

    def kafka(self, *command: str) -> None:
        """``interop kafka <command>`` on the system's broker, as an operator would."""
        args = [sys.executable, "-m", "interop", "kafka", *command, "--data-dir"]
        args.append(str(self.kafka_dir))
        if command[0] == "start":
            args += ["--port", str(self.kafka_port), "--nodes", str(self.nodes)]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr

    def alive(self) -> bool:
        return self.process.poll() is None

    @contextlib.contextmanager
    def padron_locked(self) -> Iterator[None]:
        """The register's SQLite file under an exclusive lock (a registry that hangs:
        every reader waits), released when the block ends."""
        db = sqlite3.connect(self.padron_file, timeout=30, isolation_level=None)
        try:
            db.execute("BEGIN EXCLUSIVE")
            yield
        finally:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            db.close()

    @contextlib.contextmanager
    def padron_corrupted(self) -> Iterator[None]:
        """The register's SQLite header overwritten in place (open connections see it
        too), then restored byte for byte when the block ends."""
        with self.padron_file.open("r+b") as handle:
            original = handle.read(4096)
            handle.seek(0)
            handle.write(b"\xde\xad" * (len(original) // 2))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            yield
        finally:
            with self.padron_file.open("r+b") as handle:
                handle.write(original)
                handle.flush()
                os.fsync(handle.fileno())

    def log_mark(self, child: str) -> int:
        """Where the child's log ends now (read what came after with ``log_since``)."""
        try:
            return self.log_of(child).stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, child: str, mark: int) -> list[dict[str, Any]]:
        """The JSON log lines the child wrote after ``mark`` (other lines skipped)."""
        with self.log_of(child).open("rb") as handle:
            handle.seek(mark)
            text = handle.read().decode("utf-8", errors="replace")
        lines: list[dict[str, Any]] = []
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                parsed = json.loads(line)
                if isinstance(parsed, dict):
                    lines.append(parsed)
        return lines


@contextlib.contextmanager
def start_system(
    tmp_path: Path,
    *,
    nodes: int = 1,
    secure: bool = True,
    gateway_store_url: str | None = None,
    connector_store_url: str | None = None,
) -> Iterator[System]:
    """``interop dev`` (``--nodes``: a local Kafka cluster; ``secure=False``: an open
    broker) on ports below the ephemeral range, until its summary; Ctrl-C at the end (it
    stops its children and the brokers).

    ``gateway_store_url`` (exchanges, consents, audit index: the gateway and its audit
    indexer) and ``connector_store_url`` (the three connectors' reply store) put the
    stores elsewhere than ``interop dev``'s SQLite files, e.g. on PostgreSQL: given to its
    children as the environment overrides an operator would use
    (``INTEROP__GATEWAY__STORE_URL``, ``INTEROP__CONNECTOR__REPLY_STORE_URL``), which win
    over the files it writes."""
    kafka_port, http_port = _free_port_run(2 * nodes), free_server_port()
    argv = dev_argv(tmp_path, kafka_port, http_port, people=PEOPLE)
    if not secure:
        argv.append("--insecure")
    if nodes > 1:
        argv += ["--nodes", str(nodes)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if gateway_store_url is not None:
        env["INTEROP__GATEWAY__STORE_URL"] = gateway_store_url
    if connector_store_url is not None:
        env["INTEROP__CONNECTOR__REPLY_STORE_URL"] = connector_store_url
    process = subprocess.Popen(
        [sys.executable, "-m", "interop", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    output: list[str] = []
    drain = threading.Thread(target=_drain, args=(process, output), daemon=True)
    try:
        summary = read_until(process, "Press Ctrl-C", timeout_s=_READY_TIMEOUT_S)
        # Keep reading, so interop dev never blocks on a full pipe and a case can read
        # what it said about its children.
        drain.start()
        keys = dict(re.findall(r"^\s+(TOWN|PORTAL|AUDITOR)=(\S+)", summary, re.MULTILINE))
        verify_line = next(line for line in summary.splitlines() if "audit verify" in line)
        verify = shlex.split(verify_line.replace("$AUDITOR", keys["AUDITOR"]))[1:]
        yield System(
            process=process,
            url=f"http://127.0.0.1:{http_port}",
            keys=keys,
            verify=verify,
            state_dir=tmp_path / "state",
            kafka_dir=tmp_path / "kafka",
            kafka_port=kafka_port,
            people=generate_population(PEOPLE),
            output=output,
            nodes=nodes,
            secure=secure,
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # The pipe ends with the process: let the reader finish, then close our end (left
        # to the garbage collector, it is an unclosed-file warning, an error here).
        if drain.is_alive():
            drain.join(timeout=10)
        if process.stdout is not None and not drain.is_alive():
            process.stdout.close()


def _free_port_run(length: int) -> int:
    """The first of ``length`` consecutive free ports (a cluster's nodes: port + 2i)."""
    while True:
        first = free_server_port()
        if first + length < ephemeral_port_range()[0] and all(
            server_can_bind("127.0.0.1", first + i) for i in range(length)
        ):
            return first


def _drain(process: subprocess.Popen[str], into: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        into.append(line.rstrip("\n"))


@dataclass
class Probe:
    """Samples ``url`` every ``every_s`` in the background: (when, status) per change."""

    url: str
    every_s: float = 0.2
    changes: list[tuple[float, int]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Probe:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                status = 0  # not answering at all
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(self.url) as response:
                        status = response.status
                if not self.changes or self.changes[-1][1] != status:
                    self.changes.append((time.monotonic(), status))
                await asyncio.sleep(self.every_s)

    def status_at(self, moment: float) -> int | None:
        """The last status sampled at or before ``moment``."""
        before = [status for when, status in self.changes if when <= moment]
        return before[-1] if before else None

    def saw_between(self, start: float, end: float, status: int) -> bool:
        """Whether ``status`` was seen at some time in [start, end]."""
        if self.status_at(start) == status:
            return True
        return any(start <= when <= end and s == status for when, s in self.changes)

    def ready_after(self, moment: float) -> float | None:
        """Seconds from ``moment`` until the probe saw 200 (and kept it) again."""
        if self.changes and self.changes[-1][1] != 200:
            return None
        last_change = self.changes[-1][0] if self.changes else moment
        return max(0.0, last_change - moment)
