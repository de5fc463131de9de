"""The audit indexer as a process of its own: ``interop audit index --config gateway.yaml``.

The indexer turns the audit topic into the index and the Merkle log. Inside a gateway it
shares the event loop that answers exchanges, and verifying every event's signature is
the largest single cost of a gateway under load (docs/benchmarks.md). Run apart, with the
gateways' ``audit.indexer.enabled: false``, it takes that work to its own core; the
gateways still serve the audit API from the same store (SQLite in WAL mode, or the shared
PostgreSQL database), which the indexer writes.

It reads the gateway's settings file (store, audit topic, checkpoint key, members file,
gateway group) so that the one file describes both. ``--health-port`` serves ``/healthz``
(the process runs), ``/readyz`` (it owns the audit partition and its last batch was
written) and ``/metrics``.
"""

from __future__ import annotations

import asyncio
import signal

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bus import (
    BrokerHealth,
    BrokerWait,
    KafkaSettings,
    freeze_startup_objects,
    start_when_broker_answers,
    unless_stopped,
)
from bus.audit import AuditIndexer
from contracts.catalogue import load_catalogue
from gateway.audit_api import audit_parts
from gateway.members import MemberDirectory, load_members_file
from gateway.settings import GatewaySettings

__all__ = ["run_indexer"]

_log = structlog.get_logger("gateway.indexer_process")
_ASSIGN_WAIT_S = 0.05


async def run_indexer(
    kafka: KafkaSettings,
    settings: GatewaySettings,
    *,
    health_port: int | None = None,
    health_host: str = "127.0.0.1",
    stop: asyncio.Event | None = None,
) -> None:
    """Index until ``stop`` is set or SIGINT/SIGTERM arrives, then leave the group."""
    catalogue = load_catalogue(settings.catalogue_dir)
    directory = MemberDirectory.from_config(load_members_file(settings.members_file), catalogue)
    audit = settings.audit
    # This process exists to run the indexer, whatever the gateways' files say about
    # running it inside them.
    forced = settings.model_copy(
        update={
            "audit": audit.model_copy(
                update={"indexer": audit.indexer.model_copy(update={"enabled": True})}
            )
        }
    )
    subject_key = settings.subject_hmac_key.get_secret_value().encode("utf-8")
    parts = audit_parts(
        kafka,
        forced,
        member_keys=directory.member_keys,
        subject_key=subject_key,
        catalogue=catalogue,
    )
    indexer = parts.indexer
    assert indexer is not None  # noqa: S101 - enabled just above
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    health: web.AppRunner | None = None
    wait = BrokerWait()
    await parts.index.open()
    try:
        if health_port is not None:  # first: it says why while the broker is not up yet
            health = await _serve_health(indexer, kafka, health_host, health_port, wait)
        starting = start_when_broker_answers(indexer.start, component="audit-indexer", wait=wait)
        started, _ = await unless_stopped(starting, stop)
        if started:
            _log.info("audit_indexer_process_started", health_port=health_port)
            freeze_startup_objects("audit-indexer")
            await stop.wait()
    finally:
        if health is not None:
            await health.cleanup()
        await indexer.stop()
        await parts.index.close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    _log.info("audit_indexer_process_stopped")


async def _serve_health(
    indexer: AuditIndexer, kafka: KafkaSettings, host: str, port: int, wait: BrokerWait
) -> web.AppRunner:
    registry = CollectorRegistry()
    broker = BrokerHealth(kafka)
    gauges = {
        name: Gauge(f"interop_audit_indexer_{name}", help_text, registry=registry)
        for name, help_text in (
            ("appended", "Events appended to the Merkle log by this process"),
            ("quarantined", "Audit records refused (unsigned, forged, oversized...)"),
            ("checkpoints", "Checkpoints signed by this process"),
            ("digest_disagreements", "Exchanges whose provider and gateway digests differ"),
        )
    }

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        # Assigned is not enough: with the broker gone or the index refusing writes the
        # partition stays assigned while nothing is indexed (found from outside: 200
        # through an 80 s broker outage and 23 failed batches).
        if wait.waiting:
            return web.json_response(
                {"status": "not ready", "checks": {"broker": wait.describe()}}, status=503
            )
        checks: dict[str, str] = {}
        try:
            await indexer.wait_assigned(_ASSIGN_WAIT_S)
        except TimeoutError:
            checks["audit_partition"] = "not assigned"
        if indexer.failing is not None:
            checks["index"] = f"the last round failed ({indexer.failing})"
        # Cached: /readyz answers anyone, and each uncached call opened a Kafka connection.
        if not await broker.reachable():
            checks["broker"] = "the Kafka broker does not answer"
        if checks:
            return web.json_response({"status": "not ready", "checks": checks}, status=503)
        return web.json_response({"status": "ready"})

    async def metrics(_: web.Request) -> web.Response:
        for name, gauge in gauges.items():
            gauge.set(getattr(indexer.stats, name))
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
