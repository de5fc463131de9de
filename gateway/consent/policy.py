"""The consent decision: a pure function of the service's mode, the request and the registry.

=========== ==================================================== ==========================
mode        allowed when                                         denied (rule, reason)
=========== ==================================================== ==========================
explicit    an ACTIVE consent of the subject covers requester,   CONSENT_REQUIRED with
            service and purpose (the one the request cites, or   CONSENT_ABSENT, _REVOKED,
            else any); reason CONSENT_ACTIVE                     _EXPIRED, _NOT_YET_VALID
presumed    no active opposition covers requester and service    OPPOSITION_ACTIVE
            (NO_OPPOSITION), or the procedure is one the service
            exempts (OPPOSITION_EXEMPT_PROCEDURE, audited as so)
legal       always, the legal basis being checked before         -
            (LEGAL_OBLIGATION)
=========== ==================================================== ==========================

The *rule* is what the requester is told (the problem type); the *reason* is what the
audit trail keeps. They differ on purpose: a requester learns that no usable consent
exists, not whether the subject once gave one and withdrew it. A consent reference that
names another subject's consent reads as absent, never as "exists, but not yours".
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from contracts import ConsentMode
from gateway.consent.records import Consent, ConsentState, Opposition

__all__ = ["Decision", "DenyRule", "Reason", "decide"]


class DenyRule(StrEnum):
    """The rule a denied request failed (its problem code)."""

    CONSENT_REQUIRED = "CONSENT_REQUIRED"
    OPPOSITION_ACTIVE = "OPPOSITION_ACTIVE"


class Reason(StrEnum):
    """Why a request was allowed or denied (the audit record's ``reason``)."""

    CONSENT_ACTIVE = "CONSENT_ACTIVE"
    NO_OPPOSITION = "NO_OPPOSITION"
    OPPOSITION_EXEMPT_PROCEDURE = "OPPOSITION_EXEMPT_PROCEDURE"
    LEGAL_OBLIGATION = "LEGAL_OBLIGATION"
    CONSENT_ABSENT = "CONSENT_ABSENT"
    CONSENT_REVOKED = "CONSENT_REVOKED"
    CONSENT_EXPIRED = "CONSENT_EXPIRED"
    CONSENT_NOT_YET_VALID = "CONSENT_NOT_YET_VALID"
    OPPOSITION_ACTIVE = "OPPOSITION_ACTIVE"


@dataclass(frozen=True, slots=True)
class Decision:
    """Allowed or not, and why; ``consent_ref`` names the consent an allowance rests on,
    or, in a denial, the subject's own consent the request cited and could not use."""

    allowed: bool
    reason: Reason
    rule: DenyRule | None = None
    consent_ref: str | None = None
    opposition_ref: str | None = None


# When no consent is usable, the most telling state among those in scope is reported.
_STATE_REASON = {
    ConsentState.REVOKED: Reason.CONSENT_REVOKED,
    ConsentState.EXPIRED: Reason.CONSENT_EXPIRED,
    ConsentState.NOT_YET_VALID: Reason.CONSENT_NOT_YET_VALID,
}


def decide(
    *,
    mode: ConsentMode,
    requester: str,
    service: str,
    purpose: str,
    procedure: str | None,
    consent_ref: str | None,
    consents: Sequence[Consent],
    oppositions: Sequence[Opposition],
    exempt_procedures: Collection[str] = (),
    now: datetime,
) -> Decision:
    """The decision for one request; ``consents``/``oppositions`` are the subject's own."""
    if mode is ConsentMode.LEGAL:
        return Decision(True, Reason.LEGAL_OBLIGATION)
    if mode is ConsentMode.PRESUMED:
        return _presumed(requester, service, procedure, oppositions, exempt_procedures)
    return _explicit(requester, service, purpose, consent_ref, consents, now)


def _presumed(
    requester: str,
    service: str,
    procedure: str | None,
    oppositions: Sequence[Opposition],
    exempt_procedures: Collection[str],
) -> Decision:
    opposing = [
        o for o in oppositions if o.active and o.covers(requester=requester, service=service)
    ]
    if not opposing:
        return Decision(True, Reason.NO_OPPOSITION)
    if procedure is not None and procedure in exempt_procedures:
        # Spanish law allows no opposition in sanctioning or inspection procedures.
        return Decision(True, Reason.OPPOSITION_EXEMPT_PROCEDURE, opposition_ref=opposing[0].id)
    return Decision(
        False,
        Reason.OPPOSITION_ACTIVE,
        rule=DenyRule.OPPOSITION_ACTIVE,
        opposition_ref=opposing[0].id,
    )


def _explicit(
    requester: str,
    service: str,
    purpose: str,
    consent_ref: str | None,
    consents: Sequence[Consent],
    now: datetime,
) -> Decision:
    candidates = [c for c in consents if consent_ref is None or c.id == consent_ref]
    in_scope = [
        c for c in candidates if c.covers(requester=requester, service=service, purpose=purpose)
    ]
    for consent in in_scope:
        if consent.state_at(now) is ConsentState.ACTIVE:
            return Decision(True, Reason.CONSENT_ACTIVE, consent_ref=consent.id)
    reason = Reason.CONSENT_ABSENT
    states = {c.state_at(now) for c in in_scope}
    for state, state_reason in _STATE_REASON.items():
        if state in states:
            reason = state_reason
            break
    # The cited consent is named in the denial only when it is this subject's and covers
    # this request (revoked or expired, say): a reference to anyone else's consent would
    # put it in the audit log beside this subject.
    cited = consent_ref if any(c.id == consent_ref for c in in_scope) else None
    return Decision(False, reason, rule=DenyRule.CONSENT_REQUIRED, consent_ref=cited)
