"""Shared pieces of the audit integration tests: a unique single-partition audit topic,
a checkpoint signer, an indexer over a real database, and waiting on its progress."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import CollectorRegistry

from bus import (
    BusProducer,
    KafkaSettings,
    catalogue_topic_specs,
    ensure_topics,
    parse_gateway_group_id,
)
from bus.audit.index import AuditIndex
from bus.audit.indexer import AuditIndexer, CheckpointPolicy
from bus.audit.note_keys import NoteSigner
from bus.audit.quarantine import QUARANTINE_SUFFIX
from bus.audit.trail import AuditEventType, AuditRecord
from bus.provisioning import AUDIT_TOPIC_CONFIGS
from gateway.app import GATEWAY_KEY, create_app
from gateway.audit_api import AUDIT_KEY, AuditParts
from gateway.http_server import gateway_runner
from gateway.members import new_api_key
from tests.integration.bus.kafka_helpers import settings_for
from tests.integration.gateway.support import (
    Provider,
    RunningGateway,
    gateway_settings,
    make_catalogue,
    setup_started,
    write_members,
)

__all__ = [
    "ORIGIN",
    "SIGNER",
    "audited_gateway",
    "create_audit_topic",
    "running_indexer",
    "sample_record",
    "wait_for_size",
]

ORIGIN = "audit.test.example/log"
SIGNER = NoteSigner.generate(ORIGIN)


async def create_audit_topic(kafka: KafkaSettings, name: str) -> str:
    """A fresh one-partition topic (the audit topic's shape and configs) named ``name``, and its
    quarantine topic ``<name>.quarantine`` (refused events)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(
                    topic,
                    num_partitions=1,
                    replication_factor=1,
                    topic_configs=dict(AUDIT_TOPIC_CONFIGS) if topic == name else {},
                )
                for topic in (name, name + QUARANTINE_SUFFIX)
            ]
        )
    finally:
        await admin.close()
    return name


def sample_record(i: int, **overrides: object) -> AuditRecord:
    """A REQUESTED record for exchange number ``i``."""
    values: dict[str, object] = {
        "type": AuditEventType.REQUESTED,
        "time": datetime(2026, 5, 9, 10, 0, i % 60, i, tzinfo=UTC),
        "actor": "interop.gateway",
        "exchange_id": f"0196b000-0000-7000-8000-{i:012d}",
        "requester": "es.town" if i % 2 else "es.city",
        "official": f"official-{i % 3}",
        "provider": "es.ine.padron",
        "service": "register.residence-certificate",
        "version": "1.1",
        "purpose": "social-benefits",
        "subject_ref": f"pseudonym-{i % 5}",
        "request_digest": "hmac-sha256:" + f"{i:064x}",
        "outcome": "ALLOWED",
    }
    values.update(overrides)
    return AuditRecord(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def running_indexer(
    kafka: KafkaSettings,
    index: AuditIndex,
    topic: str,
    group: str,
    *,
    checkpoint_every: int = 50,
    checkpoint_interval_s: float = 0.2,
) -> AsyncIterator[AuditIndexer]:
    """An indexer on ``topic`` into ``index`` (opened), started and stopped around the block."""
    await index.open()
    indexer = AuditIndexer(
        kafka,
        index,
        topic=topic,
        group_id=group,
        checkpoints=CheckpointPolicy(
            origin=ORIGIN,
            signer=SIGNER,
            every=checkpoint_every,
            interval_s=checkpoint_interval_s,
        ),
        batch_size=100,
    )
    await indexer.start()
    try:
        await indexer.wait_assigned(timeout_s=30)
        yield indexer
    finally:
        await indexer.stop()


async def wait_for_size(index: AuditIndex, size: int, *, timeout_s: float = 30) -> None:
    """Wait until the index holds ``size`` leaves and a checkpoint of that size."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = await index.state()
        latest = await index.latest_checkpoint()
        if state.tree_size >= size and latest is not None and latest.tree_size >= size:
            assert state.tree_size == size, f"the index holds {state.tree_size} > {size} leaves"
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"index at {state.tree_size} leaves, checkpoint {latest and latest.tree_size};"
                f" wanted {size} after {timeout_s}s"
            )
        await asyncio.sleep(0.05)


# -- a real gateway with an audit topic of its own, an auditor and a citizen portal --------
@asynccontextmanager
async def audited_gateway(
    kafka_bootstrap: str,
    tmp_path: Path,
    unique: Callable[[str], str],
    *,
    extra_keys: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    **overrides: Any,
) -> AsyncIterator[tuple[RunningGateway, dict[str, str], AuditParts]]:
    """``start_gateway``'s gateway, with its own audit topic and signing key, plus members
    ``it.auditor`` (role auditor) and ``it.portal`` (citizen-portal); yields their keys
    and the app's audit parts (index, indexer). ``extra_keys``: more signing keys per
    member, as ``write_members`` takes them."""
    kafka = settings_for(kafka_bootstrap, client_id="interop-audit-it")
    topic = await create_audit_topic(kafka, unique("audit"))
    domain = "it" + unique("d").rsplit("-", 1)[-1]
    cat = make_catalogue(tmp_path / "catalogue", domain)
    keys = write_members(tmp_path / "members.yaml", cat, extra_keys=extra_keys)
    members = yaml.safe_load((tmp_path / "members.yaml").read_text(encoding="utf-8"))
    extra: dict[str, str] = {}
    for name, role in (("auditor", "auditor"), ("portal", "citizen-portal")):
        key, digest = new_api_key()
        extra[name] = key
        members["members"].append(
            {
                "id": f"it.{name}",
                "name": f"Test {name}",
                "roles": [role],
                "api_keys": [{"sha256": digest}],
            }
        )
    (tmp_path / "members.yaml").write_text(yaml.safe_dump(members), encoding="utf-8")
    group = unique("gw")
    values: dict[str, Any] = {
        "audit": {
            "topic": topic,
            "indexer": {
                "origin": ORIGIN,
                "signing_key": SIGNER.private_key_string(),
                "checkpoint_interval_s": 0.2,
                "checkpoint_every": 100,
            },
        }
    }
    values.update(overrides)
    settings = gateway_settings(tmp_path, cat, group, **values)
    specs = catalogue_topic_specs(
        cat.catalogue,
        gateway_groups=[parse_gateway_group_id(group)],
        request_partitions=2,
        reply_partitions=2,
        replication_factor=1,
    )
    await ensure_topics(kafka, specs)
    provider = Provider(kafka, cat)
    async with BusProducer(kafka) as producer:
        await provider.start(producer, unique("provider"))
        app = create_app(kafka, settings, registry=CollectorRegistry())
        runner = gateway_runner(app, shutdown_timeout=5)
        await setup_started(runner, app)
        try:
            await web.TCPSite(runner, settings.http.host, settings.http.port).start()
            yield (
                RunningGateway(
                    base_url=f"http://{settings.http.host}:{settings.http.port}",
                    keys=keys,
                    cat=cat,
                    gateway=app[GATEWAY_KEY],
                    provider=provider,
                    kafka=kafka,
                    settings=settings,
                ),
                extra,
                app[AUDIT_KEY],
            )
        finally:
            provider.release_slow.set()
            await runner.cleanup()
            await provider.stop()
