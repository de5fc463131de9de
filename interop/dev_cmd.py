"""``interop dev``: the whole system on one machine, until Ctrl-C.

In order: the Kafka broker (reused if it runs), the catalogue's topics, the demo legacy
registries (a municipal register in SQLite, a tax agency speaking SOAP, a social-security
CSV export, all over a few thousand synthetic people), the gateway, its audit indexer and
one connector per registry as child processes (``interop gateway``, ``interop audit index``
and ``interop connector run``, the very commands a deployment runs), each waited for until
ready. Then it prints the gateway's URL, the demo members' API keys and curl commands to
try, and waits.

Ctrl-C (or SIGTERM) stops the children gracefully (SIGTERM, then a bounded wait), the
tax agency, and the broker if this run started it. Keys, members, the stores and the
broker's data stay under ``.interop/``: the next run reuses them, so the printed keys and
any consent recorded keep working.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import json
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import aiohttp
import yaml

from bus import (
    AUDIT_TOPIC,
    KafkaSettings,
    TopicChange,
    apply_acls,
    apply_topics,
    catalogue_topic_specs,
    derive_acl_bindings,
    ensure_topics,
    parse_gateway_group_id,
)
from connectors.demo import Person, RunningDemo, start_demo_registries
from contracts.catalogue import DEFAULT_CATALOGUE_DIR, Catalogue, load_catalogue
from contracts.errors import InteropError
from devservers.broker_auth import BrokerAuth
from devservers.kafka import KafkaRunner, RunningBroker
from devservers.kafka_cluster import KafkaCluster, RunningCluster
from devservers.ports import free_server_port
from interop.dev_setup import (
    DEMO_MEMBERS,
    GATEWAY_KAFKA_USER,
    DevSecrets,
    add_connector_signing,
    load_or_create_secrets,
    write_gateway_config,
    write_members_file,
)
from interop.file_modes import tighten
from interop.kafka_cmd import DEFAULT_CLUSTER_DATA_DIR, DEFAULT_DATA_DIR

__all__ = ["DEV_GATEWAY_GROUP", "DevError", "register"]

# The reply topic of the development gateway group: interop.rep.dev.
DEV_GATEWAY_GROUP: Final = "dev"
_DEV_REQUEST_PARTITIONS: Final = 3
_DEV_REPLY_PARTITIONS: Final = 4
_DEFAULT_STATE_DIR: Final = Path(".interop/dev")
_READY_TIMEOUT_S: Final = 90.0
_STOP_TIMEOUT_S: Final = 20.0
# Connectors' health endpoints: one port each, from this base.
_CONNECTOR_HEALTH_BASE: Final = 9464


_RESTART_MIN_S: Final = 1.0
_RESTART_MAX_S: Final = 30.0
_STABLE_S: Final = 60.0
_CRASH_LOOP: Final = 5


class DevError(InteropError):
    """A part of the development system did not come up."""

    code = "DEV_START_FAILED"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``dev`` command."""
    dev = subparsers.add_parser("dev", help="run the whole system locally until Ctrl-C")
    dev.add_argument("--port", type=int, default=9092, help="Kafka client port (default 9092)")
    dev.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="Kafka nodes (default 1; 3: a replicated cluster, node i on port+2i, data in "
        f"{DEFAULT_CLUSTER_DATA_DIR} unless --data-dir)",
    )
    dev.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"broker data directory, reused by the next run (default {DEFAULT_DATA_DIR})",
    )
    dev.add_argument(
        "--state-dir",
        type=Path,
        default=_DEFAULT_STATE_DIR,
        help="keys, members, stores, demo registries and logs "
        f"(default {_DEFAULT_STATE_DIR}; reused by the next run)",
    )
    dev.add_argument(
        "--http-port", type=int, default=8080, help="the gateway's port (default 8080)"
    )
    dev.add_argument(
        "--health-port",
        type=int,
        default=_CONNECTOR_HEALTH_BASE,
        help="first of the three connectors' health ports (default 9464; 0: any free ports)",
    )
    dev.add_argument(
        "--people", type=int, default=3000, help="synthetic people in the demo registries"
    )
    dev.add_argument(
        "--catalogue",
        type=Path,
        default=DEFAULT_CATALOGUE_DIR,
        help="contracts catalogue (default: the demo catalogue)",
    )
    dev.add_argument(
        "--insecure",
        action="store_true",
        help="run Kafka without authentication and ACLs (default: one SCRAM user per member, "
        "KRaft's StandardAuthorizer, `interop acls apply`)",
    )
    dev.add_argument(
        "--exit-when-ready",
        action="store_true",
        help="start everything, print the summary, then stop it all again (a smoke test)",
    )
    dev.set_defaults(handler=_dev)


@dataclass
class _Child:
    """A child process of ``interop dev`` and where its log goes."""

    name: str
    process: asyncio.subprocess.Process
    log: Path
    log_file: IO[bytes] = field(repr=False)
    command: tuple[str, ...] = ()
    started: float = field(default_factory=time.monotonic)


def _dev(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir.resolve()
    tighten(state_dir)  # a state directory from an older version: owner-only from now on
    logs = state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    catalogue = load_catalogue(args.catalogue)
    dev = load_or_create_secrets(state_dir)
    auth = None if args.insecure else dev.broker_auth()
    runner: KafkaRunner | KafkaCluster = (
        KafkaRunner(args.data_dir, auth=auth) if args.nodes == 1 else _cluster(args, auth)
    )
    broker: RunningBroker | RunningCluster = await asyncio.to_thread(runner.start, port=args.port)
    secured = "SASL/SCRAM logins and ACLs" if auth is not None else "no authentication"
    print(
        f"Kafka {broker.kafka_version} is up at {broker.bootstrap_servers} with {secured} "
        f"(data in {broker.data_dir}, log {runner.broker_log})",
        flush=True,
    )
    children: list[_Child] = []
    demo: RunningDemo | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await _provision(catalogue, broker.bootstrap_servers, auth, nodes=args.nodes)
        write_members_file(state_dir / "members.yaml", dev)
        gateway_config = state_dir / "gateway.yaml"
        write_gateway_config(
            gateway_config,
            state_dir=state_dir,
            bootstrap=broker.bootstrap_servers,
            http_port=args.http_port,
            dev=dev,
            kafka_login=auth is not None,
        )
        demo = await start_demo_registries(
            state_dir / "registries",
            common=_connector_common(broker.bootstrap_servers, dev, state_dir),
            people=args.people,
        )
        for config in demo.configs.values():
            add_connector_signing(config, dev, kafka_login=auth is not None)
        health_ports = _give_health_ports(demo.configs, args.health_port)
        print(f"Demo registries: {demo.registries.people} people in {demo.registries.directory}")
        gateway_url = f"http://127.0.0.1:{args.http_port}"
        indexer_port = free_server_port()
        indexer = ["audit", "index", "--config", str(gateway_config)]
        indexer += ["--health-port", str(indexer_port)]
        children.append(await _spawn("audit-indexer", indexer, logs))
        children.append(await _spawn("gateway", ["gateway", "--config", str(gateway_config)], logs))
        for name, config in sorted(demo.configs.items()):
            children.append(
                await _spawn(f"connector-{name}", ["connector", "run", str(config)], logs)
            )
        for name, port in health_ports.items():
            await _wait_ready(f"connector {name}", f"http://127.0.0.1:{port}/readyz", children)
        await _wait_ready("audit indexer", f"http://127.0.0.1:{indexer_port}/readyz", children)
        await _wait_ready("gateway", f"{gateway_url}/readyz", children)
        _print_summary(gateway_url, dev, demo.registries.examples, logs)
        if not args.exit_when_ready:
            print("Press Ctrl-C to stop.", flush=True)
            await _supervise(children, stop, logs)
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await _stop_children(children)
        if demo is not None:
            await demo.stop()
        if not broker.reused:
            await asyncio.to_thread(runner.stop)
            print("Stopped the gateway, the connectors and Kafka; data kept for the next run.")
        else:
            print("Stopped the gateway and the connectors; Kafka was running before: left up.")


async def _provision(
    catalogue: Catalogue, bootstrap: str, auth: BrokerAuth | None, *, nodes: int
) -> None:
    """The catalogue's topics and, on an authenticated broker, the ACLs (as the admin)."""
    admin = (
        auth.admin_settings(bootstrap, client_id="interop-dev")
        if auth is not None
        else KafkaSettings(bootstrap_servers=bootstrap, client_id="interop-dev")
    )
    await _topics(catalogue, admin, replication_factor=min(3, nodes))
    if auth is not None:
        await _acls(catalogue, admin)


def _cluster(args: argparse.Namespace, auth: BrokerAuth | None) -> KafkaCluster:
    """``--nodes N``: a local cluster, in its own directory unless ``--data-dir`` says."""
    data_dir = DEFAULT_CLUSTER_DATA_DIR if args.data_dir == DEFAULT_DATA_DIR else args.data_dir
    return KafkaCluster(data_dir, nodes=args.nodes, auth=auth)


async def _acls(catalogue: Catalogue, admin: KafkaSettings) -> None:
    """What ``interop acls apply`` does for the demo: the gateway and each provider's
    connector get exactly their rights, nothing else is allowed."""
    desired = derive_acl_bindings(
        catalogue,
        gateway_identity=GATEWAY_KAFKA_USER,
        gateway_groups=[parse_gateway_group_id(DEV_GATEWAY_GROUP)],
        providers=[m.id for m in DEMO_MEMBERS if m.role == "provider"],
    )
    plan = await apply_acls(admin, desired)
    print(
        f"ACLs: {len(desired)} for the gateway and {len(catalogue.services)} providers' "
        f"connectors ({len(plan.add)} added, {len(plan.remove)} removed)"
    )


async def _topics(
    catalogue: Catalogue, settings: KafkaSettings, *, replication_factor: int = 1
) -> None:
    specs = catalogue_topic_specs(
        catalogue,
        gateway_groups=[parse_gateway_group_id(DEV_GATEWAY_GROUP)],
        request_partitions=_DEV_REQUEST_PARTITIONS,
        reply_partitions=_DEV_REPLY_PARTITIONS,
        replication_factor=replication_factor,
    )
    changes = await ensure_topics(settings, specs)
    # A data directory from before the audit topic kept the broker's append time (which
    # the indexer checks signing keys against): change that topic in place.
    await apply_topics(settings, [spec for spec in specs if spec.topic == AUDIT_TOPIC])
    created = sum(1 for change in changes.values() if change is TopicChange.CREATED)
    print(
        f"Topics: {len(specs)} for {len(catalogue.services)} services "
        f"({created} created, {len(specs) - created} already there)"
    )


def _connector_common(bootstrap: str, dev: DevSecrets, state_dir: Path) -> dict[str, Any]:
    """What every demo connector.yaml shares: the broker, the gateway's key, the audit key."""
    return {
        "kafka": {"bootstrap_servers": bootstrap, "client_id": "interop-dev-connector"},
        "gateway_keys": {"gateway-dev-1": dev.signing_public_key},
        "audit_digest_key": dev.audit_digest_key,
        "reply_store_url": f"sqlite:///{state_dir / 'connector-replies.db'}",
        # Static membership: a connector restarted after a crash rejoins at once.
        "instance_id": "dev",
    }


def _give_health_ports(configs: dict[str, Path], base: int) -> dict[str, int]:
    """One health port per connector: ``base``, ``base + 1``... or free ones for base 0."""
    ports: dict[str, int] = {}
    for offset, (name, path) in enumerate(sorted(configs.items())):
        port = base + offset if base else free_server_port()
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        document["connector"]["health"] = {"host": "127.0.0.1", "port": port}
        path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
        ports[name] = port
    return ports


async def _spawn(name: str, command: Sequence[str], logs: Path) -> _Child:
    log = logs / f"{name}.log"
    log_file = log.open("ab")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "interop",
        "--log-format",
        "json",
        *command,
        stdout=log_file,
        stderr=log_file,
        stdin=asyncio.subprocess.DEVNULL,
        # Its own process group: Ctrl-C reaches us only, and we stop it in order.
        start_new_session=True,
        # ...but it must not outlive us: if interop dev is killed (even SIGKILL), the
        # kernel sends the child SIGTERM (Linux PR_SET_PDEATHSIG).
        preexec_fn=_die_with_parent,
    )
    return _Child(name, process, log, log_file, tuple(command))


def _die_with_parent() -> None:
    """In the child, before exec: ask for SIGTERM when the parent dies (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG: Final = 1


async def _wait_ready(what: str, url: str, children: list[_Child]) -> None:
    """Poll ``url`` until it answers 200; fail early with the log tail if a child died."""
    deadline = time.monotonic() + _READY_TIMEOUT_S
    timeout = aiohttp.ClientTimeout(total=2)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:
            for child in children:
                if child.process.returncode is not None:
                    raise DevError(
                        f"{child.name} exited with {child.process.returncode}: "
                        f"{_tail(child.log)} (full log: {child.log})"
                    )
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            if time.monotonic() > deadline:
                raise DevError(f"{what} was not ready after {_READY_TIMEOUT_S:.0f}s ({url})")
            await asyncio.sleep(0.2)


def _tail(log: Path, lines: int = 5) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:])


async def _supervise(children: list[_Child], stop: asyncio.Event, logs: Path) -> None:
    """Until Ctrl-C: a child that dies is named with its exit status and restarted with
    exponential back-off (1 s doubling to 30 s; back to 1 s once it has run a minute), so
    one crash does not take the whole demo down. A child that keeps dying at start is
    said to, with its log, and still retried."""
    backoff = {child.name: _RESTART_MIN_S for child in children}
    recent: dict[str, list[float]] = {child.name: [] for child in children}
    while not stop.is_set():
        waits = {asyncio.ensure_future(child.process.wait()): child for child in children}
        stopper = asyncio.ensure_future(stop.wait())
        try:
            done, _ = await asyncio.wait([stopper, *waits], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in [stopper, *waits]:
                future.cancel()
        for future in done:
            if future not in waits or stop.is_set():
                continue
            child = waits[future]
            now = time.monotonic()
            if now - child.started >= _STABLE_S:
                backoff[child.name] = _RESTART_MIN_S
            delay = backoff[child.name]
            backoff[child.name] = min(delay * 2, _RESTART_MAX_S)
            recent[child.name] = [t for t in recent[child.name] if now - t < _STABLE_S] + [now]
            print(
                f"{child.name} exited with status {child.process.returncode}; restarting in "
                f"{delay:g} s (log: {child.log}): {_tail(child.log, 2)}",
                flush=True,
            )
            if len(recent[child.name]) >= _CRASH_LOOP:
                print(
                    f"{child.name} keeps dying at start ({len(recent[child.name])} times in "
                    f"{_STABLE_S:.0f} s): read {child.log}",
                    flush=True,
                )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await stop.wait()
            if stop.is_set():
                return
            child.log_file.close()
            fresh = await _spawn(child.name, child.command, logs)
            children[children.index(child)] = fresh
            print(f"{child.name} restarted (pid {fresh.process.pid})", flush=True)


async def _stop_children(children: list[_Child]) -> None:
    """SIGTERM all (connectors first, so nothing is left half-answered), then wait."""
    for child in reversed(children):
        if child.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
    for child in reversed(children):
        try:
            await asyncio.wait_for(child.process.wait(), _STOP_TIMEOUT_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                child.process.kill()
            await child.process.wait()
        child.log_file.close()


def _print_summary(url: str, dev: DevSecrets, examples: Sequence[Person], logs: Path) -> None:
    town = dev.api_keys["es.ayto-alcala"]
    portal = dev.api_keys["es.carpeta-ciudadana"]
    auditor = dev.api_keys["es.aepd"]
    first, second = examples[0], examples[1]
    year = max((y.year for y in second.income if y.filed), default=second.income[0].year)
    residence = {
        "service": "register.residence-certificate",
        "version": "1",
        "subject": first.document_number,
        "purpose": "social-benefits",
        "official": "funcionaria-0042",
        "data": {"document_type": first.document_type, "document_number": first.document_number},
    }
    income = {
        "service": "tax.income-band",
        "version": "1",
        "subject": second.document_number,
        "purpose": "social-benefits",
        "official": "funcionaria-0042",
        "data": {"nif": second.document_number, "fiscal_year": year},
    }
    consent = {
        "subject": second.document_number,
        "grantee": "es.ayto-alcala",
        "services": ["tax.income-band"],
        "purposes": ["social-benefits"],
        "evidence": {"channel": "citizen-portal", "digest": "sha256:" + "ab" * 32},
    }
    citizens = f"{second.document_number} (or {first.document_number})"
    print(
        f"""
interop-bus is running.
  gateway     {url}   (OpenAPI: {url}/v1/openapi.json)
  console     {url}/console/   (sign in with an API key below)
  logs        {logs}

Console sign-ins:
  auditor     {url}/console/sign-in   with the AUDITOR key
  citizen     {url}/console/demo/citizen   DEMO: document number {citizens}

Demo members and their API keys:
  TOWN={town}      # es.ayto-alcala (consumer)
  PORTAL={portal}    # es.carpeta-ciudadana (citizen-portal)
  AUDITOR={auditor}   # es.aepd (auditor)

Try it (paste the three key lines above first):

# 1. A residence certificate (presumed consent): 200 with the municipal register's data
{_curl(url, "/v1/exchanges", "$TOWN", residence, wait=True)}

# 2. An income band (explicit consent): 403 CONSENT_REQUIRED, no consent yet ...
{_curl(url, "/v1/exchanges", "$TOWN", income, wait=True)}
#    ... the citizen grants it in the portal, and the same request answers 200:
{_curl(url, "/v1/consents", "$PORTAL", consent, wait=False)}
{_curl(url, "/v1/exchanges", "$TOWN", income, wait=True)}

# 3. The auditor's view, and a proof to verify offline:
curl -s {url}/v1/audit/events?limit=5 -H "Authorization: Bearer $AUDITOR"
.venv/bin/interop audit verify --gateway {url} --key {dev.checkpoint_verifier} --api-key=$AUDITOR
""",
        flush=True,
    )


def _curl(url: str, path: str, key: str, body: dict[str, Any], *, wait: bool) -> str:
    prefer = " -H 'Prefer: wait=10'" if wait else ""
    return (
        f'curl -s -X POST {url}{path} -H "Authorization: Bearer {key}"{prefer} '
        f"-H 'Content-Type: application/json' -d {shlex.quote(json.dumps(body))}"
    )
