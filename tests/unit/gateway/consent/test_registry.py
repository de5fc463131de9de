"""The registry's rules with an in-memory store: audit ordering, roles, scope checks."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest

from bus.audit.errors import AuditWriteError
from bus.audit.trail import AuditEventType, AuditRecord, MemoryAuditTrail
from contracts import DEFAULT_CATALOGUE_DIR, load_catalogue
from gateway.consent import (
    Consent,
    ConsentGrant,
    ConsentRegistry,
    EvidenceChannel,
    Opposition,
    OppositionGrant,
)
from gateway.errors import (
    ForbiddenError,
    InvalidRequestError,
    ServiceUnavailableError,
    UnknownConsentError,
)
from gateway.members import AccessRight, Member, Role

NOW = datetime(2026, 5, 9, 10, 0, tzinfo=UTC)
CATALOGUE = load_catalogue(DEFAULT_CATALOGUE_DIR)
INCOME = "tax.income-band"
DIGEST = "sha256:" + "aa" * 32
PORTAL = Member(id="es.portal", name="Portal", roles=frozenset({Role.CITIZEN_PORTAL}), rights=())
TOWN = Member(
    id="es.town",
    name="Town",
    roles=frozenset({Role.CONSUMER}),
    rights=(AccessRight(service=INCOME, purposes=("social-benefits",)),),
)
AUDITOR = Member(id="es.dpo", name="DPO", roles=frozenset({Role.AUDITOR}), rights=())


@dataclass
class MemoryConsentStore:
    """An in-memory ``ConsentStore`` for unit tests."""

    consents: dict[str, Consent] = field(default_factory=dict)
    oppositions: dict[str, Opposition] = field(default_factory=dict)

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...

    async def add_consent(self, consent: Consent) -> None:
        self.consents[consent.id] = consent

    async def add_opposition(self, opposition: Opposition) -> None:
        self.oppositions[opposition.id] = opposition

    async def get_consent(self, consent_id: str) -> Consent | None:
        return self.consents.get(consent_id)

    async def get_opposition(self, opposition_id: str) -> Opposition | None:
        return self.oppositions.get(opposition_id)

    async def consents_of(self, subject_ref: str) -> list[Consent]:
        return [c for c in self.consents.values() if c.subject_ref == subject_ref]

    async def oppositions_of(self, subject_ref: str) -> list[Opposition]:
        return [o for o in self.oppositions.values() if o.subject_ref == subject_ref]

    async def revoke_consent(self, consent_id: str, *, at: datetime, by: str) -> Consent | None:
        found = self.consents.get(consent_id)
        if found is not None and found.revoked_at is None:
            found = self.consents[consent_id] = replace(found, revoked_at=at, revoked_by=by)
        return found

    async def revoke_opposition(
        self, opposition_id: str, *, at: datetime, by: str
    ) -> Opposition | None:
        found = self.oppositions.get(opposition_id)
        if found is not None and found.revoked_at is None:
            found = self.oppositions[opposition_id] = replace(found, revoked_at=at, revoked_by=by)
        return found


class FailingTrail:
    """A trail whose broker never acknowledges."""

    def __init__(self) -> None:
        self.attempts = 0

    async def record(self, event: AuditRecord) -> None:
        self.attempts += 1
        raise AuditWriteError(f"{event.type} event not acknowledged")


def registry(
    store: MemoryConsentStore, trail: MemoryAuditTrail | FailingTrail | None = None
) -> ConsentRegistry:
    return ConsentRegistry(
        store=store,
        trail=trail if trail is not None else MemoryAuditTrail(),
        catalogue=CATALOGUE,
        subject_key=b"k" * 32,
        clock=lambda: NOW,
    )


def grant(**overrides: object) -> ConsentGrant:
    values: dict[str, object] = {
        "subject": "12345678Z",
        "grantee": "es.town",
        "services": (INCOME,),
        "purposes": ("social-benefits",),
        "valid_from": None,
        "valid_until": None,
        "evidence_channel": EvidenceChannel.CITIZEN_PORTAL,
        "evidence_digest": DIGEST,
    }
    values.update(overrides)
    return ConsentGrant(**values)  # type: ignore[arg-type]


async def test_a_grant_is_audited_before_it_is_stored() -> None:
    """The trail refuses: 503 and no consent exists (none can allow without a trace)."""
    store = MemoryConsentStore()
    with pytest.raises(ServiceUnavailableError):
        await registry(store, FailingTrail()).grant(PORTAL, grant())
    assert store.consents == {}


async def test_a_revocation_takes_effect_even_when_the_trail_fails() -> None:
    """The revocation is stored first; the caller gets 503 and may repeat it."""
    store = MemoryConsentStore()
    consent = await registry(store).grant(PORTAL, grant())
    with pytest.raises(ServiceUnavailableError):
        await registry(store, FailingTrail()).revoke_consent(
            PORTAL, consent.id, subject="12345678Z"
        )
    assert store.consents[consent.id].revoked_at == NOW
    trail = MemoryAuditTrail()
    again = await registry(store, trail).revoke_consent(PORTAL, consent.id, subject="12345678Z")
    assert again.revoked_by == "es.portal"
    assert [r.type for r in trail.records] == [AuditEventType.CONSENT_REVOKED]


async def test_changes_are_audited_with_pseudonym_and_actor() -> None:
    """Audit records carry the pseudonym, never the identifier, and who acted."""
    trail = MemoryAuditTrail()
    reg = registry(MemoryConsentStore(), trail)
    consent = await reg.grant(PORTAL, grant())
    opposition = await reg.register_opposition(
        PORTAL,
        OppositionGrant(
            subject="12345678Z", services=("register.residence-certificate",), requesters=()
        ),
    )
    await reg.revoke_opposition(PORTAL, opposition.id, subject="12345678Z")
    kinds = [r.type for r in trail.records]
    assert kinds == [
        AuditEventType.CONSENT_GRANTED,
        AuditEventType.OPPOSITION_REGISTERED,
        AuditEventType.OPPOSITION_REVOKED,
    ]
    assert {r.subject_ref for r in trail.records} == {consent.subject_ref}
    assert all(r.actor == "es.portal" for r in trail.records)
    assert "12345678Z" not in repr(trail.records)
    assert trail.records[0].consent_ref == consent.id


async def test_consumers_record_only_offline_consents_granted_to_themselves() -> None:
    """Paper: fine, granted to the consumer; portal channel, another grantee, a service
    without a right: refused."""
    reg = registry(MemoryConsentStore())
    paper = await reg.grant(TOWN, grant(grantee=None, evidence_channel=EvidenceChannel.PAPER))
    assert (paper.grantee, paper.recorded_by) == ("es.town", "es.town")
    with pytest.raises(InvalidRequestError):
        await reg.grant(TOWN, grant())
    with pytest.raises(ForbiddenError):
        await reg.grant(TOWN, grant(grantee="es.other", evidence_channel=EvidenceChannel.PAPER))
    with pytest.raises(InvalidRequestError) as caught:
        await reg.grant(
            TOWN,
            grant(
                services=("register.residence-certificate",),
                evidence_channel=EvidenceChannel.PAPER,
            ),
        )
    assert caught.value.problems[0].pointer == "/services/0"


async def test_other_roles_are_refused_and_hidden_consents_read_as_unknown() -> None:
    """An auditor may not record; another consumer's consent is 404 to a consumer."""
    store = MemoryConsentStore()
    reg = registry(store)
    with pytest.raises(ForbiddenError):
        await reg.grant(AUDITOR, grant())
    portal_made = await reg.grant(PORTAL, grant(grantee="es.other"))
    with pytest.raises(UnknownConsentError):
        await reg.revoke_consent(TOWN, portal_made.id)
    assert await reg.consents(TOWN, "12345678Z") == []
    assert await reg.consents(PORTAL, "12.345.678-z") == [portal_made]


async def test_a_window_that_never_opens_is_refused() -> None:
    """valid_until must be later than now and than valid_from."""
    with pytest.raises(InvalidRequestError) as caught:
        await registry(MemoryConsentStore()).grant(PORTAL, grant(valid_until=NOW))
    assert caught.value.problems[0].pointer == "/valid_until"
