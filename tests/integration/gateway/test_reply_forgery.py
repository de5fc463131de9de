"""Issue #13's forged replies, on the real broker against a real gateway and provider.

While an exchange waits for its provider (a SLOW request the provider holds), forged replies
race the real one onto the gateway's reply partition: a forged signature, an unsigned
reply copying the request's headers, a reply signed by another provider, a real reply of
another exchange re-pointed at this one, that same reply re-signed with the right key
but still naming the other request, and a reply signed with the provider's retired key,
dated back into that key's window. None is accepted: each is dead-lettered with its
reason and audited as an UNVERIFIED record (topic, partition, offset, never under the
exchange it claims); the exchange keeps waiting, and the provider's real reply completes
it with the real data.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bus import BusProducer, Envelope, ReplyStatus, parse_member_id
from bus.audit.index import EventFilter
from bus.envelope_headers import REQUEST_DIGEST_HEADER
from bus.record_signing import RecordSigner
from bus.topics import RequestTopic
from contracts import Codec, json_to_avro
from tests.integration.audit.support import audited_gateway
from tests.integration.bus.kafka_helpers import read_topic
from tests.integration.gateway.support import RunningGateway, http, poll_until
from tests.integration.member_signing import PROVIDERS, key_id_of, retired_key, signer_of

PROVIDER = PROVIDERS[0]

FORGED_DATA: dict[str, Any] = {
    "registered": True,
    "municipality_code": "99999",
    "municipality_name": "Forged",
    "registered_since": "2000-01-01",
    "certified_at": "2026-05-09T10:00:00.000Z",
    "household_size": 1,
}


def _forged_value(gw: RunningGateway) -> bytes:
    """A well-formed response value (the forger knows the schema from the registry)."""
    cat = gw.cat
    codec = Codec({int(k): v for k, v in cat.catalogue.schemas_by_id(cat.lock).items()})
    version = cat.catalogue.services[cat.residence].version("1.1")
    entry = cat.lock.entry(cat.residence, "1.1", "response")
    assert version is not None
    assert entry is not None
    return codec.encode(entry.schema_id, json_to_avro(version.response, FORGED_DATA))


async def _exchange(gw: RunningGateway, ident: str, wait_s: int) -> dict[str, Any]:
    status, _, body = await http(
        "POST",
        f"{gw.base_url}/v1/exchanges",
        headers=gw.headers(Prefer=f"wait={wait_s}"),
        json=gw.body(ident),
    )
    assert status in (200, 202), body
    return dict(body)


async def _pending(gw: RunningGateway) -> tuple[dict[str, Any], Any]:
    """An exchange the provider holds (SLOW) until ``release_slow``, and its request."""
    pending = await _exchange(gw, f"SLOW-{uuid.uuid4().hex[:8]}", wait_s=0)
    await poll_until(
        lambda: _async_value([e.exchange_id for e in gw.provider.requests]),
        lambda ids: pending["id"] in ids,
        timeout_s=20,
        what="the provider to receive the pending request",
    )
    return pending, next(e for e in gw.provider.requests if e.exchange_id == pending["id"])


async def _released(gw: RunningGateway, exchange_id: str) -> dict[str, Any]:
    """Let the provider answer what it holds; the exchange once it is no longer pending."""
    gw.provider.release_slow.set()
    return await poll_until(
        lambda: _get(gw, exchange_id),
        lambda body: body["status"] != "pending",
        timeout_s=20,
        what="the real reply to complete the exchange",
    )


async def _get(gw: RunningGateway, exchange_id: str) -> dict[str, Any]:
    status, _, body = await http(
        "GET", f"{gw.base_url}/v1/exchanges/{exchange_id}", headers=gw.headers()
    )
    assert status == 200, body
    return dict(body)


async def test_forged_unsigned_foreign_and_replayed_replies_never_complete_an_exchange(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """Seven forgeries race the real reply (one just under the broker's size limit): none
    accepted, each dead-lettered with its reason and audited UNVERIFIED at its offset; the
    real reply completes the exchange."""
    now = datetime.now(UTC)
    # The provider's key of last year, retired yesterday and still listed (as a rotation
    # leaves it): whoever kept it dates a reply back into its window.
    retired, old_keys = retired_key(PROVIDER, retired_ago=timedelta(days=1))
    async with audited_gateway(kafka_bootstrap, tmp_path, unique_name, extra_keys=old_keys) as (
        gw,
        _,
        parts,
    ):
        provider = gw.cat.catalogue.services[gw.cat.residence].meta.providers[0]
        assert provider == PROVIDER
        reply_topic = gw.gateway.requester.router.reply_topic.name
        # Exchange A completes normally: its real reply is what the replay copies.
        done = await _exchange(gw, f"FOUND-{uuid.uuid4().hex[:8]}", wait_s=10)
        assert done["status"] == "completed"
        replies = await read_topic(gw.kafka, reply_topic, count=1)
        real_a = next(r for r in replies if dict(r.headers).get("ce_id") == done["id"].encode())
        # Exchange B waits: the provider holds SLOW requests until released.
        pending, request = await _pending(gw)
        value = _forged_value(gw)
        member = parse_member_id(provider)

        def reply_of(source: str, digest: str | None) -> Envelope:
            return request.reply(
                source=parse_member_id(source), status=ReplyStatus.OK, request_digest=digest
            )

        # The re-signed replay names A's request, not the one the gateway sent for B.
        copied_digest = dict(real_a.headers)[REQUEST_DIGEST_HEADER].decode()
        stored = await gw.gateway.store.get(pending["id"])
        assert stored is not None
        assert stored.sent_digest is not None
        assert stored.sent_digest != copied_digest
        impostor = RecordSigner(key_id_of(provider), Ed25519PrivateKey.generate())
        forgeries: list[tuple[str, list[tuple[str, bytes]], bytes]] = [
            ("BAD_SIGNATURE", impostor.sign(reply_of(provider, None), value).to_headers(), value),
            ("UNSIGNED", reply_of("es.tgss", None).to_headers(), value),
            (
                "NOT_THE_PROVIDER",
                signer_of("es.tgss").sign(reply_of(provider, None), value).to_headers(),
                value,
            ),
            (
                "BAD_SIGNATURE",
                [
                    (n, pending["id"].encode() if n == "ce_id" else (v or b""))
                    for n, v in real_a.headers
                ],
                real_a.value or b"",
            ),
            (
                "WRONG_REQUEST",
                signer_of(provider)
                .sign(
                    Envelope.from_headers(list(real_a.headers)).model_copy(
                        update={"exchange_id": pending["id"], "key_id": None, "signature": None}
                    ),
                    real_a.value or b"",
                )
                .to_headers(),
                real_a.value or b"",
            ),
        ]
        # Right provider, right request, signed by the retired key and dated two days
        # back, when that key was valid: the reply is older than the exchange it answers.
        backdated = reply_of(provider, stored.sent_digest).model_copy(
            update={"time": now - timedelta(days=2)}
        )
        forgeries.append(("WRONG_TIME", retired.sign(backdated, value).to_headers(), value))
        # Unsigned, and just under the broker's 1 MiB limit: its dead-letter copy, with
        # the added headers, was over it, and the router retried that write for good.
        unsigned = reply_of("es.tgss", None).to_headers()
        huge = b"\0" * (1_048_200 - sum(len(n) + len(v) for n, v in unsigned))
        forgeries.append(("UNSIGNED", unsigned, huge))
        assert member == request.provider
        async with BusProducer(gw.kafka) as producer:
            for _, headers, forged in forgeries:
                await producer.send(
                    reply_topic,
                    forged,
                    key=pending["id"].encode(),
                    headers=headers,
                    partition=request.reply_partition,
                )
        dlq = RequestTopic(request.service, request.major).dead_letter.name
        dead = await read_topic(gw.kafka, dlq, count=len(forgeries), timeout_s=30)
        reasons = [dict(r.headers)["interop_dlq_reason"].decode() for r in dead]
        assert sorted(r.split(":", 1)[0] for r in reasons) == sorted(f[0] for f in forgeries)
        assert {dict(r.headers)["interop_dlq_topic"].decode() for r in dead} == {reply_topic}
        [too_big] = [r for r in dead if "interop_dlq_value_bytes" in dict(r.headers)]
        assert (too_big.value, dict(too_big.headers)["interop_dlq_value_bytes"]) == (
            b"",
            str(len(huge)).encode(),
        )
        offsets = {int(dict(r.headers)["interop_dlq_offset"]) for r in dead}
        assert len(offsets) == len(forgeries)
        # Still waiting: no forgery completed or failed it.
        assert (await _get(gw, pending["id"]))["status"] == "pending"

        unverified = await poll_until(
            lambda: parts.index.events(EventFilter(types=("UNVERIFIED",)), limit=100),
            lambda found: len(found) >= len(forgeries),
            timeout_s=30,
            what="the UNVERIFIED audit events",
        )
        # "<CODE> at <topic>/<partition>/<offset>": where the record was read, nothing more.
        where = [
            re.fullmatch(r"([A-Z_]+) at (.+)/(\d+)/(\d+)", e.row.reason or "") for e in unverified
        ]
        assert all(w is not None for w in where), [e.row.reason for e in unverified]
        located = [w.groups() for w in where if w is not None]
        assert sorted(code for code, *_ in located) == sorted(f[0] for f in forgeries)
        assert {(topic, int(p)) for _, topic, p, _ in located} == {
            (reply_topic, request.reply_partition)
        }
        assert {int(o) for *_, o in located} == offsets
        assert {e.row.actor for e in unverified} == {gw.settings.member_id}
        assert all(e.row.exchange_id is None for e in unverified)
        assert all(e.row.requester is None and e.row.subject_ref is None for e in unverified)

        final = await _released(gw, pending["id"])
        assert final["status"] == "completed", final
        assert final["data"]["municipality_name"] == "Alcalá de Henares"
        # The exchange's own audit trail holds no trace of the forgeries.
        own = await poll_until(
            lambda: parts.index.events(EventFilter(exchange_id=pending["id"]), limit=100),
            lambda found: len(found) >= 2,
            timeout_s=20,
            what="the exchange's COMPLETED event in the index",
        )
        assert [e.row.type for e in own] == ["REQUESTED", "COMPLETED"]
        assert await parts.index.quarantined() == []


async def _async_value(value: Any) -> Any:
    return value


async def test_a_record_on_the_reply_topic_that_is_no_reply_leaves_a_trace(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """A record with no envelope, and one whose envelope is a request: each audited
    UNVERIFIED where it was read (they were dropped with an info line, without a trace),
    and the partition goes on: the next exchange completes."""
    async with audited_gateway(kafka_bootstrap, tmp_path, unique_name) as (gw, _, parts):
        reply_topic = gw.gateway.requester.router.reply_topic.name
        pending, request = await _pending(gw)
        async with BusProducer(gw.kafka) as producer:
            for headers in ([], request.to_headers()):
                await producer.send(
                    reply_topic, b"\x00garbage", headers=headers, partition=request.reply_partition
                )
        unverified = await poll_until(
            lambda: parts.index.events(EventFilter(types=("UNVERIFIED",)), limit=100),
            lambda found: len(found) >= 2,
            timeout_s=30,
            what="two UNVERIFIED events",
        )
        codes = sorted((e.row.reason or "").split(" at ", 1)[0] for e in unverified)
        assert codes == ["INVALID_ENVELOPE", "NOT_A_REPLY"], codes
        assert all(e.row.exchange_id is None for e in unverified)
        final = await _released(gw, pending["id"])
        assert final["status"] == "completed", final
