"""Signed audit events on the real broker: forgeries are quarantined, the log still verifies.

Issue #13's attacks on the audit topic, replayed against a real gateway and its indexer:
a copy of a real COMPLETED event with another requester (the old signature kept), an
unsigned CONSENT_REVOKED, and a properly signed event with a 900 KB field. Each lands in
the quarantine table and topic, never in the Merkle tree; ``interop audit verify`` with
the members' keys checks every event's signature and passes; the citizen's access list
never shows the forged access. A RESPONDED event whose digest differs from the gateway's
COMPLETED one makes ``interop audit verify`` fail and name the exchange.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bus import BusProducer
from bus.audit.event import AuditEventCodec, EventRow
from bus.audit.event_signing import sign_event
from bus.audit.index import EventFilter
from bus.audit.quarantine import QUARANTINE_SUFFIX
from bus.audit.trail import AuditEventType, exchange_event_id
from bus.ids import uuid7
from interop.audit_cmd import run_verify
from tests.integration.audit.support import ORIGIN, SIGNER, audited_gateway, wait_for_size
from tests.integration.bus.kafka_helpers import read_topic
from tests.integration.gateway.support import RunningGateway, http, poll_until
from tests.integration.member_signing import GATEWAY_MEMBER, PROVIDERS, retired_key, signer_of

SUBJECT = "FOUND-SIGNED-1"  # document number and subject of every exchange here
CODEC = AuditEventCodec()


async def _completed_exchange(gw: RunningGateway) -> dict[str, Any]:
    status, _, body = await http(
        "POST",
        f"{gw.base_url}/v1/exchanges",
        headers=gw.headers(Prefer="wait=10"),
        json=gw.body(SUBJECT),
    )
    assert status == 200, body
    assert body["status"] == "completed"
    return dict(body)


async def _verify(gw: RunningGateway, auditor: str, members: Path) -> tuple[int, str]:
    out = io.StringIO()
    code = await run_verify(
        gateway=gw.base_url,
        api_key=auditor,
        key=SIGNER.verifier.key_string(),
        origin=ORIGIN,
        members=members,
        out=out,
    )
    return code, out.getvalue()


async def _produce(
    gw: RunningGateway, records: list[tuple[bytes, list[tuple[str, bytes]]]]
) -> None:
    async with BusProducer(gw.kafka) as producer:
        for value, headers in records:
            await producer.send(gw.settings.audit.topic, value, headers=headers)


async def test_forged_unsigned_and_oversized_events_are_quarantined_not_logged(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """Three bad events between two real exchanges: quarantined (table and topic), absent
    from the tree and the citizen's accesses; the log and every signature verify."""
    async with audited_gateway(kafka_bootstrap, tmp_path, unique_name) as (gw, extra, parts):
        first = await _completed_exchange(gw)
        await wait_for_size(parts.index, 2)
        topic = gw.settings.audit.topic
        real = [r for r in await read_topic(gw.kafka, topic, count=2)]
        completed = next(r for r in real if CODEC.decode(r.value).type == "COMPLETED")
        row = CODEC.decode(completed.value)
        forged = dataclasses.replace(row, event_id=str(uuid7()), requester="es.aepd")
        unsigned = EventRow(
            event_id=str(uuid7()),
            type="CONSENT_REVOKED",
            time=datetime.now(UTC),
            actor="it.portal",
            outcome="CONSENT_REVOKED",
            reason="forged",
        )
        # Just under the broker's 1 MiB limit: its quarantine copy, with the dead-letter
        # headers added, would be over it, and the indexer retried that write for good,
        # indexing nothing more (now the copy keeps the value's digest).
        base = dataclasses.replace(unsigned, event_id=str(uuid7()), actor=GATEWAY_MEMBER, reason="")
        signed_bytes = sum(len(n) + len(v) for n, v in sign_event(signer_of(GATEWAY_MEMBER), base))
        pad = 1_048_200 - len(CODEC.encode(base)) - signed_bytes
        oversized = dataclasses.replace(base, reason="x" * pad)
        content_type = [("content-type", b"application/avro")]
        await _produce(
            gw,
            [
                (CODEC.encode(forged), [(n, v or b"") for n, v in completed.headers]),
                (CODEC.encode(unsigned), content_type),
                (CODEC.encode(oversized), sign_event(signer_of(GATEWAY_MEMBER), oversized)),
            ],
        )
        second = await _completed_exchange(gw)
        await wait_for_size(parts.index, 4)

        quarantined = await _quarantined(parts, 3, "three quarantined events")
        assert sorted(q.reason.split(":", 1)[0] for q in quarantined) == [
            "BAD_SIGNATURE",
            "OVERSIZED",
            "UNSIGNED",
        ]
        assert {q.event_id for q in quarantined} == {
            forged.event_id,
            unsigned.event_id,
            oversized.event_id,
        }
        parked = await read_topic(gw.kafka, topic + QUARANTINE_SUFFIX, count=3)
        assert {dict(r.headers)["interop_dlq_topic"].decode() for r in parked} == {topic}
        [too_big] = [r for r in parked if "interop_dlq_value_bytes" in dict(r.headers)]
        assert too_big.value == b""
        assert int(dict(too_big.headers)["interop_dlq_value_bytes"]) > 1_040_000
        logged = await parts.index.events(EventFilter(), limit=100)
        assert len(logged) == 4
        assert not {e.row.event_id for e in logged} & {q.event_id for q in quarantined}
        assert {e.row.exchange_id for e in logged} == {first["id"], second["id"]}
        assert all(e.signature is not None for e in logged)

        code, output = await _verify(gw, extra["auditor"], tmp_path / "members.yaml")
        assert code == 0, output
        assert "verified: 4 event(s)" in output, output

        portal = {"Authorization": f"Bearer {extra['portal']}"}
        status, _, accesses = await http(
            "POST", f"{gw.base_url}/v1/subjects/accesses", headers=portal, json={"subject": SUBJECT}
        )
        assert status == 200
        assert [a["administration"] for a in accesses["accesses"]] == ["it.town", "it.town"]

        # The API serves each event's signature: an auditor without the index checks it.
        auditor = {"Authorization": f"Bearer {extra['auditor']}"}
        _, _, served = await http("GET", f"{gw.base_url}/v1/audit/events", headers=auditor)
        assert {e["key_id"] for e in served["events"]} == {signer_of(GATEWAY_MEMBER).key_id}
        assert all(e["signature"] for e in served["events"])


async def _quarantined(parts: Any, count: int, what: str) -> list[Any]:
    """The index's quarantined events once there are ``count`` of them (30 s at most)."""
    found: list[Any] = await poll_until(
        parts.index.quarantined, lambda found: len(found) >= count, timeout_s=30, what=what
    )
    return found


async def _requested_of_completed(
    gw: RunningGateway, parts: Any
) -> tuple[dict[str, Any], EventRow]:
    """A completed exchange, once the index holds its two events, and its REQUESTED."""
    done = await _completed_exchange(gw)
    await wait_for_size(parts.index, 2)
    events = await parts.index.events(EventFilter(exchange_id=done["id"]), limit=10)
    return done, next(e.row for e in events if e.row.type == "REQUESTED")


def _step(requested: EventRow, kind: AuditEventType, **changes: Any) -> EventRow:
    """The provider's ``kind`` step built from its exchange's REQUESTED, with its id
    derived as the bus derives it (a lie about another field must not fail on its id)."""
    provider = changes.get("provider", requested.provider) or ""
    exchange_id = changes.get("exchange_id", requested.exchange_id) or ""
    return dataclasses.replace(
        requested,
        event_id=exchange_event_id(provider, exchange_id, kind),
        type=kind.value,
        actor=provider,
        **changes,
    )


async def test_a_retired_provider_key_cannot_date_a_step_back_into_its_window(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """The provider's key of last year, retired an hour ago, is still listed. Signed with
    it and dated two days back (inside its window), a RESPONDED for a real exchange is
    older than the exchange's REQUESTED: quarantined (NOT_AS_REQUESTED, "dated before"),
    not indexed. (Within its 24 h of grace the broker's append time does not refuse the
    key yet; the next test shows that check.) The same step signed now with the
    provider's current key is indexed."""
    now = datetime.now(UTC)
    provider = PROVIDERS[0]
    retired, old_keys = retired_key(provider, retired_ago=timedelta(hours=1))
    async with audited_gateway(kafka_bootstrap, tmp_path, unique_name, extra_keys=old_keys) as (
        gw,
        _,
        parts,
    ):
        _, requested = await _requested_of_completed(gw, parts)
        assert requested.provider == provider
        backdated = _step(
            requested, AuditEventType.RESPONDED, time=now - timedelta(days=2), outcome="OK"
        )
        await _produce(gw, [(CODEC.encode(backdated), sign_event(retired, backdated))])
        [quarantined] = await _quarantined(parts, 1, "the backdated step quarantined")
        assert quarantined.event_id == backdated.event_id
        assert quarantined.reason.startswith("NOT_AS_REQUESTED")
        assert "dated before its exchange's REQUESTED" in quarantined.reason
        assert quarantined.key_id == retired.key_id
        honest = dataclasses.replace(backdated, time=now)
        await _produce(gw, [(CODEC.encode(honest), sign_event(signer_of(provider), honest))])
        await wait_for_size(parts.index, 3)
        steps = await parts.index.events(
            EventFilter(exchange_id=requested.exchange_id, types=("RESPONDED",)), limit=10
        )
        assert [e.row.time for e in steps] == [now]


async def test_the_brokers_append_time_bounds_every_events_key(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """The audit topic keeps the broker's append time (LogAppendTime), which no producer
    chooses. A gateway key retired two days ago signs a CONSENT_GRANTED dated into its
    window: quarantined KEY_NOT_VALID (no exchange to compare it with; only the broker's
    time refuses it). The same event signed with the current key is indexed: an event
    written days after its time (a closing owed across an outage) is no lie."""
    now = datetime.now(UTC)
    retired, old_keys = retired_key(GATEWAY_MEMBER, retired_ago=timedelta(days=2))
    async with audited_gateway(kafka_bootstrap, tmp_path, unique_name, extra_keys=old_keys) as (
        gw,
        _,
        parts,
    ):
        await _completed_exchange(gw)
        await wait_for_size(parts.index, 2)
        [record, *_] = await read_topic(gw.kafka, gw.settings.audit.topic, count=1)
        assert record.timestamp_type == 1  # LogAppendTime: the broker's, not the producer's
        consent = EventRow(
            event_id=str(uuid7()),
            type="CONSENT_GRANTED",
            time=now - timedelta(days=3),
            actor=GATEWAY_MEMBER,
            subject_ref="a-citizens-pseudonym",
            requester="es.ayto-madrid",
            outcome="GRANTED",
        )
        late = dataclasses.replace(consent, event_id=str(uuid7()))
        await _produce(
            gw,
            [
                (CODEC.encode(consent), sign_event(retired, consent)),
                (CODEC.encode(late), sign_event(signer_of(GATEWAY_MEMBER), late)),
            ],
        )
        [quarantined] = await _quarantined(parts, 1, "the retired key's event quarantined")
        assert quarantined.event_id == consent.event_id
        assert quarantined.reason.startswith("KEY_NOT_VALID")
        assert "retired more than 24 h before the broker received" in quarantined.reason
        await _completed_exchange(gw)
        await wait_for_size(parts.index, 5)
        found = await parts.index.events(EventFilter(subject_ref="a-citizens-pseudonym"), limit=10)
        assert [e.row.event_id for e in found] == [late.event_id]
        assert len(await parts.index.quarantined()) == 1


async def test_verify_names_an_exchange_whose_provider_and_gateway_digests_differ(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """A properly signed RESPONDED whose response digest is not the gateway's COMPLETED
    one: the log is intact, but the gateway's indexer flags it and ``interop audit verify``
    exits non-zero naming the exchange."""
    async with audited_gateway(kafka_bootstrap, tmp_path, unique_name) as (gw, extra, parts):
        done, requested = await _requested_of_completed(gw, parts)
        code, output = await _verify(gw, extra["auditor"], tmp_path / "members.yaml")
        assert code == 0, output
        provider = requested.provider
        assert provider is not None
        responded = _step(
            requested, AuditEventType.RESPONDED, outcome="OK", reason=None, response_digest="0" * 64
        )
        await _produce(gw, [(CODEC.encode(responded), sign_event(signer_of(provider), responded))])
        await wait_for_size(parts.index, 3)
        assert await parts.index.quarantined() == []
        # The gateway's indexer saw the two sides disagree as the RESPONDED landed.
        assert parts.indexer is not None
        assert parts.indexer.stats.digest_disagreements == 1
        code, output = await _verify(gw, extra["auditor"], tmp_path / "members.yaml")
        assert code != 0, output
        assert "digests" in output, output
        assert done["id"] in output, output


async def test_a_provider_cannot_take_the_id_of_the_gateways_coming_completed(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """Exchange-step ids are predictable. While an exchange waits, its provider writes one
    of its own signed events under the id of the gateway's coming COMPLETED: it is
    quarantined (WRONG_EVENT_ID), and the real COMPLETED is indexed when it comes. The
    indexer skipped it as a writer's retry, and the citizen never saw the access."""
    async with audited_gateway(kafka_bootstrap, tmp_path, unique_name) as (gw, _, parts):
        provider = gw.cat.catalogue.services[gw.cat.residence].meta.providers[0]
        status, _, pending = await http(
            "POST",
            f"{gw.base_url}/v1/exchanges",
            headers=gw.headers(Prefer="wait=0"),
            json=gw.body(f"SLOW-{uuid7().hex[-8:]}"),
        )
        assert status == 202, pending
        exchange_id = pending["id"]
        requested = await poll_until(
            lambda: parts.index.events(EventFilter(exchange_id=exchange_id), limit=10),
            lambda found: len(found) >= 1,
            timeout_s=20,
            what="the REQUESTED event",
        )
        coming = exchange_event_id(GATEWAY_MEMBER, exchange_id, AuditEventType.COMPLETED)
        squat = dataclasses.replace(
            requested[0].row, event_id=coming, type="DELIVERED", actor=provider, outcome="OK"
        )
        await _produce(gw, [(CODEC.encode(squat), sign_event(signer_of(provider), squat))])
        quarantined = await _quarantined(parts, 1, "the squatting event quarantined")
        assert [(q.event_id, q.reason.split(":", 1)[0]) for q in quarantined] == [
            (coming, "WRONG_EVENT_ID")
        ]
        gw.provider.release_slow.set()
        own = await poll_until(
            lambda: parts.index.events(EventFilter(exchange_id=exchange_id), limit=10),
            lambda found: "COMPLETED" in {e.row.type for e in found},
            timeout_s=30,
            what="the real COMPLETED indexed",
        )
        assert [e.row.event_id for e in own if e.row.type == "COMPLETED"] == [coming]


async def test_a_provider_cannot_respond_for_a_service_it_does_not_provide(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """es.tgss, with its own key, writes a RESPONDED for a made-up exchange of the
    register's service: quarantined (it was indexed, a signed lie in the log)."""
    async with audited_gateway(kafka_bootstrap, tmp_path, unique_name) as (gw, _, parts):
        _, requested = await _requested_of_completed(gw, parts)
        made_up = str(uuid7())
        lie = _step(
            requested,
            AuditEventType.RESPONDED,
            provider="es.tgss",
            exchange_id=made_up,
            outcome="OK",
        )
        await _produce(gw, [(CODEC.encode(lie), sign_event(signer_of("es.tgss"), lie))])
        quarantined = await _quarantined(parts, 1, "the lie quarantined")
        assert [(q.event_id, q.reason.split(":", 1)[0]) for q in quarantined] == [
            (lie.event_id, "ACTOR_NOT_ALLOWED")
        ]
        assert (await parts.index.events(EventFilter(exchange_id=made_up), limit=10)) == []


async def test_verify_names_an_exchange_left_without_its_closing_event(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """A REQUESTED two hours before the log's latest event, never closed (its COMPLETED
    lost or kept out of the log): ``interop audit verify`` exits non-zero naming it."""
    async with audited_gateway(kafka_bootstrap, tmp_path, unique_name) as (gw, extra, parts):
        done, requested = await _requested_of_completed(gw, parts)
        lost = str(uuid7())
        orphan = dataclasses.replace(
            requested,
            event_id=exchange_event_id(GATEWAY_MEMBER, lost, AuditEventType.REQUESTED),
            exchange_id=lost,
            time=requested.time - timedelta(hours=2),
        )
        await _produce(gw, [(CODEC.encode(orphan), sign_event(signer_of(GATEWAY_MEMBER), orphan))])
        await wait_for_size(parts.index, 3)
        code, output = await _verify(gw, extra["auditor"], tmp_path / "members.yaml")
        assert code != 0, output
        assert "unclosed" in output or "no COMPLETED, FAILED or TIMED_OUT" in output, output
        assert lost in output, output
        assert done["id"] not in output, output  # closed: not named


async def test_a_provider_step_must_repeat_what_its_exchange_was_requested_for(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """The register's provider, with its own key and for its own service, writes a
    RESPONDED for a real exchange naming another citizen, a REJECTED for it naming another
    town hall, and a DELIVERED for an exchange nobody requested. All are quarantined
    (NOT_AS_REQUESTED): they were indexed, so an auditor searching the log by the other
    citizen found an access that never happened."""
    async with audited_gateway(kafka_bootstrap, tmp_path, unique_name) as (gw, _, parts):
        _, requested = await _requested_of_completed(gw, parts)
        provider = requested.provider
        assert provider is not None
        stranger = "another-citizens-pseudonym"
        other_subject = _step(
            requested, AuditEventType.RESPONDED, subject_ref=stranger, outcome="OK"
        )
        other_requester = _step(
            requested, AuditEventType.REJECTED, requester="es.ayto-madrid", outcome="REJECTED"
        )
        made_up = str(uuid7())
        unrequested = _step(
            requested, AuditEventType.DELIVERED, exchange_id=made_up, outcome="DELIVERED"
        )
        await _produce(
            gw,
            [
                (CODEC.encode(lie), sign_event(signer_of(provider), lie))
                for lie in (other_subject, other_requester, unrequested)
            ],
        )
        quarantined = await _quarantined(parts, 3, "the three lies quarantined")
        assert sorted((q.event_id, q.reason.split(":", 1)[0]) for q in quarantined) == sorted(
            (lie.event_id, "NOT_AS_REQUESTED")
            for lie in (other_subject, other_requester, unrequested)
        )
        assert await parts.index.events(EventFilter(subject_ref=stranger), limit=10) == []
        assert await parts.index.events(EventFilter(exchange_id=made_up), limit=10) == []
        assert (await parts.index.state()).tree_size == 2
