"""A gateway replica started while no broker answers (a site restarted at once, the broker
slower to come up): it listens anyway, alive and not ready, refuses every exchange before
storing anything, keeps trying, and stops cleanly on request. (Before, it exited at once
with BROKER_UNAVAILABLE: its clients saw "connection refused" and nobody was told why.)
Its recovery once the broker comes back is proven on real processes by
``tests/faults/test_broker_outage.py::test_processes_restarted_while_the_broker_is_down``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway.app import GATEWAY_KEY, create_app
from gateway.http_server import gateway_runner
from tests.integration.bus.kafka_helpers import settings_for
from tests.integration.conftest import free_port
from tests.integration.gateway.support import (
    gateway_settings,
    http,
    make_catalogue,
    poll_until,
    write_members,
)


async def test_a_gateway_started_before_its_broker_serves_health_and_refuses_the_rest(
    tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    nobody = f"127.0.0.1:{free_port()}"  # below the ephemeral range: nothing listens there
    kafka = settings_for(nobody, client_id="interop-gateway-it")
    cat = make_catalogue(tmp_path / "catalogue", "itnobroker")
    keys = write_members(tmp_path / "members.yaml", cat)
    settings = gateway_settings(tmp_path, cat, unique_name("gw"))
    app = create_app(kafka, settings, registry=CollectorRegistry())
    runner = gateway_runner(app, shutdown_timeout=5)
    await asyncio.wait_for(runner.setup(), timeout=30)  # returns: it does not wait here
    startup = app[GATEWAY_KEY].startup
    base = f"http://{settings.http.host}:{settings.http.port}"
    try:
        await web.TCPSite(runner, settings.http.host, settings.http.port).start()
        assert not startup.started
        status, _, body = await http("GET", f"{base}/healthz")
        assert status == 200, body
        status, _, body = await http("GET", f"{base}/readyz")
        assert status == 503, body
        request = {
            "service": cat.residence,
            "version": "1",
            "subject": "FOUND-1",
            "purpose": "social-benefits",
            "official": "official-42",
            "data": {"document_type": "DNI", "document_number": "FOUND-1"},
        }
        headers = {"Authorization": f"Bearer {keys['town']}", "Idempotency-Key": "k-1"}
        status, answer_headers, body = await http(
            "POST", f"{base}/v1/exchanges", json=request, headers=headers
        )
        assert (status, body["code"]) == (503, "GATEWAY_STARTING"), body
        assert answer_headers["Retry-After"] == "5"
        assert "waiting for the Kafka broker" in body["detail"]
        assert nobody not in body["detail"]  # the broker's address is the operators' business
        # Other routes too: the consent registry, the audit search, an exchange's state.
        for path in ("/v1/consents", "/v1/audit/events", "/v1/exchanges/whatever"):
            status, _, body = await http("GET", f"{base}{path}", headers=headers)
            assert (status, body["code"]) == (503, "GATEWAY_STARTING"), (path, body)
        await poll_until(
            lambda: asyncio.sleep(0, startup.wait.attempts),
            lambda attempts: attempts >= 3,
            timeout_s=30,
            what="the gateway trying the broker again",
        )
    finally:
        await asyncio.wait_for(runner.cleanup(), timeout=15)  # a stop is not held up
    with sqlite3.connect(tmp_path / "gateway.db") as db:
        assert db.execute("SELECT count(*) FROM exchanges").fetchone() == (0,)


async def test_a_gateway_whose_broker_hangs_listens_within_seconds(
    tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """A broker that takes connections and never answers (SIGSTOPped): the first attempt
    would last the client's 30 s request timeout. The replica listens after 5 s anyway,
    not ready, and stops cleanly while the attempt still hangs."""
    port = free_port()
    hung = await asyncio.start_server(_never_answer, "127.0.0.1", port)
    kafka = settings_for(f"127.0.0.1:{port}", client_id="interop-gateway-it")
    cat = make_catalogue(tmp_path / "catalogue", "ithung")
    write_members(tmp_path / "members.yaml", cat)
    settings = gateway_settings(tmp_path, cat, unique_name("gw"))
    app = create_app(kafka, settings, registry=CollectorRegistry())
    runner = gateway_runner(app, shutdown_timeout=5)
    try:
        await asyncio.wait_for(runner.setup(), timeout=15)  # before: the 30 s timeout
        base = f"http://{settings.http.host}:{settings.http.port}"
        await web.TCPSite(runner, settings.http.host, settings.http.port).start()
        status, _, body = await http("GET", f"{base}/healthz")
        assert status == 200, body
        status, _, body = await http("GET", f"{base}/readyz")
        assert status == 503, body
        assert app[GATEWAY_KEY].startup.wait.waiting
    finally:
        await asyncio.wait_for(runner.cleanup(), timeout=15)
        hung.close()


async def _never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # takes what the client sends, answers nothing, until it hangs up
    writer.close()
