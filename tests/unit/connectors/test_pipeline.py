"""The request pipeline with in-memory fakes: verify, dedupe, decode, answer, reply, audit."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bus import Ack, DeadLetter, ReplyStatus, Retry
from bus.audit.errors import AuditWriteError
from bus.audit.trail import AuditEventType, AuditRecord
from bus.errors import PublishError
from connectors.adapters.base import (
    Found,
    LegacyUnavailableError,
    NotFound,
)
from connectors.circuit import CircuitPolicy, CircuitState
from connectors.errors import RequestRefusedError
from connectors.reply_store import StoredReply
from connectors.retry import RetryPolicy
from connectors.sdk import Answer, Handler, HandlerContext
from tests.unit.connectors.fakes import (
    CODEC,
    RESIDENCE,
    harness,
    request_record,
    request_value,
    schema_id,
)


def _found_counting(calls: list[str]) -> Handler:
    """A handler that answers Found and notes each exchange it was called for."""

    async def handler(request: Mapping[str, Any], ctx: HandlerContext) -> Answer:
        calls.append(ctx.exchange_id)
        return Found(RESIDENCE)

    return handler


def _types(records: list[AuditRecord]) -> list[AuditEventType]:
    return [r.type for r in records]


async def test_a_found_record_is_replied_ok_in_the_providers_response_schema() -> None:
    """OK reply to the named topic/partition, framed with 1.1's response id; audited
    DELIVERED then RESPONDED (with a response digest); acknowledged."""
    seen: list[tuple[Mapping[str, Any], HandlerContext]] = []

    async def handler(request: Mapping[str, Any], ctx: HandlerContext) -> Answer:
        seen.append((request, ctx))
        return Found(RESIDENCE)

    h = harness(handler)
    envelope, record = request_record()
    assert await h.pipeline(record) == Ack()
    [(request, ctx)] = seen
    assert request["document_number"] == "12345678Z"
    assert ctx.exchange_id == envelope.exchange_id
    assert ctx.subject_ref == envelope.subject_ref
    [sent] = h.sender.sent
    assert (sent.topic, sent.partition) == ("interop.rep.test", 1)
    assert sent.key == envelope.exchange_id.encode()
    assert sent.envelope.status is ReplyStatus.OK
    assert sent.envelope.exchange_id == envelope.exchange_id
    decoded = CODEC.decode(sent.value, schema_id("1.1", "response"))
    assert decoded.writer_id == schema_id("1.1", "response")
    assert decoded.datum["municipality_code"] == "28005"
    assert _types(h.audit.records) == [AuditEventType.DELIVERED, AuditEventType.RESPONDED]
    responded = h.audit.records[1]
    assert responded.outcome == "OK"
    assert responded.response_digest is not None
    # The same self-describing form as the gateway's digests (bus.audit.digests).
    assert re.fullmatch(r"hmac-sha256:[0-9a-f]{64}", responded.response_digest)
    assert responded.subject_ref == envelope.subject_ref


async def test_a_redelivered_request_gets_the_stored_reply_without_a_second_call() -> None:
    """Same record twice: one handler call, two identical replies."""
    calls: list[str] = []
    handler = _found_counting(calls)
    h = harness(handler)
    _, record = request_record()
    assert await h.pipeline(record) == Ack()
    assert await h.pipeline(record) == Ack()
    assert len(calls) == 1
    first, second = h.sender.sent
    assert first.value == second.value
    assert second.envelope.status is ReplyStatus.OK
    assert h.audit.records[-1].reason == "replayed from the reply store"


async def test_an_unseen_request_skips_the_reply_store_and_its_copies_read_it() -> None:
    """Unseen (written after assignment, first attempt, its exchange new to this process):
    answered without a store read, even with the store down. Any later copy of the same
    exchange, unseen or not, is looked up: answered afresh while nothing is stored (the
    first reply could not be kept), then replayed once a reply is stored."""
    calls: list[str] = []
    handler = _found_counting(calls)
    h = harness(handler)
    _, record = request_record()
    unseen = dataclasses.replace(record, unseen=True)
    h.store.fail = True  # a read would fail; the first unseen copy must not need one
    assert await h.pipeline(unseen) == Ack()
    assert len(calls) == 1
    h.store.fail = False
    assert await h.pipeline(unseen) == Ack()  # a duplicate produce: the store is asked
    assert len(calls) == 2
    assert await h.pipeline(unseen) == Ack()
    assert await h.pipeline(record) == Ack()
    assert len(calls) == 2
    reasons = [r.reason for r in h.audit.records if r.type is AuditEventType.RESPONDED]
    assert reasons == [None, None, "replayed from the reply store", "replayed from the reply store"]


async def test_not_found_and_typed_errors_map_to_reply_statuses() -> None:
    """NotFound -> not_found; RequestRefusedError -> rejected with its code."""

    async def missing(_r: Mapping[str, Any], _c: HandlerContext) -> Answer:
        return NotFound()

    async def refuses(_r: Mapping[str, Any], _c: HandlerContext) -> Answer:
        raise RequestRefusedError("closed", reply_code="PADRON_CLOSED")

    h = harness(missing)
    await h.pipeline(request_record()[1])
    assert h.sender.sent[0].envelope.status is ReplyStatus.NOT_FOUND
    assert h.sender.sent[0].value == b""
    h = harness(refuses)
    await h.pipeline(request_record()[1])
    reply = h.sender.sent[0].envelope
    assert (reply.status, reply.error_code) == (ReplyStatus.REJECTED, "PADRON_CLOSED")


async def test_a_request_redelivered_after_its_deadline_is_replayed_from_the_store() -> None:
    """Answered, then the connector died before committing; the record comes back after its
    deadline: the stored reply is sent again (after DELIVERED; RESPONDED, replayed), never
    REJECTED."""
    h = harness(lambda _r, _c: asyncio.sleep(0, Found(RESIDENCE)))
    envelope, record = request_record(deadline_s=-1.0)
    stored = StoredReply(
        envelope.exchange_id, ReplyStatus.OK, None, b"\x00stored", datetime.now(UTC)
    )
    await h.store.put(stored)
    assert await h.pipeline(record) == Ack()
    [sent] = h.sender.sent
    assert (sent.value, sent.envelope.status) == (b"\x00stored", ReplyStatus.OK)
    delivered, responded = h.audit.records
    assert delivered.type is AuditEventType.DELIVERED
    assert (responded.type, responded.reason) == (
        AuditEventType.RESPONDED,
        "replayed from the reply store",
    )


async def test_a_late_request_never_answered_is_still_refused() -> None:
    """Past its deadline with nothing stored: DEADLINE_PASSED, no handler call."""
    h = harness(lambda _r, _c: asyncio.sleep(0, Found(RESIDENCE)))
    _, record = request_record(deadline_s=-1.0)
    outcome = await h.pipeline(record)
    assert isinstance(outcome, DeadLetter)
    assert outcome.code == "REQUEST_DEADLINE_PASSED"
    assert h.sender.sent == []


async def test_an_unsigned_request_is_dead_lettered_audited_and_not_answered() -> None:
    """No signature: DeadLetter with the reason, audited UNVERIFIED by where it was read
    (never under the exchange it claims), no handler, no reply."""
    calls: list[int] = []

    async def handler(_r: Mapping[str, Any], _c: HandlerContext) -> Answer:
        calls.append(1)
        return NotFound()

    h = harness(handler)
    _, record = request_record(sign=False)
    outcome = await h.pipeline(record)
    assert isinstance(outcome, DeadLetter)
    assert outcome.code == "REQUEST_UNSIGNED"
    assert calls == []
    assert h.sender.sent == []
    [unverified] = h.audit.records
    assert unverified.type is AuditEventType.UNVERIFIED
    assert unverified.reason == f"UNSIGNED at {record.topic}/{record.partition}/{record.offset}"
    claims = (unverified.exchange_id, unverified.requester, unverified.subject_ref)
    assert claims == (None, None, None)


async def test_a_tampered_value_is_refused_as_a_bad_signature() -> None:
    """One flipped byte of the value: BAD_SIGNATURE."""
    h = harness(lambda _r, _c: asyncio.sleep(0, NotFound()))
    _, record = request_record()
    tampered = bytearray(record.value or b"")
    tampered[-1] ^= 1
    outcome = await h.pipeline(dataclasses.replace(record, value=bytes(tampered)))
    assert isinstance(outcome, DeadLetter)
    assert outcome.code == "REQUEST_BAD_SIGNATURE"


async def test_an_undecodable_request_is_answered_rejected_and_dead_lettered() -> None:
    """Signed garbage: the requester hears 'rejected' at once; the record is parked."""
    h = harness(lambda _r, _c: asyncio.sleep(0, NotFound()))
    _, record = request_record(b"\x00\x00\x00\x00\x03\xff\xff")
    outcome = await h.pipeline(record)
    assert isinstance(outcome, DeadLetter)
    [sent] = h.sender.sent
    assert (sent.envelope.status, sent.envelope.error_code) == (
        ReplyStatus.REJECTED,
        "REQUEST_UNDECODABLE",
    )
    assert _types(h.audit.records) == [AuditEventType.REJECTED]


async def test_retriable_legacy_errors_are_retried_then_answered() -> None:
    """UNAVAILABLE twice, then found: one OK reply, legacy errors counted by kind."""
    attempts: list[int] = []

    async def flaky(_r: Mapping[str, Any], _c: HandlerContext) -> Answer:
        attempts.append(1)
        if len(attempts) < 3:
            raise LegacyUnavailableError("connection refused")
        return Found(RESIDENCE)

    h = harness(flaky)
    await h.pipeline(request_record()[1])
    assert len(attempts) == 3
    assert h.sender.sent[0].envelope.status is ReplyStatus.OK
    counted = h.metrics.legacy_errors.labels(
        "register.residence-certificate.v1", "unavailable"
    )._value.get()
    assert counted == 2


async def test_the_circuit_opens_and_answers_provider_unavailable_without_calling() -> None:
    """Threshold 2: two failed exchanges open it; the third is answered at once."""
    attempts: list[int] = []

    async def down(_r: Mapping[str, Any], _c: HandlerContext) -> Answer:
        attempts.append(1)
        raise LegacyUnavailableError("down")

    h = harness(
        down,
        retry=RetryPolicy(max_attempts=1),
        circuit=CircuitPolicy(failure_threshold=2, open_s=60),
    )
    for _ in range(3):
        await h.pipeline(request_record()[1])
    assert len(attempts) == 2
    assert h.answerer.breaker.state is CircuitState.OPEN
    codes = [s.envelope.error_code for s in h.sender.sent]
    assert codes == ["PROVIDER_UNAVAILABLE"] * 3


async def test_a_hung_registry_opens_the_circuit_through_deadline_cuts() -> None:
    """A registry that hangs (an exclusive lock held for 15 s): the first attempt times out,
    the retry is cut by the deadline; each cut counts as a failure, so the third exchange
    finds the breaker open and is answered at once without calling."""
    calls: list[int] = []

    async def hangs(_r: Mapping[str, Any], _c: HandlerContext) -> Answer:
        calls.append(1)
        await asyncio.Event().wait()
        return NotFound()

    h = harness(
        hangs,
        call_timeout_s=0.15,
        retry=RetryPolicy(max_attempts=3, base_delay_s=0.001, jitter=False),
        circuit=CircuitPolicy(failure_threshold=2, open_s=60),
    )
    for _ in range(2):
        await h.pipeline(request_record(deadline_s=0.6)[1])
    assert h.answerer.breaker.state is CircuitState.OPEN
    before = len(calls)
    await h.pipeline(request_record(deadline_s=0.6)[1])
    assert len(calls) == before
    codes = [s.envelope.error_code for s in h.sender.sent]
    assert codes == ["PROVIDER_TIMEOUT", "PROVIDER_TIMEOUT", "PROVIDER_UNAVAILABLE"]


async def test_a_slow_handler_is_cut_at_the_deadline() -> None:
    """A handler that never answers: PROVIDER_TIMEOUT just before the deadline."""

    async def hangs(_r: Mapping[str, Any], _c: HandlerContext) -> Answer:
        await asyncio.Event().wait()
        return NotFound()

    h = harness(hangs, retry=RetryPolicy(max_attempts=1))
    await h.pipeline(request_record(deadline_s=0.5)[1])
    [sent] = h.sender.sent
    assert sent.envelope.error_code == "PROVIDER_TIMEOUT"


async def test_a_response_that_does_not_fit_the_schema_is_an_error_reply() -> None:
    """Found with a missing required field: PROVIDER_RESPONSE_INVALID, not a bad value."""
    h = harness(lambda _r, _c: asyncio.sleep(0, Found({"registered": "yes"})))
    await h.pipeline(request_record()[1])
    assert h.sender.sent[0].envelope.error_code == "PROVIDER_RESPONSE_INVALID"


async def test_a_request_for_another_provider_is_left_alone() -> None:
    """Another provider of the service: acknowledged, no reply, no audit."""
    h = harness(lambda _r, _c: asyncio.sleep(0, NotFound()))
    assert await h.pipeline(request_record(provider="es.other")[1]) == Ack()
    assert h.sender.sent == []
    assert h.audit.records == []


async def test_a_failed_reply_is_retried_and_then_served_from_the_store() -> None:
    """The broker refuses the reply: Retry; next attempt replays without calling again."""
    calls: list[int] = []

    async def handler(_r: Mapping[str, Any], _c: HandlerContext) -> Answer:
        calls.append(1)
        return Found(RESIDENCE)

    h = harness(handler)
    _, record = request_record()
    h.sender.error = PublishError("broker down")
    assert isinstance(await h.pipeline(record), Retry)
    h.sender.error = None
    assert await h.pipeline(record) == Ack()
    assert len(calls) == 1
    assert len(h.sender.sent) == 1


async def test_an_audit_failure_is_retried_not_skipped() -> None:
    """The audit trail refuses DELIVERED (written while the registry answers and the reply
    is kept): Retry, and nothing leaves the connector. The redelivery replays the kept
    reply without asking the registry again, after a DELIVERED of its own: no reply
    leaves before its DELIVERED is in the log."""
    calls: list[int] = []

    async def handler(_r: Mapping[str, Any], _c: HandlerContext) -> Answer:
        calls.append(1)
        return NotFound()

    h = harness(handler)
    record = h.audit.record

    async def refuse(_event: AuditRecord) -> None:
        raise AuditWriteError("audit topic down")

    h.audit.record = refuse  # type: ignore[method-assign,assignment]
    _, request = request_record()
    assert isinstance(await h.pipeline(request), Retry)
    assert calls == [1]
    assert h.sender.sent == []
    assert h.audit.records == []
    h.audit.record = record  # type: ignore[method-assign]
    assert await h.pipeline(request) == Ack()
    assert calls == [1]
    [sent] = h.sender.sent
    assert sent.envelope.status is ReplyStatus.NOT_FOUND
    assert _types(h.audit.records) == [AuditEventType.DELIVERED, AuditEventType.RESPONDED]
    assert h.audit.records[-1].reason == "replayed from the reply store"


async def test_delivered_is_acknowledged_before_the_reply_leaves() -> None:
    """The registry is asked, and its reply kept, while DELIVERED is being written, but
    the reply waits for DELIVERED's acknowledgement: nothing leaves before its audit event
    is in the log."""
    asked = asyncio.Event()
    release = asyncio.Event()

    async def handler(_r: Mapping[str, Any], _c: HandlerContext) -> Answer:
        asked.set()
        return NotFound()

    h = harness(handler)
    record = h.audit.record

    async def slow(event: AuditRecord) -> None:
        if event.type is AuditEventType.DELIVERED:
            await release.wait()
        await record(event)

    h.audit.record = slow  # type: ignore[method-assign]
    envelope, request = request_record()
    handling = asyncio.ensure_future(h.pipeline(request))
    async with asyncio.timeout(5):
        await asked.wait()
    for _ in range(50):  # let the pipeline run on as far as it can (no timed wait)
        await asyncio.sleep(0)
    assert not handling.done()
    assert h.sender.sent == []  # the registry answered; DELIVERED is not acknowledged
    assert envelope.exchange_id in h.store.replies  # kept meanwhile
    release.set()
    assert isinstance(await handling, Ack)
    assert len(h.sender.sent) == 1
    assert [e.type for e in h.audit.records] == [
        AuditEventType.DELIVERED,
        AuditEventType.RESPONDED,
    ]


async def test_request_value_helper_round_trips() -> None:
    """The builder's value decodes with the 1.1 request schema (guards the fakes)."""
    assert (
        CODEC.decode(request_value("X1"), schema_id("1.1", "request")).datum["document_number"]
        == "X1"
    )


async def test_a_reply_store_outage_does_not_hold_the_request_back() -> None:
    """The reply store down (its read and its write fail): the request is still answered
    and acknowledged at once, never retried or dead-lettered for our store's sake; once
    the store is back, a redelivery is answered (and kept) like a new request."""
    calls: list[str] = []
    handler = _found_counting(calls)
    h = harness(handler)
    _, record = request_record()
    h.store.fail = True
    assert await h.pipeline(record) == Ack()
    [sent] = h.sender.sent
    assert sent.envelope.status is ReplyStatus.OK
    assert h.store.replies == {}
    assert _types(h.audit.records) == [AuditEventType.DELIVERED, AuditEventType.RESPONDED]
    h.store.fail = False
    assert await h.pipeline(record) == Ack()
    assert len(calls) == 2  # nothing was stored to replay from
    assert len(h.store.replies) == 1
