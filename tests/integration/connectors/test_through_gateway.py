"""End to end: HTTP POST to the real gateway -> signed request on the real broker -> the
connector runtime with a Python handler -> reply -> 200 with the data."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from bus.audit.trail import MemoryAuditTrail
from connectors import ConnectorRuntime, ConnectorSettings
from tests.integration.connectors.support import DIGEST_KEY, PROVIDER
from tests.integration.gateway.support import http, start_gateway
from tests.integration.member_signing import key_id_of, private_key_of


async def test_post_with_prefer_wait_is_answered_200_by_the_connector(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """Found -> 200 with the handler's data (read with the requested 1.0 schema);
    not found -> 200 with found false; both verified with the gateway's public key."""
    key = Ed25519PrivateKey.generate()
    private = base64.b64encode(
        key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    ).decode()
    public = base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    signing = {"key_id": "gw-e2e", "private_key": private}
    async with start_gateway(
        kafka_bootstrap, tmp_path, unique_name, with_provider=False, signing=signing
    ) as gw:
        settings = ConnectorSettings.model_validate(
            {
                "member_id": PROVIDER,
                "kafka": {"bootstrap_servers": kafka_bootstrap},
                "catalogue_dir": str(gw.cat.root),
                "reply_store_url": f"sqlite:///{tmp_path / 'replies.db'}",
                "gateway_keys": {"gw-e2e": public.decode()},
                # The gateway accepts only replies signed by the exchange's provider.
                "signing": {"key_id": key_id_of(PROVIDER), "private_key": private_key_of(PROVIDER)},
                "audit_digest_key": DIGEST_KEY,
                "health": {"port": 0},
                "services": [
                    {
                        "service": gw.cat.residence,
                        "version": "1",
                        "handler": "tests.integration.connectors.handlers:residence",
                        "group_id": unique_name("e2e-connector"),
                    }
                ],
            }
        )
        audit = MemoryAuditTrail()
        runtime = ConnectorRuntime(settings, audit=lambda _producer: audit)
        await runtime.start()
        try:
            await runtime.wait_assigned(timeout_s=30)
            body = gw.body("FOUND-E2E", version="1.0")
            status, _, found = await http(
                "POST",
                f"{gw.base_url}/v1/exchanges",
                headers=gw.headers(Prefer="wait=10"),
                json=body,
            )
            missing_status, _, missing = await http(
                "POST",
                f"{gw.base_url}/v1/exchanges",
                headers=gw.headers(Prefer="wait=10"),
                json=gw.body("MISSING-E2E"),
            )
            assert runtime.health is not None
            ready_status, _, ready = await http(
                "GET", f"http://127.0.0.1:{runtime.health.port}/readyz"
            )
            _, _, metrics = await http("GET", f"http://127.0.0.1:{runtime.health.port}/metrics")
        finally:
            await runtime.stop()
    assert status == 200, found
    assert found["status"] == "completed"
    assert found["found"] is True
    assert found["data"]["municipality_name"] == "Alcalá de Henares"
    assert found["data"]["registered_since"] == "2019-03-01"
    assert missing_status == 200, missing
    assert missing["found"] is False
    assert (ready_status, ready["status"]) == (200, "ready")
    assert "interop_connector_requests_total" in metrics
    assert any(r.exchange_id == found["id"] for r in audit.records)
