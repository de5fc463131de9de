"""Consents and oppositions as stored: immutable values, revoked but never erased.

A consent says: the subject (as a pseudonym) lets ``grantee`` (one member, or any member
when None) use ``services`` for ``purposes`` between ``valid_from`` and ``valid_until``;
``evidence_channel`` and ``evidence_digest`` point at the signed form or portal record
that proves it. An opposition says: the subject objects to presumed access to
``services``, by every requester or only by ``requesters``. Revoking sets ``revoked_at``
and ``revoked_by``; the row stays, because auditors must be able to tell which consent
allowed an exchange months later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = ["Consent", "ConsentState", "EvidenceChannel", "Opposition"]


class EvidenceChannel(StrEnum):
    """Where the subject expressed the consent."""

    CITIZEN_PORTAL = "citizen-portal"
    """Given online, in the citizen portal (digest of the portal's signed record)."""
    PAPER = "paper"
    """A signed paper form collected by the consumer (digest of its scan)."""
    IN_PERSON = "in-person"
    """Given at an office counter, recorded by a civil servant (digest of the record)."""
    ELECTRONIC_SIGNATURE = "electronic-signature"
    """A document the subject signed with a qualified electronic signature."""


class ConsentState(StrEnum):
    """A consent's state at one moment."""

    ACTIVE = "active"
    NOT_YET_VALID = "not-yet-valid"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True, kw_only=True)
class Consent:
    """One consent, as the registry holds it."""

    id: str
    subject_ref: str
    grantee: str | None
    services: tuple[str, ...]
    purposes: tuple[str, ...]
    valid_from: datetime
    valid_until: datetime | None
    evidence_channel: EvidenceChannel
    evidence_digest: str
    recorded_by: str
    created_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    def state_at(self, now: datetime) -> ConsentState:
        """Revoked wins over every window: a revocation takes effect at once."""
        if self.revoked_at is not None:
            return ConsentState.REVOKED
        if now < self.valid_from:
            return ConsentState.NOT_YET_VALID
        if self.valid_until is not None and now >= self.valid_until:
            return ConsentState.EXPIRED
        return ConsentState.ACTIVE

    def covers(self, *, requester: str, service: str, purpose: str) -> bool:
        """Whether the scope (grantee, service, purpose) matches, whatever the state."""
        return (
            (self.grantee is None or self.grantee == requester)
            and service in self.services
            and purpose in self.purposes
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Opposition:
    """One opposition to presumed access, as the registry holds it."""

    id: str
    subject_ref: str
    services: tuple[str, ...]
    requesters: tuple[str, ...]
    """Empty: the subject objects to every requester."""
    recorded_by: str
    created_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def covers(self, *, requester: str, service: str) -> bool:
        """Whether it applies to ``requester`` calling ``service``."""
        return service in self.services and (not self.requesters or requester in self.requesters)
