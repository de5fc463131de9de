"""Signed audit events: who may write which step, and the digest agreement check."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bus.audit.digest_agreement import DigestAgreement
from bus.audit.event import EventRow
from bus.audit.event_signing import (
    MAX_FIELD_CHARS,
    EventRejection,
    as_requested,
    check_event,
    event_signature,
    sign_event,
)
from bus.audit.trail import AuditEventType, exchange_event_id
from bus.ids import uuid7
from bus.member_keys import MemberKey, MemberKeys
from bus.record_signing import RecordSigner, public_key_text

GATEWAY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
AEAT = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
TGSS = Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34)))
SIGNERS = {
    "interop.gateway": RecordSigner("gw-1", GATEWAY),
    "es.aeat": RecordSigner("aeat-1", AEAT),
    "es.tgss": RecordSigner("tgss-1", TGSS),
}
KEYS = MemberKeys(
    [
        (member, [role], [MemberKey(key_id=s.key_id, public_key=public_key_text(s.public_key))])
        for (member, s), role in zip(
            SIGNERS.items(), ("gateway", "provider", "provider"), strict=True
        )
    ]
)


def _row(**overrides: object) -> EventRow:
    row = EventRow(
        event_id="0190a0c4-0000-7000-8000-000000000001",
        type="COMPLETED",
        time=datetime(2026, 12, 5, 10, 0, tzinfo=UTC),
        actor="interop.gateway",
        exchange_id="0190a0c4-0000-7000-8000-0000000000aa",
        requester="es.ayto-alcala",
        provider="es.aeat",
        service="tax.income-band",
        outcome="OK",
        response_digest="r" * 64,
    )
    row = dataclasses.replace(row, **overrides)  # type: ignore[arg-type]
    if "event_id" in overrides or row.exchange_id is None:
        return row
    if row.type not in AuditEventType.__members__:
        return row
    # An exchange step's id is its actor's, exchange's and type's (WRONG_EVENT_ID else).
    step = AuditEventType(row.type)
    return dataclasses.replace(row, event_id=exchange_event_id(row.actor, row.exchange_id, step))


def _check(row: EventRow, signer: str | None = None) -> EventRejection | None:
    headers = [] if signer is None else sign_event(SIGNERS[signer], row)
    problem = check_event(row, event_signature(headers), KEYS)
    return None if problem is None else problem.reason


def test_an_event_signed_by_its_actor_passes() -> None:
    """The gateway's COMPLETED and the provider's RESPONDED for its exchange are admitted."""
    assert _check(_row(), "interop.gateway") is None
    responded = _row(type="RESPONDED", actor="es.aeat")
    assert _check(responded, "es.aeat") is None


def test_a_real_event_with_a_changed_field_fails_its_signature() -> None:
    """The issue's forgery: a copy of a COMPLETED event with another requester."""
    row = _row()
    headers = sign_event(SIGNERS["interop.gateway"], row)
    forged = dataclasses.replace(row, requester="es.aepd")
    problem = check_event(forged, event_signature(headers), KEYS)
    assert problem is not None
    assert problem.reason is EventRejection.BAD_SIGNATURE


def test_unsigned_events_are_refused() -> None:
    """No key id and signature: refused whatever the event says."""
    assert _check(_row()) is EventRejection.UNSIGNED


def test_nobody_signs_in_another_members_name() -> None:
    """A provider signing an event whose actor is the gateway is not the actor."""
    assert _check(_row(), "es.aeat") is EventRejection.NOT_THE_ACTOR


@pytest.mark.parametrize(
    ("row", "signer"),
    [
        (_row(actor="es.aeat"), "es.aeat"),  # only gateways write COMPLETED
        (_row(type="REQUESTED", actor="es.tgss"), "es.tgss"),
        (_row(type="RESPONDED", actor="es.tgss"), "es.tgss"),  # not its exchange
        (_row(type="CONSENT_REVOKED", actor="es.aeat", exchange_id=None), "es.aeat"),
        (_row(type="NO_SUCH_TYPE"), "interop.gateway"),
    ],
)
def test_actors_write_only_their_own_steps(row: EventRow, signer: str) -> None:
    """Roles decide the event types; a provider writes RESPONDED only for its exchanges."""
    assert _check(row, signer) is EventRejection.ACTOR_NOT_ALLOWED


def test_an_oversized_field_is_refused_before_any_signature_check() -> None:
    """The issue's 900 KB field: refused as oversized even when properly signed."""
    row = _row(reason="x" * (MAX_FIELD_CHARS + 1))
    assert _check(row, "interop.gateway") is EventRejection.OVERSIZED
    assert _check(_row(reason="x" * MAX_FIELD_CHARS), "interop.gateway") is None


def test_an_unknown_key_is_refused() -> None:
    """A key nobody listed in the members file."""
    stranger = RecordSigner("stranger-1", Ed25519PrivateKey.generate())
    row = _row()
    problem = check_event(row, event_signature(sign_event(stranger, row)), KEYS)
    assert problem is not None
    assert problem.reason is EventRejection.UNKNOWN_KEY


def test_event_signature_needs_exactly_one_key_id_and_signature() -> None:
    """Duplicated or missing headers are no signature at all."""
    headers = sign_event(SIGNERS["interop.gateway"], _row())
    assert event_signature(headers) is not None
    assert event_signature([*headers, headers[-1]]) is None
    assert event_signature(headers[:-1]) is None


def test_digest_agreement_names_exchanges_where_provider_and_gateway_differ() -> None:
    """RESPONDED vs REQUESTED/COMPLETED digests: a difference is a finding."""
    agreement = DigestAgreement()
    for exchange, answered in (("ex-ok", "r" * 64), ("ex-bad", "f" * 64)):
        agreement.add(_row(type="REQUESTED", exchange_id=exchange, request_digest="q" * 64))
        agreement.add(
            _row(
                type="RESPONDED",
                actor="es.aeat",
                exchange_id=exchange,
                request_digest="q" * 64,
                response_digest=answered,
            )
        )
        agreement.add(_row(exchange_id=exchange, response_digest="r" * 64))
    assert agreement.disagreeing() == ["ex-bad"]


def test_digest_agreement_is_silent_when_every_exchange_agrees() -> None:
    """No RESPONDED or matching digests: no finding."""
    agreement = DigestAgreement()
    agreement.add(_row(type="REQUESTED", request_digest="q" * 64))
    agreement.add(_row(type="RESPONDED", actor="es.aeat", request_digest="q" * 64))
    assert not agreement.add(_row())
    assert agreement.disagreeing() == []


def test_a_bounded_agreement_forgets_the_oldest_exchanges() -> None:
    """The indexer's watch keeps memory bounded: old exchanges are dropped first."""
    agreement = DigestAgreement(max_exchanges=2)
    for exchange in ("ex-1", "ex-2", "ex-3"):
        agreement.add(_row(exchange_id=exchange, response_digest="r" * 64))
    late = _row(type="RESPONDED", actor="es.aeat", exchange_id="ex-1", response_digest="f" * 64)
    assert not agreement.add(late)  # ex-1's COMPLETED was forgotten: nothing to compare
    newer = _row(type="RESPONDED", actor="es.aeat", exchange_id="ex-3", response_digest="f" * 64)
    assert agreement.add(newer)
    assert agreement.disagreeing() == ["ex-3"]


def test_no_event_may_take_the_id_of_another_step() -> None:
    """Exchange-step ids are predictable (UUIDv5 of actor, exchange and type). A provider
    writing its DELIVERED, or an UNVERIFIED, under the id of the gateway's coming
    COMPLETED would have the real one skipped as a retry: both are refused."""
    exchange = "0190a0c4-0000-7000-8000-0000000000aa"
    completed_id = exchange_event_id("interop.gateway", exchange, AuditEventType.COMPLETED)
    squatting = _row(type="DELIVERED", actor="es.aeat", event_id=completed_id)
    assert _check(squatting, "es.aeat") is EventRejection.WRONG_EVENT_ID
    unverified = _row(
        type="UNVERIFIED",
        actor="es.aeat",
        exchange_id=None,
        requester=None,
        provider=None,
        service=None,
        response_digest=None,
        event_id=completed_id,
    )
    assert _check(unverified, "es.aeat") is EventRejection.WRONG_EVENT_ID
    assert _check(dataclasses.replace(unverified, event_id=str(uuid7())), "es.aeat") is None
    own = _row(type="DELIVERED", actor="es.aeat")  # its own step under its own id
    assert _check(own, "es.aeat") is None


def test_an_unverified_event_names_nothing_the_refused_record_claimed() -> None:
    """Where the record was read and why, nothing more: a provider's UNVERIFIED filed under
    another provider's exchange (with a requester to blame) is refused."""
    bare = _row(
        type="UNVERIFIED",
        actor="es.aeat",
        event_id=str(uuid7()),
        exchange_id=None,
        requester=None,
        provider=None,
        service=None,
        response_digest=None,
        outcome="UNVERIFIED",
        reason="BAD_SIGNATURE at interop.rep.dev/1/2",
    )
    assert _check(bare, "es.aeat") is None
    filed = dataclasses.replace(bare, exchange_id="0190a0c4-0000-7000-8000-0000000000aa")
    assert _check(filed, "es.aeat") is EventRejection.ACTOR_NOT_ALLOWED
    blaming = dataclasses.replace(bare, requester="es.ayto-alcala")
    assert _check(blaming, "es.aeat") is EventRejection.ACTOR_NOT_ALLOWED


def test_a_provider_step_must_name_a_service_it_provides() -> None:
    """With the catalogue's providers known (the indexer's case), a provider's RESPONDED
    for a service another provider serves is refused, however well signed."""
    providers_of = {"tax.income-band": frozenset({"es.aeat"}), "register.x": frozenset({"es.ine"})}
    own = _row(type="RESPONDED", actor="es.aeat")
    foreign = _row(type="RESPONDED", actor="es.aeat", service="register.x")
    for row, expected in ((own, None), (foreign, EventRejection.ACTOR_NOT_ALLOWED)):
        headers = sign_event(SIGNERS["es.aeat"], row)
        problem = check_event(row, event_signature(headers), KEYS, providers_of=providers_of)
        assert (None if problem is None else problem.reason) is expected
    # Offline (``interop audit verify`` without a catalogue) the rule is not applied.
    assert _check(foreign, "es.aeat") is None


def test_a_provider_step_must_name_what_its_exchange_was_requested_for() -> None:
    """A DELIVERED, RESPONDED or REJECTED repeats what the signed request said, hence its
    REQUESTED (a record whose signature fails is audited UNVERIFIED instead): a step naming
    another requester, subject or purpose (an access an auditor's search would show), or
    an exchange the log has no REQUESTED for, is refused; the field is named, never its
    value. A gateway's own steps are not compared."""
    requested = _row(
        type="REQUESTED",
        outcome="ALLOWED",
        response_digest=None,
        subject_ref="subject-a",
        purpose="social-benefits",
        consent_ref=None,
    )
    step = _row(
        type="RESPONDED", actor="es.aeat", subject_ref="subject-a", purpose="social-benefits"
    )
    assert as_requested(step, requested) is None
    # An empty text and no value are the same (the gateway stores "" for no subject).
    assert as_requested(dataclasses.replace(step, procedure=""), requested) is None
    lies = {
        "requester": "es.ayto-madrid",
        "subject_ref": "subject-b",
        "purpose": "inspection",
        "service": "tax.other",
        "procedure": "P-1",
        "legal_basis": "law-x",
        "consent_ref": "consent-9",
    }
    for name, value in lies.items():
        problem = as_requested(dataclasses.replace(step, **{name: value}), requested)
        assert problem is not None, name
        assert problem.reason is EventRejection.NOT_AS_REQUESTED
        assert name in problem.text
        assert str(value) not in problem.text
    for kind in ("DELIVERED", "RESPONDED", "REJECTED"):
        missing = as_requested(dataclasses.replace(step, type=kind), None)
        assert missing is not None
        assert missing.reason is EventRejection.NOT_AS_REQUESTED
        other = as_requested(dataclasses.replace(step, type=kind, requester="x"), requested)
        assert other is not None
    for kind in ("COMPLETED", "FAILED", "REQUESTED"):
        other = dataclasses.replace(step, type=kind, requester="es.ayto-madrid")
        assert as_requested(other, requested) is None
        assert as_requested(other, None) is None


def test_a_provider_step_may_not_be_dated_before_its_exchanges_requested() -> None:
    """The signature is checked against the key's window at the step's own ``time``,
    which the provider writes: a key retired before the exchange began could otherwise
    sign a RESPONDED dated back into its window. Five minutes of clock skew pass."""
    requested = _row(type="REQUESTED", outcome="ALLOWED", response_digest=None)
    step = _row(type="RESPONDED", actor="es.aeat")
    skewed = dataclasses.replace(step, time=requested.time - timedelta(minutes=4))
    assert as_requested(skewed, requested) is None
    for kind in ("DELIVERED", "RESPONDED", "REJECTED"):
        backdated = dataclasses.replace(step, type=kind, time=requested.time - timedelta(minutes=6))
        problem = as_requested(backdated, requested)
        assert problem is not None, kind
        assert problem.reason is EventRejection.NOT_AS_REQUESTED
        assert "dated before its exchange's REQUESTED" in problem.text
