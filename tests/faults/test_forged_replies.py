"""Issue #13's first attack, replayed on ``interop dev``'s authenticated broker.

A provider that legitimately writes the reply topic (the social-security agency,
``es.tgss``, logged in as itself) races the municipal register's answer for a pending
exchange: one reply copying the request's headers without a signature, one signed with
its own real key. The register hangs meanwhile (its SQLite file locked), so the exchange
waits. Neither forgery is accepted: each is dead-lettered and audited UNVERIFIED at its
offset, the exchange stays pending, and once the register is back its real reply
completes the exchange with the register's data.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from bus import (
    Envelope,
    KafkaSettings,
    RecordSigner,
    ReplyStatus,
    kafka_client_security,
    load_private_key,
    parse_member_id,
    request_digest,
)
from connectors.answering import ReplyPlan, signed_reply_envelope
from contracts import Codec, json_to_avro, load_catalogue
from contracts.lockfile import LockFile
from interop.dev_setup import load_or_create_secrets
from tests.faults.load import residence_request
from tests.faults.reconcile import audit_events, audit_mark, get_json
from tests.faults.report import CaseReport
from tests.faults.system import System
from tests.faults.test_forged_records import find_request

pytestmark = pytest.mark.timeout(120)

_FORGER = "es.tgss"
_SERVICE = "register.residence-certificate"
_FORGED_DATA: dict[str, Any] = {
    "registered": True,
    "municipality_code": "99999",
    "municipality_name": "Forged",
    "registered_since": "2000-01-01",
    "certified_at": "2026-05-09T10:00:00.000Z",
    "household_size": 1,
}


def _forged_value() -> bytes:
    """A well-formed response (the forger knows the schema: it is public)."""
    catalogue = load_catalogue()
    lock = LockFile.load(catalogue.lock_path())
    codec = Codec({int(k): v for k, v in catalogue.schemas_by_id(lock).items()})
    version = catalogue.services[_SERVICE].version("1.1")
    entry = lock.entry(_SERVICE, "1.1", "response")
    assert version is not None
    assert entry is not None
    return codec.encode(entry.schema_id, json_to_avro(version.response, _FORGED_DATA))


async def _post(system: System, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {system.keys['TOWN']}"}  # no Prefer: 202 at once
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session,
        session.post(f"{system.url}/v1/exchanges", json=body, headers=headers) as response,
    ):
        answer = dict(await response.json(content_type=None))
        assert response.status == 202, (response.status, answer)
        return answer


async def _forge(
    system: System, request: ConsumerRecord[bytes, bytes], forger: KafkaSettings
) -> list[tuple[str, int, int]]:
    """Two replies onto the request's reply partition, as ``es.tgss``: unsigned, signed."""
    envelope = Envelope.from_headers(list(request.headers))
    assert envelope.reply_topic is not None
    assert envelope.reply_partition is not None
    value = _forged_value()
    dev = load_or_create_secrets(system.state_dir)
    signer = RecordSigner(
        dev.member_key_id(_FORGER), load_private_key(dev.member_signing_keys[_FORGER])
    )
    member = parse_member_id(_FORGER)
    plan = ReplyPlan(ReplyStatus.OK, value=value)
    digest = request_digest(envelope, request.value or b"")  # the request it claims to answer
    unsigned = signed_reply_envelope(envelope, digest, plan, member=member, signer=None)
    signed = signed_reply_envelope(envelope, digest, plan, member=member, signer=signer)
    producer = AIOKafkaProducer(
        bootstrap_servers=forger.bootstrap_servers, **kafka_client_security(forger)
    )
    await producer.start()
    try:
        written = []
        for reply in (unsigned, signed):
            meta = await producer.send_and_wait(
                envelope.reply_topic,
                value,
                partition=envelope.reply_partition,
                headers=list(reply.to_headers()),
            )
            written.append((meta.topic, meta.partition, meta.offset))
        return written
    finally:
        await producer.stop()


async def test_a_providers_forged_replies_never_complete_another_providers_exchange(
    system: System, case: CaseReport
) -> None:
    """While the register hangs, ``es.tgss`` (allowed to write the reply topic) sends an
    unsigned and a self-signed reply for the register's pending exchange: both are
    dead-lettered and audited UNVERIFIED, the exchange stays pending, and the register's
    real answer completes it once the register is back."""
    mark = await audit_mark(system)
    person = system.people[7]
    with system.padron_locked():
        accepted = await _post(system, residence_request(person))
        exchange_id = str(accepted["id"])
        request = await find_request(system.kafka_login(), exchange_id)
        written = await _forge(system, request, system.kafka_login(_FORGER))
        places = {f"at {topic}/{partition}/{offset}" for topic, partition, offset in written}
        deadline = time.monotonic() + 30
        while True:
            unverified = await audit_events(system, mark, type="UNVERIFIED")
            seen = {e["reason"].split(" ", 1)[1] for e in unverified if e.get("reason")}
            if places <= seen:
                break
            assert time.monotonic() < deadline, (sorted(places), unverified[:3])
            await asyncio.sleep(0.5)
        status, pending = await get_json(system, f"/v1/exchanges/{exchange_id}")
        assert status == 200, pending
        assert pending["status"] == "pending", pending
    deadline = time.monotonic() + 40
    while True:
        status, done = await get_json(system, f"/v1/exchanges/{exchange_id}")
        if status == 200 and done["status"] != "pending":
            break
        assert time.monotonic() < deadline, done
        await asyncio.sleep(0.3)
    assert done["status"] == "completed", done
    assert done["found"] is True, done
    assert done["data"]["municipality_name"] != "Forged", done
    # The audit indexer is its own process: the exchange's closing events may be indexed
    # a moment after the gateway answers "completed".
    deadline = time.monotonic() + 30
    while True:
        trail = await audit_events(system, 0, exchange_id=exchange_id)
        kinds = sorted(e["type"] for e in trail)
        if "COMPLETED" in kinds or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.3)
    assert "UNVERIFIED" not in kinds, kinds  # never blamed on the exchange it claims
    assert kinds.count("COMPLETED") == 1, kinds
    case.sent, case.ok = 1, 1
    case.notes.append("2 forged replies by es.tgss dead-lettered and audited UNVERIFIED")
