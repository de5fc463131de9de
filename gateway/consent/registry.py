"""The consent registry's rules: who may record, revoke and read what, and the decision.

Who may do what (DESIGN.md, issue #5):

* ``citizen-portal``: every operation, for any subject (the portal authenticates the
  citizen; the gateway trusts the portal as a member).
* ``consumer``: record a consent collected outside the portal (paper, in person, a signed
  document) *granted to itself*, for services it holds a right to, with its evidence
  digest; revoke and read only the consents it recorded or that name it. It cannot touch
  oppositions: objecting is the citizen's act, through the portal.
* anyone else: 403. A consent a consumer may not see answers 404, as if it did not exist.

Every change is audited before it is answered (CONSENT_GRANTED, CONSENT_REVOKED,
OPPOSITION_REGISTERED, OPPOSITION_REVOKED). A grant is audited *before* it is stored, so
no consent can ever allow an exchange without its trace; a revocation is stored first, so
it takes effect even when the audit trail is down (the caller then gets 503 and retries;
a repeated revocation is audited again and changes nothing).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import structlog

from bus import uuid7
from bus.audit import AuditEventType, AuditRecord, AuditTrail, AuditWriteError
from contracts import Catalogue, ConsentMode, Service
from gateway.consent.policy import Decision, decide
from gateway.consent.records import Consent, EvidenceChannel, Opposition
from gateway.consent.store import ConsentStore
from gateway.consent.subjects import subject_pseudonym
from gateway.errors import (
    FieldProblem,
    ForbiddenError,
    InvalidRequestError,
    ServiceUnavailableError,
    UnknownConsentError,
    UnknownOppositionError,
)
from gateway.exchange_states import Clock, utc_now
from gateway.members import Member, Role

__all__ = ["ConsentGrant", "ConsentRegistry", "OppositionGrant"]

_log = structlog.get_logger(__name__)
_CLOCK_SKEW: Final = timedelta(minutes=5)
"""How far in the past a consent's ``valid_from`` may be (clocks of callers differ)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentGrant:
    """A consent as a caller asks to record it (subject still in clear)."""

    subject: str
    grantee: str | None
    services: tuple[str, ...]
    purposes: tuple[str, ...]
    valid_from: datetime | None
    valid_until: datetime | None
    evidence_channel: EvidenceChannel
    evidence_digest: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OppositionGrant:
    """An opposition as a caller asks to record it (subject still in clear)."""

    subject: str
    services: tuple[str, ...]
    requesters: tuple[str, ...]


def _is_portal(member: Member) -> bool:
    return member.has_role(Role.CITIZEN_PORTAL)


class ConsentRegistry:
    """Consents and oppositions of one gateway: recording, revoking, reading, deciding."""

    def __init__(
        self,
        *,
        store: ConsentStore,
        trail: AuditTrail,
        catalogue: Catalogue,
        subject_key: bytes,
        member_ids: Collection[str] | None = None,
        clock: Clock = utc_now,
    ) -> None:
        """``member_ids``: the bus's members; a consent may only be granted to one of them
        (None: any grantee, for tests of the registry alone)."""
        self._member_ids = frozenset(member_ids) if member_ids is not None else None
        self._store = store
        self._trail = trail
        self._catalogue = catalogue
        self._subject_key = subject_key
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    def pseudonym(self, subject: str) -> str:
        return subject_pseudonym(self._subject_key, subject)

    # -- consents ----------------------------------------------------------------------
    async def grant(self, member: Member, grant: ConsentGrant) -> Consent:
        """Record a consent; 400 on a bad scope or window, 403 when the member may not."""
        portal = _is_portal(member)
        if not portal and not member.has_role(Role.CONSUMER):
            raise ForbiddenError(f"{member.id} may not record consents")
        grantee = grant.grantee
        if not portal:
            if grant.evidence_channel is EvidenceChannel.CITIZEN_PORTAL:
                raise InvalidRequestError(
                    "only the citizen portal records consents given in the portal",
                    [FieldProblem("/evidence/channel", "paper, in-person or electronic-signature")],
                )
            if grantee is None:
                grantee = member.id
            elif grantee != member.id:
                raise ForbiddenError(f"{member.id} may record only consents granted to itself")
        self._check_scope(grant.services, grant.purposes, member, portal)
        self._check_explicit(grant.services)
        if grantee is not None and self._member_ids is not None and grantee not in self._member_ids:
            raise InvalidRequestError(
                "the grantee is not a member of the bus",
                [FieldProblem("/grantee", "must be a member id")],
            )
        now = self._clock()
        if grant.valid_from is not None and grant.valid_from < now - _CLOCK_SKEW:
            # A consent takes effect when it is recorded: a backdated one would cover
            # requests made before the subject agreed.
            raise InvalidRequestError(
                "a consent cannot start before it is recorded",
                [FieldProblem("/valid_from", "must be now or later")],
            )
        valid_from = grant.valid_from or now
        if grant.valid_until is not None and grant.valid_until <= max(valid_from, now):
            raise InvalidRequestError(
                "the consent would never be valid",
                [FieldProblem("/valid_until", "must be later than valid_from and now")],
            )
        consent = Consent(
            id=str(uuid7()),
            subject_ref=self.pseudonym(grant.subject),
            grantee=grantee,
            services=grant.services,
            purposes=grant.purposes,
            valid_from=valid_from,
            valid_until=grant.valid_until,
            evidence_channel=grant.evidence_channel,
            evidence_digest=grant.evidence_digest,
            recorded_by=member.id,
            created_at=now,
        )
        await self._audit(
            AuditEventType.CONSENT_GRANTED, member, consent.subject_ref, consent.id,
            reason=f"EVIDENCE_{consent.evidence_channel.name}",
        )  # fmt: skip
        await self._store.add_consent(consent)
        _log.info("consent_granted", consent_id=consent.id, member=member.id)
        return consent

    async def revoke_consent(
        self, member: Member, consent_id: str, *, subject: str | None = None
    ) -> Consent:
        """Revoke (never erase); the next request relying on it is denied.

        A member whose roles can never revoke a consent (an auditor) is told so (403),
        as docs/gateway-auth.md says, before any lookup: the answer reveals nothing.
        The portal acts for one citizen at a time, so it must name that citizen and
        revokes only their consents: an id of anyone else's answers 404, as an unknown
        one does (a portal bug or a tampered id cannot revoke another person's consent)."""
        if not (_is_portal(member) or member.has_role(Role.CONSUMER)):
            raise ForbiddenError(f"{member.id} may not revoke consents")
        owner = self._owner_ref(member, subject)
        consent = await self._store.get_consent(consent_id) if len(consent_id) <= 64 else None
        if (
            consent is None
            or not self._may_see(member, consent)
            or (owner is not None and consent.subject_ref != owner)
        ):
            raise UnknownConsentError(f"no consent {consent_id[:64]!r}")
        revoked = await self._store.revoke_consent(consent_id, at=self._clock(), by=member.id)
        if revoked is None:  # pragma: no cover - rows are never deleted
            raise UnknownConsentError(f"no consent {consent_id[:64]!r}")
        await self._audit(
            AuditEventType.CONSENT_REVOKED, member, revoked.subject_ref, revoked.id,
            reason="REVOKED_BY_PORTAL" if _is_portal(member) else "REVOKED_BY_CONSUMER",
        )  # fmt: skip
        _log.info("consent_revoked", consent_id=revoked.id, member=member.id)
        return revoked

    async def consents(self, member: Member, subject: str) -> list[Consent]:
        """The subject's consents this member may see, oldest first."""
        if not (_is_portal(member) or member.has_role(Role.CONSUMER)):
            raise ForbiddenError(f"{member.id} may not read consents")
        found = await self._store.consents_of(self.pseudonym(subject))
        return [c for c in found if self._may_see(member, c)]

    # -- oppositions -------------------------------------------------------------------
    async def register_opposition(self, member: Member, grant: OppositionGrant) -> Opposition:
        """Record an opposition (citizen portal only) to presumed-consent services."""
        self._require_portal(member, "record oppositions")
        problems = []
        for index, service_id in enumerate(grant.services):
            service = self._catalogue.services.get(service_id)
            if service is None:
                problems.append(FieldProblem(f"/services/{index}", "no such service"))
            elif service.meta.consent_mode is not ConsentMode.PRESUMED:
                problems.append(
                    FieldProblem(
                        f"/services/{index}",
                        f"served under {service.meta.consent_mode.value} consent: "
                        "only presumed-consent services take oppositions",
                    )
                )
        # A requester that is no member (a typo, the wrong case) would be stored as an
        # active opposition that never applies to anyone: refused, as a grantee is.
        if self._member_ids is not None:
            problems += [
                FieldProblem(f"/requesters/{index}", "must be a member id")
                for index, requester in enumerate(grant.requesters)
                if requester not in self._member_ids
            ]
        if problems:
            raise InvalidRequestError(
                "the opposition names services or requesters it cannot apply to", problems
            )
        opposition = Opposition(
            id=str(uuid7()),
            subject_ref=self.pseudonym(grant.subject),
            services=grant.services,
            requesters=grant.requesters,
            recorded_by=member.id,
            created_at=self._clock(),
        )
        await self._audit(
            AuditEventType.OPPOSITION_REGISTERED, member, opposition.subject_ref, opposition.id,
            reason="ALL_REQUESTERS" if not opposition.requesters else "NAMED_REQUESTERS",
        )  # fmt: skip
        await self._store.add_opposition(opposition)
        _log.info("opposition_registered", opposition_id=opposition.id, member=member.id)
        return opposition

    async def revoke_opposition(
        self, member: Member, opposition_id: str, *, subject: str | None = None
    ) -> Opposition:
        """Withdraw an opposition of the citizen the portal names (404 for anyone else's)."""
        self._require_portal(member, "revoke oppositions")
        owner = self._owner_ref(member, subject)
        found = (
            await self._store.get_opposition(opposition_id) if len(opposition_id) <= 64 else None
        )
        if found is None or found.subject_ref != owner:
            raise UnknownOppositionError(f"no opposition {opposition_id[:64]!r}")
        revoked = await self._store.revoke_opposition(opposition_id, at=self._clock(), by=member.id)
        if revoked is None:  # pragma: no cover - rows are never deleted
            raise UnknownOppositionError(f"no opposition {opposition_id[:64]!r}")
        await self._audit(
            AuditEventType.OPPOSITION_REVOKED, member, revoked.subject_ref, revoked.id,
            reason="REVOKED_BY_PORTAL",
        )  # fmt: skip
        _log.info("opposition_revoked", opposition_id=revoked.id, member=member.id)
        return revoked

    async def oppositions(self, member: Member, subject: str) -> list[Opposition]:
        self._require_portal(member, "read oppositions")
        return await self._store.oppositions_of(self.pseudonym(subject))

    # -- the decision ------------------------------------------------------------------
    async def decide(
        self,
        *,
        service: Service,
        requester: str,
        purpose: str,
        procedure: str | None,
        consent_ref: str | None,
        subject_ref: str,
        now: datetime,
        procedures_allowed: Collection[str] = (),
    ) -> Decision:
        """The consent decision for one exchange (reads the registry only when needed).
        ``procedures_allowed``: the exempt procedures the requester's rights let it name;
        only those set an opposition aside."""
        mode = service.meta.consent_mode
        consents: Sequence[Consent] = ()
        oppositions: Sequence[Opposition] = ()
        if mode is ConsentMode.EXPLICIT:
            consents = await self._store.consents_of(subject_ref)
        elif mode is ConsentMode.PRESUMED:
            oppositions = await self._store.oppositions_of(subject_ref)
        return decide(
            mode=mode,
            requester=requester,
            service=service.id,
            purpose=purpose,
            procedure=procedure,
            consent_ref=consent_ref,
            consents=consents,
            oppositions=oppositions,
            exempt_procedures=[
                p for p in service.meta.opposition_exempt_procedures if p in procedures_allowed
            ],
            now=now,
        )

    # -- internals ---------------------------------------------------------------------
    @staticmethod
    def _require_portal(member: Member, what: str) -> None:
        if not _is_portal(member):
            raise ForbiddenError(f"only the citizen portal may {what}")

    def _owner_ref(self, member: Member, subject: str | None) -> str | None:
        """The pseudonym of the citizen a revocation is for; required from the portal."""
        if subject is None:
            if _is_portal(member):
                raise InvalidRequestError(
                    "the citizen portal revokes for one citizen: name them with ?subject=",
                    [FieldProblem("/subject", "required query parameter for the portal")],
                )
            return None
        return self.pseudonym(subject)

    @staticmethod
    def _may_see(member: Member, consent: Consent) -> bool:
        if _is_portal(member):
            return True
        return member.has_role(Role.CONSUMER) and member.id in (
            consent.recorded_by,
            consent.grantee,
        )

    def _check_explicit(self, services: Sequence[str]) -> None:
        """Consents are recorded only where they decide something: ``explicit`` services
        (``presumed`` ones take oppositions, ``legal`` ones need neither)."""
        problems = [
            FieldProblem(f"/services/{index}", "its consent mode is not explicit")
            for index, service_id in enumerate(services)
            if (service := self._catalogue.services.get(service_id)) is not None
            and service.meta.consent_mode is not ConsentMode.EXPLICIT
        ]
        if problems:
            raise InvalidRequestError("consent applies only to explicit-consent services", problems)

    def _check_scope(
        self, services: Sequence[str], purposes: Sequence[str], member: Member, portal: bool
    ) -> None:
        problems = []
        allowed_purposes: set[str] = set()
        for index, service_id in enumerate(services):
            service = self._catalogue.services.get(service_id)
            if service is None:
                problems.append(FieldProblem(f"/services/{index}", "no such service"))
                continue
            allowed_purposes.update(service.meta.purposes)
            if not portal and not member.may_call(service_id):
                problems.append(
                    FieldProblem(f"/services/{index}", "you hold no right to call this service")
                )
        for index, purpose in enumerate(purposes):
            if allowed_purposes and purpose not in allowed_purposes:
                problems.append(
                    FieldProblem(f"/purposes/{index}", "not a purpose of the named services")
                )
        if problems:
            raise InvalidRequestError("the consent's scope is not valid", problems)

    async def _audit(
        self,
        kind: AuditEventType,
        member: Member,
        subject_ref: str,
        record_id: str,
        *,
        reason: str,
    ) -> None:
        is_consent = kind in (AuditEventType.CONSENT_GRANTED, AuditEventType.CONSENT_REVOKED)
        try:
            await self._trail.record(
                AuditRecord(
                    type=kind,
                    time=self._clock(),
                    actor=member.id,
                    subject_ref=subject_ref,
                    consent_ref=record_id if is_consent else None,
                    outcome=kind.value,
                    reason=reason if is_consent else f"{reason}:{record_id}",
                )
            )
        except AuditWriteError as exc:
            _log.warning("consent_change_not_audited", error_code=exc.code)
            raise ServiceUnavailableError(
                "the audit trail did not record this change; retry later"
            ) from exc
