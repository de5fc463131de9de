"""The consent registry's storage: one interface, SQLite by default, PostgreSQL when shared.

The registry lives in the same database as the exchanges (same store URL), in its own
tables and with its own row (``consent``) in the per-component ``schema_version`` table.
Lists (services, purposes, requesters) are stored as JSON arrays: they are read whole,
never queried into. Rows are never deleted; revocation is an update of a NULL column,
guarded by ``revoked_at IS NULL`` so the first revocation's time and author stay.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final, Protocol

from gateway.consent.records import Consent, EvidenceChannel, Opposition

__all__ = [
    "COMPONENT",
    "CONSENT_COLUMNS",
    "OPPOSITION_COLUMNS",
    "ConsentStore",
    "consent_from_row",
    "consent_values",
    "opposition_from_row",
    "opposition_values",
]

COMPONENT: Final = "consent"
CONSENT_COLUMNS: Final = (
    "id",
    "subject_ref",
    "grantee",
    "services",
    "purposes",
    "valid_from",
    "valid_until",
    "evidence_channel",
    "evidence_digest",
    "recorded_by",
    "created_at",
    "revoked_at",
    "revoked_by",
)
OPPOSITION_COLUMNS: Final = (
    "id",
    "subject_ref",
    "services",
    "requesters",
    "recorded_by",
    "created_at",
    "revoked_at",
    "revoked_by",
)


class ConsentStore(Protocol):
    """Consents and oppositions; every method raises ``ServiceUnavailableError`` when the
    database fails, and nothing else on purpose."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...
    async def add_consent(self, consent: Consent) -> None: ...
    async def add_opposition(self, opposition: Opposition) -> None: ...
    async def get_consent(self, consent_id: str) -> Consent | None: ...
    async def get_opposition(self, opposition_id: str) -> Opposition | None: ...
    async def consents_of(self, subject_ref: str) -> list[Consent]: ...
    async def oppositions_of(self, subject_ref: str) -> list[Opposition]: ...
    async def revoke_consent(self, consent_id: str, *, at: datetime, by: str) -> Consent | None:
        """Revoke (if not yet) and return the consent as stored; None if unknown."""
        ...

    async def revoke_opposition(
        self, opposition_id: str, *, at: datetime, by: str
    ) -> Opposition | None: ...


TimeIn = Callable[[datetime], Any]
TimeOut = Callable[[Any], datetime]


def consent_values(consent: Consent, time_in: TimeIn) -> list[Any]:
    """Column values of ``consent``, in ``CONSENT_COLUMNS`` order."""
    return [
        consent.id,
        consent.subject_ref,
        consent.grantee,
        json.dumps(list(consent.services)),
        json.dumps(list(consent.purposes)),
        time_in(consent.valid_from),
        None if consent.valid_until is None else time_in(consent.valid_until),
        consent.evidence_channel.value,
        consent.evidence_digest,
        consent.recorded_by,
        time_in(consent.created_at),
        None if consent.revoked_at is None else time_in(consent.revoked_at),
        consent.revoked_by,
    ]


def opposition_values(opposition: Opposition, time_in: TimeIn) -> list[Any]:
    """Column values of ``opposition``, in ``OPPOSITION_COLUMNS`` order."""
    return [
        opposition.id,
        opposition.subject_ref,
        json.dumps(list(opposition.services)),
        json.dumps(list(opposition.requesters)),
        opposition.recorded_by,
        time_in(opposition.created_at),
        None if opposition.revoked_at is None else time_in(opposition.revoked_at),
        opposition.revoked_by,
    ]


def _opt(value: Any, time_out: TimeOut) -> datetime | None:
    return None if value is None else time_out(value)


def consent_from_row(row: Mapping[str, Any], time_out: TimeOut) -> Consent:
    return Consent(
        id=row["id"],
        subject_ref=row["subject_ref"],
        grantee=row["grantee"],
        services=tuple(json.loads(row["services"])),
        purposes=tuple(json.loads(row["purposes"])),
        valid_from=time_out(row["valid_from"]),
        valid_until=_opt(row["valid_until"], time_out),
        evidence_channel=EvidenceChannel(row["evidence_channel"]),
        evidence_digest=row["evidence_digest"],
        recorded_by=row["recorded_by"],
        created_at=time_out(row["created_at"]),
        revoked_at=_opt(row["revoked_at"], time_out),
        revoked_by=row["revoked_by"],
    )


def opposition_from_row(row: Mapping[str, Any], time_out: TimeOut) -> Opposition:
    return Opposition(
        id=row["id"],
        subject_ref=row["subject_ref"],
        services=tuple(json.loads(row["services"])),
        requesters=tuple(json.loads(row["requesters"])),
        recorded_by=row["recorded_by"],
        created_at=time_out(row["created_at"]),
        revoked_at=_opt(row["revoked_at"], time_out),
        revoked_by=row["revoked_by"],
    )
