"""The consent decision, as a pure function: every mode against every registry state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts import ConsentMode
from gateway.consent.policy import Decision, DenyRule, Reason, decide
from gateway.consent.records import Consent, ConsentState, EvidenceChannel, Opposition

NOW = datetime(2026, 5, 9, 10, 0, tzinfo=UTC)
SERVICE = "tax.income-band"
DIGEST = "sha256:" + "ab" * 32


def consent(**overrides: object) -> Consent:
    values: dict[str, object] = {
        "id": "c-1",
        "subject_ref": "s",
        "grantee": "es.town",
        "services": (SERVICE,),
        "purposes": ("social-benefits",),
        "valid_from": NOW - timedelta(days=1),
        "valid_until": NOW + timedelta(days=30),
        "evidence_channel": EvidenceChannel.CITIZEN_PORTAL,
        "evidence_digest": DIGEST,
        "recorded_by": "es.portal",
        "created_at": NOW - timedelta(days=1),
    }
    values.update(overrides)
    return Consent(**values)  # type: ignore[arg-type]


def opposition(**overrides: object) -> Opposition:
    values: dict[str, object] = {
        "id": "o-1",
        "subject_ref": "s",
        "services": (SERVICE,),
        "requesters": (),
        "recorded_by": "es.portal",
        "created_at": NOW - timedelta(days=1),
    }
    values.update(overrides)
    return Opposition(**values)  # type: ignore[arg-type]


def run(
    mode: ConsentMode,
    *,
    consents: tuple[Consent, ...] = (),
    oppositions: tuple[Opposition, ...] = (),
    requester: str = "es.town",
    purpose: str = "social-benefits",
    procedure: str | None = None,
    consent_ref: str | None = None,
) -> Decision:
    return decide(
        mode=mode,
        requester=requester,
        service=SERVICE,
        purpose=purpose,
        procedure=procedure,
        consent_ref=consent_ref,
        consents=consents,
        oppositions=oppositions,
        exempt_procedures=("sanctioning", "inspection"),
        now=NOW,
    )


def test_explicit_allows_with_an_active_matching_consent_and_names_it() -> None:
    """The decision carries the consent it rests on (it travels in the envelope)."""
    decision = run(ConsentMode.EXPLICIT, consents=(consent(),))
    assert decision == Decision(True, Reason.CONSENT_ACTIVE, consent_ref="c-1")


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ({"revoked_at": NOW - timedelta(seconds=1), "revoked_by": "p"}, Reason.CONSENT_REVOKED),
        ({"valid_until": NOW}, Reason.CONSENT_EXPIRED),
        ({"valid_from": NOW + timedelta(seconds=1)}, Reason.CONSENT_NOT_YET_VALID),
        ({"grantee": "es.other"}, Reason.CONSENT_ABSENT),
        ({"purposes": ("scholarship",)}, Reason.CONSENT_ABSENT),
        ({"services": ("other.service",)}, Reason.CONSENT_ABSENT),
    ],
)
def test_explicit_denies_an_unusable_consent_with_the_telling_reason(
    state: dict[str, object], reason: Reason
) -> None:
    """Revoked, expired, not yet valid, or out of scope: CONSENT_REQUIRED, reason kept."""
    decision = run(ConsentMode.EXPLICIT, consents=(consent(**state),))
    assert decision.allowed is False
    assert decision.rule is DenyRule.CONSENT_REQUIRED
    assert decision.reason is reason


def test_explicit_denies_without_any_consent() -> None:
    """No consent at all: CONSENT_ABSENT."""
    assert run(ConsentMode.EXPLICIT).reason is Reason.CONSENT_ABSENT


def test_a_consent_for_any_member_covers_every_requester() -> None:
    """grantee None: any member may rely on it."""
    decision = run(ConsentMode.EXPLICIT, consents=(consent(grantee=None),), requester="es.x")
    assert decision.allowed


def test_a_cited_consent_must_be_the_usable_one() -> None:
    """Citing a consent limits the decision to it; an unknown one reads as absent."""
    consents = (consent(), consent(id="c-2", revoked_at=NOW, revoked_by="p"))
    assert run(ConsentMode.EXPLICIT, consents=consents, consent_ref="c-1").allowed
    cited_revoked = run(ConsentMode.EXPLICIT, consents=consents, consent_ref="c-2")
    assert cited_revoked.reason is Reason.CONSENT_REVOKED
    assert cited_revoked.consent_ref == "c-2"  # this subject's: the denial may name it
    unknown = run(ConsentMode.EXPLICIT, consents=consents, consent_ref="c-other-subject")
    assert unknown.reason is Reason.CONSENT_ABSENT
    assert unknown.consent_ref is None  # not this subject's: never beside it in the log


def test_revocation_wins_over_a_later_still_active_one() -> None:
    """With one revoked and one active consent in scope, the active one allows."""
    consents = (consent(id="c-0", revoked_at=NOW, revoked_by="p"), consent())
    assert run(ConsentMode.EXPLICIT, consents=consents).consent_ref == "c-1"


def test_presumed_allows_without_opposition_and_denies_with_one() -> None:
    """An active opposition to the service (all requesters) denies."""
    assert run(ConsentMode.PRESUMED).reason is Reason.NO_OPPOSITION
    denied = run(ConsentMode.PRESUMED, oppositions=(opposition(),))
    assert denied.allowed is False
    assert denied.rule is DenyRule.OPPOSITION_ACTIVE
    assert denied.opposition_ref == "o-1"


def test_presumed_oppositions_may_name_requesters() -> None:
    """An opposition naming requesters applies to them only."""
    named = (opposition(requesters=("es.other",)),)
    assert run(ConsentMode.PRESUMED, oppositions=named).allowed
    assert not run(ConsentMode.PRESUMED, oppositions=named, requester="es.other").allowed


def test_a_revoked_opposition_no_longer_denies() -> None:
    """Revoked oppositions are kept but ignored."""
    revoked = (opposition(revoked_at=NOW, revoked_by="p"),)
    assert run(ConsentMode.PRESUMED, oppositions=revoked).reason is Reason.NO_OPPOSITION


def test_exempt_procedures_ignore_oppositions_and_say_so() -> None:
    """Sanctioning/inspection: allowed despite the opposition, with a reason saying why."""
    decision = run(ConsentMode.PRESUMED, oppositions=(opposition(),), procedure="inspection")
    assert decision.allowed
    assert decision.reason is Reason.OPPOSITION_EXEMPT_PROCEDURE
    assert decision.opposition_ref == "o-1"


def test_legal_ignores_consents_and_oppositions() -> None:
    """A legal obligation needs neither (its legal basis is checked before)."""
    decision = run(ConsentMode.LEGAL, oppositions=(opposition(),))
    assert decision == Decision(True, Reason.LEGAL_OBLIGATION)


def test_consent_states_follow_the_window_and_revocation() -> None:
    """The window is [valid_from, valid_until); revocation overrides it."""
    assert consent().state_at(NOW) is ConsentState.ACTIVE
    assert consent(valid_until=None).state_at(NOW + timedelta(days=9999)) is ConsentState.ACTIVE
    assert consent().state_at(NOW + timedelta(days=30)) is ConsentState.EXPIRED
    assert consent().state_at(NOW - timedelta(days=2)) is ConsentState.NOT_YET_VALID
    assert consent(revoked_at=NOW, revoked_by="p").state_at(NOW) is ConsentState.REVOKED
