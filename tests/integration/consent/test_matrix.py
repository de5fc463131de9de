"""The enforcement matrix: three consent modes x seven registry states, over real HTTP and
the real broker, with the audit record each decision leaves.

One gateway serves the module; every case uses its own subject (a fresh DNI), so cases
never see each other's consents. Allowed requests are produced onto the request topic
(202: no provider answers here); denied ones answer 403 with the failed rule's problem
type and leave a DENIED audit record carrying the reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from bus.audit.trail import AuditEventType
from gateway.consent import Consent, EvidenceChannel, Opposition, subject_pseudonym
from tests.integration.consent.support import (
    DIGEST,
    ConsentGateway,
    new_subject,
    start_consent_gateway,
)
from tests.integration.gateway.support import HMAC_KEY

pytestmark = pytest.mark.asyncio(loop_scope="module")

PURPOSE = {
    "presumed": "social-benefits",
    "explicit": "social-benefits",
    "legal": "minimum-income-check",
}
OTHER_PURPOSE = {
    "presumed": "school-admission",
    "explicit": "scholarship",
    "legal": "unemployment-benefit-check",
}
ALLOWED = (202, None)
NEEDS_CONSENT = (403, "CONSENT_REQUIRED")
OPPOSED = (403, "OPPOSITION_ACTIVE")

# (state, mode) -> (HTTP status, problem code)
EXPECTED: dict[tuple[str, str], tuple[int, str | None]] = {
    ("consent active", "explicit"): ALLOWED,
    ("consent active", "presumed"): ALLOWED,
    ("consent active", "legal"): ALLOWED,
    ("consent absent", "explicit"): NEEDS_CONSENT,
    ("consent absent", "presumed"): ALLOWED,
    ("consent absent", "legal"): ALLOWED,
    ("consent expired", "explicit"): NEEDS_CONSENT,
    ("consent expired", "presumed"): ALLOWED,
    ("consent expired", "legal"): ALLOWED,
    ("consent revoked", "explicit"): NEEDS_CONSENT,
    ("consent revoked", "presumed"): ALLOWED,
    ("consent revoked", "legal"): ALLOWED,
    ("wrong purpose", "explicit"): NEEDS_CONSENT,
    ("wrong purpose", "presumed"): ALLOWED,
    ("wrong purpose", "legal"): ALLOWED,
    ("wrong requester", "explicit"): NEEDS_CONSENT,
    ("wrong requester", "presumed"): ALLOWED,
    ("wrong requester", "legal"): ALLOWED,
    # An opposition is against *presumed* access: an explicit consent still allows, and a
    # legal obligation ignores it.
    ("opposition active", "explicit"): ALLOWED,
    ("opposition active", "presumed"): OPPOSED,
    ("opposition active", "legal"): ALLOWED,
}
ALLOWED_REASON = {
    "explicit": "CONSENT_ACTIVE",
    "presumed": "NO_OPPOSITION",
    "legal": "LEGAL_OBLIGATION",
}
DENIAL_REASON = {
    ("consent absent", "explicit"): "CONSENT_ABSENT",
    ("consent expired", "explicit"): "CONSENT_EXPIRED",
    ("consent revoked", "explicit"): "CONSENT_REVOKED",
    ("wrong purpose", "explicit"): "CONSENT_ABSENT",
    ("wrong requester", "explicit"): "CONSENT_ABSENT",
    ("opposition active", "presumed"): "OPPOSITION_ACTIVE",
}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def gw(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ConsentGateway]:
    """The module's gateway."""
    async with start_consent_gateway(kafka_bootstrap, tmp_path_factory.mktemp("consent")) as gw:
        yield gw


async def grant(
    gw: ConsentGateway, subject: str, mode: str, *, grantee: str = "it.town", **extra: Any
) -> str:
    """A consent recorded through the API by the citizen portal; its id.

    The API records consents only for ``explicit`` services; for the other modes the
    consent is put in the store directly, to show it changes nothing there."""
    if mode != "explicit":
        now = datetime.now(UTC)
        consent_id = f"stored-{mode}-{subject}-{grantee}"
        await gw.gateway.consent_store.add_consent(
            Consent(
                id=consent_id,
                subject_ref=subject_pseudonym(HMAC_KEY.encode(), subject),
                grantee=grantee,
                services=(gw.service(mode),),
                purposes=(PURPOSE[mode],),
                valid_from=now - timedelta(minutes=1),
                valid_until=None,
                evidence_channel=EvidenceChannel.PAPER,
                evidence_digest=DIGEST,
                recorded_by="it.portal",
                created_at=now,
            )
        )
        return consent_id
    body = {
        "subject": subject,
        "grantee": grantee,
        "services": [gw.service(mode)],
        "purposes": [PURPOSE[mode]],
        "evidence": {"channel": "citizen-portal", "digest": DIGEST},
        **extra,
    }
    status, headers, answer = await gw.call("POST", "/v1/consents", json=body)
    assert status == 201, answer
    assert headers["Location"] == f"/v1/consents/{answer['id']}"
    return str(answer["id"])


async def prepare(gw: ConsentGateway, state: str, mode: str, subject: str) -> None:
    """Bring the registry into ``state`` for ``subject`` and the mode's service."""
    now = datetime.now(UTC)
    subject_ref = subject_pseudonym(HMAC_KEY.encode(), subject)
    store = gw.gateway.consent_store
    if state in ("consent active", "wrong purpose", "opposition active"):
        await grant(gw, subject, mode)
    elif state == "wrong requester":
        await grant(gw, subject, mode, grantee="it.other")
    elif state == "consent revoked":
        consent_id = await grant(gw, subject, mode)
        status, _, body = await gw.call(
            "DELETE", f"/v1/consents/{consent_id}", params={"subject": subject}
        )
        assert status == 200, body
        assert body["state"] == "revoked"
    elif state == "consent expired":
        # The API refuses to record a consent that is already over; the store does not.
        await store.add_consent(
            Consent(
                id=f"expired-{subject}",
                subject_ref=subject_ref,
                grantee="it.town",
                services=(gw.service(mode),),
                purposes=(PURPOSE[mode],),
                valid_from=now - timedelta(days=60),
                valid_until=now - timedelta(days=1),
                evidence_channel=EvidenceChannel.PAPER,
                evidence_digest=DIGEST,
                recorded_by="it.town",
                created_at=now - timedelta(days=60),
            )
        )
    if state == "opposition active":
        if mode == "presumed":
            body = {"subject": subject, "services": [gw.service(mode)]}
            status, _, answer = await gw.call("POST", "/v1/oppositions", json=body)
            assert status == 201, answer
        else:
            # Only presumed services take oppositions through the API; one stored anyway
            # for another mode's service must not change that mode's decision.
            await store.add_opposition(
                Opposition(
                    id=f"opp-{subject}",
                    subject_ref=subject_ref,
                    services=(gw.service(mode),),
                    requesters=(),
                    recorded_by="it.portal",
                    created_at=now,
                )
            )


@pytest.mark.parametrize(("state", "mode"), list(EXPECTED), ids=[f"{m}-{s}" for s, m in EXPECTED])
async def test_matrix(gw: ConsentGateway, state: str, mode: str) -> None:
    """Each (state, mode) answers as the table says; denials are audited with the reason
    and the problem reveals no identifier."""
    subject = new_subject()
    subject_ref = subject_pseudonym(HMAC_KEY.encode(), subject)
    await prepare(gw, state, mode, subject)
    purpose = OTHER_PURPOSE[mode] if state == "wrong purpose" else PURPOSE[mode]
    status, _, body = await gw.call(
        "POST", "/v1/exchanges", "town", json=gw.exchange(mode, subject, purpose)
    )
    expected_status, expected_code = EXPECTED[(state, mode)]
    assert status == expected_status, body
    denied = [r for r in gw.records(subject_ref) if r.type is AuditEventType.DENIED]
    if expected_code is None:
        assert body["status"] == "pending"
        assert denied == []
        [requested] = [r for r in gw.records(subject_ref) if r.type is AuditEventType.REQUESTED]
        assert requested.reason == ALLOWED_REASON[mode]
        assert requested.exchange_id == body["id"]
        if mode == "explicit":
            assert requested.consent_ref is not None
        return
    assert body["code"] == expected_code
    assert body["type"].endswith(expected_code.lower().replace("_", "-"))
    assert subject not in str(body)
    assert subject_ref not in str(body)
    [record] = denied
    assert record.reason == DENIAL_REASON[(state, mode)]
    assert record.outcome == "DENIED"
    assert record.requester == "it.town"
    assert record.service == gw.service(mode)
    assert record.official == "official-7"
