"""Signed audit events: who may write which step, checked by the indexer and offline.

An event is signed by its actor's member key with the one record-signing scheme
(``bus.record_signing``) over its *canonical form*: the headers ``content-type`` and
``interop_key_id``, and as value the event's leaf entry (``bus.audit.event.leaf_entry``,
the canonical JSON the Merkle log hashes). So anyone holding the event as the audit API
serves it, its ``key_id`` and ``signature``, and the members' public keys can check who
wrote it, offline, without the Avro bytes.

``check_event`` is what the indexer (before the Merkle tree) and ``interop audit verify``
(after it) both run; the first failure wins:

1. ``OVERSIZED``: a field longer than ``MAX_FIELD_CHARS`` (a bloated event is refused
   before any cryptography is spent on it);
2. the signature, with a key valid at the event's time (``UNSIGNED``, ``MALFORMED``,
   ``UNKNOWN_KEY``, ``BAD_SIGNATURE``, ``KEY_NOT_VALID``);
3. ``NOT_THE_ACTOR``: the key is not the ``actor``'s (nobody writes in another's name),
   with one exception: a gateway records the consent and opposition changes members ask
   for at its door (a citizen portal, a consumer with evidence), so it signs those with
   the asking member as actor;
4. ``ACTOR_NOT_ALLOWED``: the actor's roles do not allow this event type: exchange steps
   of the gateway (REQUESTED, DENIED, COMPLETED, FAILED, TIMED_OUT) only by a gateway;
   the provider's steps (DELIVERED, RESPONDED, REJECTED) only by the exchange's provider
   itself, and (where the catalogue is known, as in the indexer) for a service it
   provides; consent and opposition changes by a gateway or a citizen portal; UNVERIFIED
   by a gateway or a provider (whoever refused the record), naming no exchange, member,
   service or subject;
5. ``WRONG_EVENT_ID``: an exchange step's id is not the one ``exchange_event_id`` gives
   its actor, exchange and type, or another event carries such an id (a UUIDv5). The
   indexer skips an id it has indexed (a writer's retry); these ids are predictable, so
   a provider could otherwise write one of its own events under the id of the gateway's
   coming COMPLETED and have the real one skipped as a retry.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from bus.audit.event import EVENT_FIELDS, EventRow, leaf_entry
from bus.audit.trail import AuditEventType, exchange_event_id
from bus.envelope_headers import CONTENT_TYPE_AVRO, KEY_ID_HEADER, SIGNATURE_HEADER
from bus.member_keys import MemberKeys, SignedBy
from bus.record_signing import RecordSignatureError, RecordSigner
from bus.signed_time import retired_key_problem, step_time_problem

__all__ = [
    "MAX_FIELD_CHARS",
    "EventCheck",
    "EventRejection",
    "EventSignature",
    "as_requested",
    "check_event",
    "event_signature",
    "is_step_after_the_request",
    "request_fingerprint",
    "sign_event",
]

MAX_FIELD_CHARS: Final = 1024
"""No field of a genuine event comes near this (ids, codes, digests, short reasons)."""

_CONTENT_TYPE: Final = ("content-type", CONTENT_TYPE_AVRO.encode())

_GATEWAY: Final = frozenset({"gateway"})
_PROVIDER: Final = frozenset({"provider"})
_ALLOWED_ROLES: Final[Mapping[str, frozenset[str]]] = {
    "REQUESTED": _GATEWAY,
    "DENIED": _GATEWAY,
    "COMPLETED": _GATEWAY,
    "FAILED": _GATEWAY,
    "TIMED_OUT": _GATEWAY,
    "DELIVERED": _PROVIDER,
    "RESPONDED": _PROVIDER,
    "REJECTED": _PROVIDER,
    "CONSENT_GRANTED": _GATEWAY | {"citizen-portal"},
    "CONSENT_REVOKED": _GATEWAY | {"citizen-portal"},
    "OPPOSITION_REGISTERED": _GATEWAY | {"citizen-portal"},
    "OPPOSITION_REVOKED": _GATEWAY | {"citizen-portal"},
    "UNVERIFIED": _GATEWAY | _PROVIDER,
}
_CONSENT_CHANGES: Final = frozenset(
    {"CONSENT_GRANTED", "CONSENT_REVOKED", "OPPOSITION_REGISTERED", "OPPOSITION_REVOKED"}
)
# Who may ask a gateway to record a consent change (gateway.consent.registry).
_CONSENT_ASKERS: Final = frozenset({"citizen-portal", "consumer"})
# A provider's steps are about its own exchanges only: the event must name it as provider.
_OWN_EXCHANGE_ONLY: Final = frozenset({"DELIVERED", "RESPONDED", "REJECTED"})
_EXCHANGE_STEPS: Final = frozenset(
    {"REQUESTED", "COMPLETED", "FAILED", "TIMED_OUT", "DELIVERED", "RESPONDED", "REJECTED"}
)


class EventRejection(StrEnum):
    """Why an event is quarantined (stable: stored with it and sent to its dead letter)."""

    OVERSIZED = "OVERSIZED"
    UNSIGNED = "UNSIGNED"
    MALFORMED = "MALFORMED"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    KEY_NOT_VALID = "KEY_NOT_VALID"
    NOT_THE_ACTOR = "NOT_THE_ACTOR"
    ACTOR_NOT_ALLOWED = "ACTOR_NOT_ALLOWED"
    WRONG_EVENT_ID = "WRONG_EVENT_ID"
    NOT_AS_REQUESTED = "NOT_AS_REQUESTED"


@dataclass(frozen=True, slots=True)
class EventSignature:
    """An event's key id and signature (base64url), as its record headers carry them."""

    key_id: str
    signature: str


@dataclass(frozen=True, slots=True)
class EventCheck:
    """A refused event: the reason and a detail with no personal data."""

    reason: EventRejection
    detail: str

    @property
    def text(self) -> str:
        return f"{self.reason.value}: {self.detail}"


def sign_event(signer: RecordSigner, row: EventRow) -> list[tuple[str, bytes]]:
    """The record headers of ``row``: content type, key id and signature."""
    return signer.sign_headers([_CONTENT_TYPE], leaf_entry(row))


def event_signature(headers: Sequence[tuple[str, bytes | None]]) -> EventSignature | None:
    """The key id and signature an audit record carries (one of each), else None."""
    found: dict[str, list[bytes | None]] = {}
    for name, raw in headers:
        if name in (KEY_ID_HEADER, SIGNATURE_HEADER):
            found.setdefault(name, []).append(raw)
    key_ids, signatures = found.get(KEY_ID_HEADER, []), found.get(SIGNATURE_HEADER, [])
    if len(key_ids) != 1 or len(signatures) != 1 or not key_ids[0] or not signatures[0]:
        return None
    try:
        return EventSignature(key_ids[0].decode("ascii"), signatures[0].decode("ascii"))
    except UnicodeDecodeError:
        return None


def check_event(
    row: EventRow,
    signature: EventSignature | None,
    keys: MemberKeys,
    *,
    entry: bytes | None = None,
    providers_of: Mapping[str, frozenset[str]] | None = None,
    appended: datetime | None = None,
) -> EventCheck | None:
    """None when ``row`` is signed by its actor, who may write its type; else why not.

    ``appended``: when the broker appended the record (a LogAppendTime topic), if known:
    the key must not have been retired long before it (``bus.signed_time``). The time an
    event states is its signer's to choose.

    ``entry``: ``leaf_entry(row)`` when the caller has it already (the indexer hashes it
    into the tree too), so the canonical JSON is built once per event.
    ``providers_of``: each service's providers (the catalogue's), when the caller knows
    them: a provider's step for a service it does not provide is then refused.
    """
    for name in EVENT_FIELDS:
        value = getattr(row, name)
        if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
            return EventCheck(
                EventRejection.OVERSIZED, f"field {name} is longer than {MAX_FIELD_CHARS}"
            )
    if signature is None:
        return EventCheck(EventRejection.UNSIGNED, "the event carries no key id and signature")
    signer = _signer(row, signature, keys, entry, appended)
    if isinstance(signer, EventCheck):
        return signer
    if signer.member == row.actor:
        return _actor_may_write(row, keys.roles(row.actor), providers_of)
    recorded_for = (
        row.type in _CONSENT_CHANGES
        and "gateway" in keys.roles(signer.member)
        and bool(_CONSENT_ASKERS & keys.roles(row.actor))
    )
    if recorded_for:
        return None
    return EventCheck(EventRejection.NOT_THE_ACTOR, f"signed by {signer.member}, not by the actor")


def _signer(
    row: EventRow,
    signature: EventSignature,
    keys: MemberKeys,
    entry: bytes | None,
    appended: datetime | None,
) -> SignedBy | EventCheck:
    """Who signed ``row`` with a key valid at its time (and, when the broker's append
    time is known, not retired long before it)."""
    headers = [
        _CONTENT_TYPE,
        (KEY_ID_HEADER, signature.key_id.encode("ascii")),
        (SIGNATURE_HEADER, signature.signature.encode("ascii")),
    ]
    try:
        signer = keys.verify(headers, entry or leaf_entry(row), at=row.time)
    except RecordSignatureError as exc:
        return EventCheck(EventRejection(exc.reason.value), exc.detail)
    if appended is None:
        return signer
    retired = retired_key_problem(signer.key.not_after, appended)
    if retired is not None:
        return EventCheck(EventRejection.KEY_NOT_VALID, f"key {signature.key_id}: {retired}")
    return signer


_AFTER_THE_REQUEST: Final = frozenset({"DELIVERED", "RESPONDED", "REJECTED"})
"""A provider's steps, each taken only once a request passed its signature check (a record
that fails it is audited UNVERIFIED, naming nothing it claims): the gateway wrote (and had
acknowledged) the exchange's REQUESTED before the request left, and the audit topic is
one total order, so the REQUESTED is always indexed before them."""
_AS_REQUESTED: Final = (
    "requester",
    "provider",
    "service",
    "purpose",
    "procedure",
    "legal_basis",
    "consent_ref",
    "subject_ref",
)
"""What a provider's step repeats from the signed request, hence from its REQUESTED."""


def request_fingerprint(row: EventRow) -> bytes:
    """16 bytes that stand for what ``as_requested`` compares: a REQUESTED's fingerprint
    equals its steps' (``interop audit verify`` keeps one per exchange of the whole log,
    not the events)."""
    fields = [getattr(row, name) or "" for name in _AS_REQUESTED]
    return hashlib.blake2b(json.dumps(fields).encode(), digest_size=16).digest()


def is_step_after_the_request(row: EventRow) -> bool:
    """Whether ``row`` is a provider's DELIVERED, RESPONDED or REJECTED (``as_requested``'s
    steps)."""
    return row.type in _AFTER_THE_REQUEST


def as_requested(row: EventRow, requested: EventRow | None) -> EventCheck | None:
    """None unless ``row`` is a provider's DELIVERED, RESPONDED or REJECTED that names what
    its exchange's REQUESTED (``requested``; None if the log has none) does not.

    A provider's signed step is checked against its key and its own service by
    ``check_event``; this is the rest: its requester, subject and purpose are the ones the
    gateway recorded. Without it a provider could write, under its own name, an access by
    any town hall to any citizen's record, and an auditor searching the log by that
    citizen would find it.
    """
    if row.type not in _AFTER_THE_REQUEST:
        return None
    if requested is None:
        return EventCheck(
            EventRejection.NOT_AS_REQUESTED,
            f"a {row.type} step for an exchange the log has no REQUESTED for",
        )
    for name in _AS_REQUESTED:
        if (getattr(row, name) or None) != (getattr(requested, name) or None):
            return EventCheck(
                EventRejection.NOT_AS_REQUESTED,
                f"the {row.type} step's {name} is not its exchange's REQUESTED one",
            )
    # The signature was checked against the key's window at the step's own time, which
    # the provider wrote: dated before its REQUESTED, a key retired earlier would pass.
    early = step_time_problem(row.time, requested.time)
    if early is not None:
        return EventCheck(EventRejection.NOT_AS_REQUESTED, f"{row.type}: {early}")
    return None


def _actor_may_write(
    row: EventRow, roles: frozenset[str], providers_of: Mapping[str, frozenset[str]] | None
) -> EventCheck | None:
    if not _ALLOWED_ROLES.get(row.type, frozenset()) & roles:
        return EventCheck(
            EventRejection.ACTOR_NOT_ALLOWED, f"{row.actor} may not write {row.type} events"
        )
    if row.type in _OWN_EXCHANGE_ONLY and row.provider != row.actor:
        return EventCheck(
            EventRejection.ACTOR_NOT_ALLOWED,
            f"{row.actor} may write {row.type} only for its own exchanges",
        )
    if (
        row.type in _OWN_EXCHANGE_ONLY
        and providers_of is not None
        and row.actor not in providers_of.get(row.service or "", frozenset())
    ):
        # Signed and its own, yet about a service it does not serve: a RESPONDED for a
        # made-up exchange of another provider's service would put that in the log.
        return EventCheck(
            EventRejection.ACTOR_NOT_ALLOWED,
            f"{row.actor} does not provide the service its {row.type} names",
        )
    if row.type == "UNVERIFIED":
        # It records where a record that failed verification was read, and nothing that
        # record claimed: named fields would file it under someone's exchange or access
        # list (a provider wrote one "by es.ayto-alcala" into another's exchange).
        claimed = [name for name in _UNVERIFIED_SILENT if getattr(row, name) is not None]
        if claimed:
            return EventCheck(
                EventRejection.ACTOR_NOT_ALLOWED,
                f"an UNVERIFIED event names no exchange, member or subject ({claimed[0]})",
            )
    return _id_check(row)


def _id_check(row: EventRow) -> EventCheck | None:
    step = row.type in _EXCHANGE_STEPS and row.exchange_id is not None
    if step:
        expected = exchange_event_id(row.actor, row.exchange_id or "", AuditEventType(row.type))
        if row.event_id != expected:
            return EventCheck(
                EventRejection.WRONG_EVENT_ID,
                f"a {row.type} step's id is derived from its actor, exchange and type",
            )
        return None
    try:
        reserved = uuid.UUID(row.event_id).version == _STEP_ID_VERSION
    except ValueError:
        reserved = False
    if reserved:
        return EventCheck(
            EventRejection.WRONG_EVENT_ID, "UUIDv5 ids are reserved for exchange steps"
        )
    return None


_STEP_ID_VERSION: Final = 5
_UNVERIFIED_SILENT: Final = tuple(
    name
    for name in EVENT_FIELDS
    if name not in {"event_id", "type", "time", "actor", "outcome", "reason"}
)
