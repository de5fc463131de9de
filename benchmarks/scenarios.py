"""The scenarios: which processes each one runs, and how one measured run is taken.

A scenario is a load process plus the server processes it drives. All scenarios of a
bench stay up together on the same broker and are measured in turns (floor, direct,
end to end, scale-out, then the next run), so a neighbour's burst on the shared machine
hits every scenario alike and the ratios stay meaningful.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp

from benchmarks.closed_loop import LoadCommand, LoadReport
from benchmarks.deployment import PARTITIONS, Deployment, GatewaySpec
from benchmarks.direct_registry import RESIDENCE_PATH
from benchmarks.processes import Child, SharedServer
from benchmarks.registry_data import document_numbers
from benchmarks.roles import KAFKA_ENV
from devservers.ports import free_server_port

__all__ = [
    "DIRECT",
    "E2E",
    "FLOOR",
    "SCALE_OUT",
    "Launcher",
    "RunFigures",
    "Scenario",
    "free_port",
    "http_ready",
    "start_direct",
    "start_end_to_end",
    "start_floor",
]

FLOOR: Final = "floor"
DIRECT: Final = "direct"
E2E: Final = "e2e"
SCALE_OUT: Final = "e2e_2x2"
_READY_TIMEOUT_S: Final = 90.0
_ROLES: Final = (sys.executable, "-m", "benchmarks.roles")


def free_port() -> int:
    """A loopback TCP port nothing listens on right now, below the ephemeral range."""
    return free_server_port()


@dataclass(frozen=True, slots=True)
class RunFigures:
    """One measured run of one scenario at one concurrency."""

    throughput: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    ok: int
    errors: int
    error_kinds: dict[str, int]
    cpu_ms_per_exchange: dict[str, float]
    """Per process (load generator included): CPU time over successful exchanges."""


@dataclass
class Scenario:
    """A load process and the servers it drives."""

    name: str
    load: Child
    servers: list[Child]
    runs: dict[int, list[RunFigures]] = field(default_factory=dict)
    shared: tuple[SharedServer, ...] = ()
    """The broker's nodes and PostgreSQL, when the bench started them."""

    def _cpu_ms(self) -> dict[str, float]:
        cpu = {child.name: child.cpu_ms() for child in self.servers}
        return cpu | {server.name: server.cpu_ms() for server in self.shared}

    async def measure(self, concurrency: int, duration_s: float, *, keep: bool) -> RunFigures:
        """One closed-loop run; recorded under ``concurrency`` when ``keep`` (else warm-up)."""
        before = self._cpu_ms()
        command = LoadCommand(concurrency=concurrency, duration_s=duration_s)
        answer = await self.load.ask(command.model_dump(), timeout_s=duration_s + 60)
        after = self._cpu_ms()
        report = LoadReport.model_validate(answer)
        per = max(report.ok, 1)
        cpu = {name: (after[name] - before[name]) / per for name in before}
        cpu[self.load.name] = report.cpu_ms / per
        figures = RunFigures(
            throughput=report.throughput,
            p50_ms=report.p50_ms,
            p95_ms=report.p95_ms,
            p99_ms=report.p99_ms,
            ok=report.ok,
            errors=report.errors,
            error_kinds=report.error_kinds,
            cpu_ms_per_exchange=cpu,
        )
        if keep:
            self.runs.setdefault(concurrency, []).append(figures)
        return figures

    @property
    def children(self) -> list[Child]:
        return [self.load, *self.servers]


class Launcher:
    """Starts children and remembers every one it started, so a failure anywhere (one
    child not ready while others already run) still stops them all."""

    def __init__(self, logs: Path, profile_dir: Path | None = None) -> None:
        self.logs = logs
        self.profile_dir = profile_dir
        self.started: list[Child] = []

    async def start(self, child: Child, *, env: dict[str, str] | None = None) -> Child:
        self.started.append(child)
        await child.start(env=env)
        return child

    async def stop_all(self) -> None:
        await asyncio.gather(*(child.stop() for child in self.started), return_exceptions=True)

    def role(self, name: str, role: str, spec: dict[str, Any]) -> Child:
        """A ``benchmarks.roles`` child."""
        return Child(name, [*_ROLES, role, json.dumps(spec)], log_dir=self.logs)

    def interop(self, name: str, args: list[str]) -> Child:
        """A child running the ``interop`` command, under pyinstrument when profiling."""
        command = ["-m", "interop", "--log-format", "json", *args]
        if self.profile_dir is not None:
            out = self.profile_dir / f"{name}.pyisession"
            command = ["-m", "pyinstrument", "-r", "pyisession", "-o", str(out), *command]
        return Child(name, [sys.executable, *command], log_dir=self.logs)


async def _ready(children: list[Child]) -> None:
    await asyncio.gather(*(child.wait_ready(_READY_TIMEOUT_S) for child in children))


async def start_floor(dep: Deployment, launcher: Launcher) -> Scenario:
    """Raw aiokafka request-reply: one responder process, one client process."""
    topics = {"request_topic": dep.floor_request, "reply_topic": dep.floor_reply}
    responder = launcher.role(
        "floor-responder", "floor-responder", {**topics, "group_id": dep.floor_group}
    )
    load = launcher.role(
        "floor-client", "floor-load", {**topics, "reply_partitions": list(range(PARTITIONS))}
    )
    # The Kafka settings (a login on an authenticated broker) go by the environment,
    # not the command line other users of the machine can read.
    env = {KAFKA_ENV: json.dumps(dep.floor_kafka())}
    await _ready([await launcher.start(responder, env=env)])
    await _ready([await launcher.start(load, env=env)])
    return Scenario(FLOOR, load, [responder])


async def start_direct(_dep: Deployment, launcher: Launcher) -> Scenario:
    """The client calls the registry's own HTTP endpoint."""
    port = free_port()
    registry = launcher.role("direct-registry", "direct-registry", {"port": port})
    bodies = [{"document_type": "DNI", "document_number": n} for n in document_numbers()]
    load = launcher.role(
        "direct-client",
        "http-load",
        {"urls": [f"http://127.0.0.1:{port}{RESIDENCE_PATH}"], "bodies": bodies},
    )
    await _ready([await launcher.start(registry)])
    await _ready([await launcher.start(load)])
    return Scenario(DIRECT, load, [registry])


async def http_ready(child: Child, port: int) -> None:
    """Gateways and connectors print nothing for us: their ``/readyz`` says 200."""

    async def probe() -> bool:
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{port}/readyz") as response,
            ):
                return response.status == 200
        except aiohttp.ClientError:
            return False

    await child.wait_until(probe, _READY_TIMEOUT_S)


async def start_end_to_end(dep: Deployment, launcher: Launcher, *, replicas: int) -> Scenario:
    """``replicas`` gateways (``interop gateway``) and as many connector processes
    (``interop connector run``, one consumer group) on one service copy, and a client."""
    scenario = 1 if replicas == 1 else 2
    service = dep.services[scenario - 1]
    group = dep.gateway_group(scenario)
    share = PARTITIONS // replicas
    name = E2E if replicas == 1 else SCALE_OUT
    servers: list[tuple[Child, int]] = []
    for i in range(replicas):
        connector, port = f"{name}-connector-{i + 1}", free_port()
        config = dep.connector_config(connector, scenario, port)
        servers.append((launcher.interop(connector, ["connector", "run", str(config)]), port))
    gateways = [
        GatewaySpec(
            name=f"{name}-gateway-{i + 1}",
            port=free_port(),
            group=group,
            reply_partitions=tuple(range(i * share, (i + 1) * share)),
            scenario=scenario,
        )
        for i in range(replicas)
    ]
    for spec in gateways:
        config = dep.gateway_config(spec)
        servers.append(
            (launcher.interop(spec.name, ["gateway", "--config", str(config)]), spec.port)
        )
    # One audit indexer per scenario, beside the gateways (they share its settings file);
    # it writes the first replica's store (with PostgreSQL, the one every replica shares),
    # whose audit API then serves the log.
    indexer_port = free_port()
    indexer_args = ["audit", "index", "--config", str(dep.gateway_config(gateways[0]))]
    indexer_args += ["--health-port", str(indexer_port)]
    servers.append((launcher.interop(f"{name}-indexer", indexer_args), indexer_port))
    for child, _port in servers:
        await launcher.start(child)
    await asyncio.gather(*(http_ready(child, port) for child, port in servers))
    load = launcher.role(
        f"{name}-client",
        "http-load",
        {
            "urls": [f"http://127.0.0.1:{s.port}/v1/exchanges" for s in gateways],
            "bodies": dep.exchange_bodies(service),
            "headers": {"Authorization": f"Bearer {dep.api_key}", "Prefer": "wait=10"},
        },
    )
    await _ready([await launcher.start(load)])
    return Scenario(name, load, [child for child, _ in servers])
