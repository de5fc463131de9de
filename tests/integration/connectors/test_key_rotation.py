"""A provider's connector switches signing keys with no failed exchange.

The members file lists two keys for the provider, valid at once (the old one's window
ends later, the new one's began earlier). A connector on the old key answers; a second
connector on the new key joins the same consumer group; the old one stops. Exchanges sent
all along complete, and the reply topic shows replies signed by both keys.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bus import BusProducer, Envelope, RequestTopic, new_exchange_id, parse_service_id
from bus.audit.trail import AuditEventType, MemoryAuditTrail
from bus.envelope_headers import KEY_ID_HEADER
from bus.header_values import format_time
from bus.record_signing import private_key_text, public_key_text
from connectors import ConnectorRuntime, ConnectorSettings
from tests.integration.bus.kafka_helpers import read_topic, wait_for
from tests.integration.connectors.support import DIGEST_KEY, PROVIDER
from tests.integration.gateway.support import RunningGateway, http, start_gateway
from tests.integration.member_signing import (
    GATEWAY_MEMBER,
    key_id_of,
    private_key_of,
    retired_key,
    signer_of,
)

NEW_KEY = Ed25519PrivateKey.generate()
NEW_KEY_ID = f"{PROVIDER}-it-2"


def _connector(
    gw: RunningGateway,
    tmp_path: Path,
    group: str,
    key_id: str,
    key: str,
    *,
    audit: MemoryAuditTrail | None = None,
) -> Any:
    settings = ConnectorSettings.model_validate(
        {
            "member_id": PROVIDER,
            "kafka": {"bootstrap_servers": gw.kafka.bootstrap_servers},
            "catalogue_dir": str(gw.cat.root),
            "reply_store_url": f"sqlite:///{tmp_path / 'replies.db'}",
            "members_file": str(tmp_path / "members.yaml"),
            "signing": {"key_id": key_id, "private_key": key},
            "audit_digest_key": DIGEST_KEY,
            "health": {"enabled": False},
            "services": [
                {
                    "service": gw.cat.residence,
                    "version": "1",
                    "handler": "tests.integration.connectors.handlers:residence",
                    "group_id": group,
                }
            ],
        }
    )
    trail = audit if audit is not None else MemoryAuditTrail()
    return ConnectorRuntime(settings, audit=lambda _producer: trail)


async def _exchanges(gw: RunningGateway, stop: asyncio.Event, out: list[tuple[int, str]]) -> None:
    while not stop.is_set():
        status, _, body = await http(
            "POST",
            f"{gw.base_url}/v1/exchanges",
            headers=gw.headers(Prefer="wait=15"),
            json=gw.body(f"FOUND-{uuid.uuid4().hex[:8]}"),
        )
        out.append((status, body.get("status", "") if isinstance(body, dict) else str(body)))


async def test_a_connector_switches_keys_without_a_failed_exchange(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """Old key, then both connectors, then the new key only: every exchange completes."""
    now = datetime.now(UTC)
    rotation = {
        PROVIDER: [
            {
                "key_id": NEW_KEY_ID,
                "public_key": public_key_text(NEW_KEY.public_key()),
                "not_before": format_time(now - timedelta(minutes=1)),
                "not_after": format_time(now + timedelta(days=400)),
            }
        ]
    }
    async with start_gateway(
        kafka_bootstrap, tmp_path, unique_name, with_provider=False, extra_keys=rotation
    ) as gw:
        assert gw.settings.signing.key_id == signer_of(GATEWAY_MEMBER).key_id
        group = unique_name("rotating-connector")
        old = _connector(gw, tmp_path, group, key_id_of(PROVIDER), private_key_of(PROVIDER))
        new = _connector(gw, tmp_path, group, NEW_KEY_ID, private_key_text(NEW_KEY))
        results: list[tuple[int, str]] = []
        stop = asyncio.Event()
        await old.start()
        old_running = True
        try:
            await old.wait_assigned(timeout_s=30)
            traffic = asyncio.create_task(_exchanges(gw, stop, results))
            await wait_for(lambda: len(results) >= 5, timeout_s=60, what="exchanges on the old key")
            await new.start()
            await new.wait_assigned(timeout_s=30)
            await old.stop()
            old_running = False
            seen = len(results)
            await wait_for(
                lambda: len(results) >= seen + 5, timeout_s=60, what="exchanges on the new key"
            )
            stop.set()
            await traffic
        finally:
            stop.set()
            if old_running:
                await old.stop()
            await new.stop()
        reply_topic = gw.gateway.requester.router.reply_topic.name
        replies = await read_topic(gw.kafka, reply_topic, count=len(results))
    assert results, "no exchange ran"
    assert {r for r in results} == {(200, "completed")}, results
    key_ids = {dict(r.headers)[KEY_ID_HEADER].decode() for r in replies}
    assert key_ids == {key_id_of(PROVIDER), NEW_KEY_ID}


async def _completed_exchange(gw: RunningGateway) -> None:
    status, _, body = await http(
        "POST",
        f"{gw.base_url}/v1/exchanges",
        headers=gw.headers(Prefer="wait=15"),
        json=gw.body(f"FOUND-{uuid.uuid4().hex[:8]}"),
    )
    assert (status, body["status"]) == (200, "completed"), body


async def test_a_retired_gateway_key_cannot_date_a_request_back_into_its_window(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """The gateway's old key, retired yesterday, is still listed (as rotation leaves it).
    Whoever kept its private key signs a copy of a real request, dated two days back (in
    the old window) with a deadline still ahead: the connector refuses it as
    ``REQUEST_WRONG_TIME``, dead-letters it and audits it UNVERIFIED, never under the
    exchange it names; dated now, the same key is ``UNKNOWN_KEY``. Real exchanges go on."""
    now = datetime.now(UTC)
    signer, keys = retired_key(GATEWAY_MEMBER, retired_ago=timedelta(days=1))
    async with start_gateway(
        kafka_bootstrap, tmp_path, unique_name, with_provider=False, extra_keys=keys
    ) as gw:
        audit = MemoryAuditTrail()
        connector = _connector(
            gw,
            tmp_path,
            unique_name("retired-key-connector"),
            key_id_of(PROVIDER),
            private_key_of(PROVIDER),
            audit=audit,
        )
        await connector.start()
        try:
            await connector.wait_assigned(timeout_s=30)
            await _completed_exchange(gw)
            topic = RequestTopic(parse_service_id(gw.cat.residence), 1)
            [genuine] = await read_topic(gw.kafka, topic.name, count=1)
            forged_ids = []
            async with BusProducer(gw.kafka) as producer:
                for dated in (now - timedelta(days=2), now):
                    envelope = Envelope.from_headers(genuine.headers).model_copy(
                        update={
                            "exchange_id": new_exchange_id(),
                            "time": dated,
                            "deadline": now + timedelta(seconds=60),
                            "key_id": None,
                            "signature": None,
                        }
                    )
                    forged_ids.append(envelope.exchange_id)
                    signed = signer.sign(envelope, genuine.value or b"")
                    await producer.send(
                        topic.name, genuine.value or b"", headers=signed.to_headers()
                    )
            parked = await read_topic(gw.kafka, topic.dead_letter.name, count=2)
            await _completed_exchange(gw)
        finally:
            await connector.stop()
    codes = [dict(p.headers)["interop_dlq_error_code"] for p in parked]
    assert codes == [b"REQUEST_WRONG_TIME", b"REQUEST_UNKNOWN_KEY"]
    reasons = [dict(p.headers)["interop_dlq_reason"].decode() for p in parked]
    assert "3600 s after the request's time" in reasons[0]
    unverified = [r for r in audit.records if r.type is AuditEventType.UNVERIFIED]
    assert sorted((r.reason or "").split(" at ")[0] for r in unverified) == [
        "UNKNOWN_KEY",
        "WRONG_TIME",
    ]
    assert all(r.exchange_id is None and r.subject_ref is None for r in unverified)
    touched = {r.exchange_id for r in audit.records}
    assert not touched & set(forged_ids)  # neither was delivered, answered or rejected
