"""The consent and opposition API over real HTTP: roles, validation, revocation taking
effect on the very next request, audit of every change, no identifier in any answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from bus.audit.trail import AuditEventType
from gateway.consent import subject_pseudonym
from tests.integration.consent.support import (
    DIGEST,
    RIGHTS,
    ConsentGateway,
    new_subject,
    start_consent_gateway,
)
from tests.integration.gateway.support import HMAC_KEY, http

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def gw(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ConsentGateway]:
    """The module's gateway."""
    async with start_consent_gateway(kafka_bootstrap, tmp_path_factory.mktemp("api")) as gw:
        yield gw


def consent_body(gw: ConsentGateway, subject: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": subject,
        "grantee": "it.town",
        "services": [gw.service("explicit")],
        "purposes": ["social-benefits"],
        "evidence": {"channel": "citizen-portal", "digest": DIGEST},
    }
    body.update(overrides)
    return body


def ref(subject: str) -> str:
    return subject_pseudonym(HMAC_KEY.encode(), subject)


async def ask(gw: ConsentGateway, subject: str, **extra: Any) -> tuple[int, Any]:
    body = gw.exchange("explicit", subject, "social-benefits", **extra)
    status, _, answer = await gw.call("POST", "/v1/exchanges", "town", json=body)
    return status, answer


async def test_revoking_a_consent_denies_the_very_next_request(gw: ConsentGateway) -> None:
    """Granted: allowed (the REQUESTED record says why, the envelope names the consent).
    Revoked: the next request is denied; the consent is kept, marked revoked."""
    subject = new_subject()
    status, _, consent = await gw.call("POST", "/v1/consents", json=consent_body(gw, subject))
    assert status == 201, consent
    assert consent["state"] == "active"
    assert consent["subject_ref"] == ref(subject)
    assert subject not in str(consent)

    allowed, exchange = await ask(gw, subject)
    assert allowed == 202, exchange
    requested = [r for r in gw.records(ref(subject)) if r.type is AuditEventType.REQUESTED]
    assert [(r.reason, r.consent_ref) for r in requested] == [("CONSENT_ACTIVE", consent["id"])]

    status, _, revoked = await gw.call(
        "DELETE", f"/v1/consents/{consent['id']}", params={"subject": subject}
    )
    assert status == 200, revoked
    assert revoked["state"] == "revoked"
    assert revoked["revoked_by"] == "it.portal"
    denied, problem = await ask(gw, subject)
    assert denied == 403
    assert problem["code"] == "CONSENT_REQUIRED"

    _, _, listed = await gw.call("GET", "/v1/consents", params={"subject": subject})
    assert [(c["id"], c["state"]) for c in listed["items"]] == [(consent["id"], "revoked")]
    kinds = [r.type for r in gw.records(ref(subject))]
    assert kinds.count(AuditEventType.CONSENT_GRANTED) == 1
    assert kinds.count(AuditEventType.CONSENT_REVOKED) == 1
    assert kinds[-1] is AuditEventType.DENIED


async def test_a_retry_with_its_idempotency_key_replays_the_exchange_consent_revoked(
    gw: ConsentGateway,
) -> None:
    """A POST allowed under a consent, then the consent revoked, then the same POST with
    the same Idempotency-Key (a client retrying a lost answer): the same exchange is
    answered as a replay, as a GET would show it. No new decision is made, so no DENIED
    is audited for a request that was allowed. A new key is decided afresh: denied."""
    subject = new_subject()
    status, _, consent = await gw.call("POST", "/v1/consents", json=consent_body(gw, subject))
    assert status == 201, consent
    body = gw.exchange("explicit", subject, "social-benefits")
    headers = gw.headers("town") | {"Idempotency-Key": f"retry-{subject}"}
    url = f"{gw.base_url}/v1/exchanges"
    status, _, first = await http("POST", url, headers=headers, json=body)
    assert status == 202, first
    status, _, _ = await gw.call(
        "DELETE", f"/v1/consents/{consent['id']}", params={"subject": subject}
    )
    assert status == 200
    status, replay_headers, again = await http("POST", url, headers=headers, json=body)
    assert status in (200, 202), again
    assert again["id"] == first["id"]
    assert replay_headers["Idempotent-Replayed"] == "true"
    assert AuditEventType.DENIED not in [r.type for r in gw.records(ref(subject))]
    fresh = gw.headers("town") | {"Idempotency-Key": f"new-{subject}"}
    status, _, problem = await http("POST", url, headers=fresh, json=body)
    assert status == 403, problem
    assert problem["code"] == "CONSENT_REQUIRED"


async def test_a_consent_window_is_honoured(gw: ConsentGateway) -> None:
    """A consent valid only from tomorrow does not allow today's request."""
    subject = new_subject()
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = consent_body(gw, subject, valid_from=tomorrow)
    status, _, consent = await gw.call("POST", "/v1/consents", json=body)
    assert status == 201, consent
    assert consent["state"] == "not-yet-valid"
    denied, _ = await ask(gw, subject)
    assert denied == 403
    [record] = [r for r in gw.records(ref(subject)) if r.type is AuditEventType.DENIED]
    assert record.reason == "CONSENT_NOT_YET_VALID"


async def test_citing_a_consent_of_another_subject_reads_as_absent(gw: ConsentGateway) -> None:
    """A consent id that belongs to someone else allows nothing and reveals nothing."""
    owner, stranger = new_subject(), new_subject()
    _, _, consent = await gw.call("POST", "/v1/consents", json=consent_body(gw, owner))
    status, problem = await ask(gw, stranger, consent_ref=consent["id"])
    assert status == 403
    assert problem["code"] == "CONSENT_REQUIRED"
    assert consent["id"] not in problem["detail"]
    # Nor does the stranger's DENIED name the owner's consent (it did, beside the
    # stranger's pseudonym).
    [denied] = [r for r in gw.records(ref(stranger)) if r.type is AuditEventType.DENIED]
    assert denied.consent_ref is None


async def test_a_consent_ref_the_decision_did_not_use_is_neither_sent_nor_audited(
    gw: ConsentGateway,
) -> None:
    """A presumed service decided without consent: a cited consent (here another
    person's) is not recorded as if it had counted, in the exchange or its audit trail."""
    owner, subject = new_subject(), new_subject()
    _, _, consent = await gw.call("POST", "/v1/consents", json=consent_body(gw, owner))
    body = gw.exchange("presumed", subject, "social-benefits", consent_ref=consent["id"])
    status, _, accepted = await gw.call("POST", "/v1/exchanges", "town", json=body)
    assert status == 202, accepted
    [requested] = [r for r in gw.records(ref(subject)) if r.type is AuditEventType.REQUESTED]
    assert (requested.reason, requested.consent_ref) == ("NO_OPPOSITION", None)


async def test_a_consumer_records_a_paper_consent_for_itself_only(gw: ConsentGateway) -> None:
    """A consumer may record paper consents granted to itself, then use them; not the
    portal's channel, not for another member; it sees only its own."""
    subject = new_subject()
    paper = {"channel": "paper", "digest": DIGEST}
    status, _, own = await gw.call(
        "POST", "/v1/consents", "town", json=consent_body(gw, subject, grantee=None, evidence=paper)
    )
    assert status == 201, own
    assert own["grantee"] == "it.town"
    assert own["recorded_by"] == "it.town"
    assert (await ask(gw, subject))[0] == 202

    status, _, problem = await gw.call(
        "POST",
        "/v1/consents",
        "town",
        json=consent_body(gw, subject, grantee="it.other", evidence=paper),
    )
    assert (status, problem["code"]) == (403, "FORBIDDEN")
    status, _, problem = await gw.call(
        "POST", "/v1/consents", "town", json=consent_body(gw, subject)
    )
    assert (status, problem["errors"][0]["pointer"]) == (400, "/evidence/channel")

    _, _, seen_by_other = await gw.call("GET", "/v1/consents", "other", params={"subject": subject})
    assert seen_by_other["items"] == []
    status, _, problem = await gw.call("DELETE", f"/v1/consents/{own['id']}", "other")
    assert (status, problem["code"]) == (404, "UNKNOWN_CONSENT")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/oppositions"),
        ("GET", "/v1/oppositions?subject=12345678Z"),
        ("DELETE", "/v1/oppositions/x"),
    ],
)
async def test_oppositions_are_the_portals_alone(
    gw: ConsentGateway, method: str, path: str
) -> None:
    """Consumers cannot record, read or revoke oppositions."""
    body = {"subject": "12345678Z", "services": [gw.service("presumed")]}
    status, _, problem = await gw.call(method, path, "town", json=body)
    assert (status, problem["code"]) == (403, "FORBIDDEN")


async def test_members_without_a_consent_role_are_refused(gw: ConsentGateway) -> None:
    """An auditor may not record or read consents."""
    subject = new_subject()
    status, _, _ = await gw.call("POST", "/v1/consents", "auditor", json=consent_body(gw, subject))
    assert status == 403
    status, _, _ = await gw.call("GET", "/v1/consents", "auditor", params={"subject": subject})
    assert status == 403


async def test_oppositions_register_list_revoke_and_exempt_procedures(gw: ConsentGateway) -> None:
    """Opposed: 403 OPPOSITION_ACTIVE; in an inspection: allowed, audited as exempt;
    revoked: allowed again. Oppositions to non-presumed services are refused."""
    subject = new_subject()
    service = gw.service("presumed")
    status, _, opposition = await gw.call(
        "POST", "/v1/oppositions", json={"subject": subject, "services": [service]}
    )
    assert status == 201, opposition
    assert opposition["requesters"] == []

    def body(**extra: Any) -> dict[str, Any]:
        return gw.exchange("presumed", subject, "social-benefits", **extra)

    status, _, problem = await gw.call("POST", "/v1/exchanges", "town", json=body())
    assert (status, problem["code"]) == (403, "OPPOSITION_ACTIVE")
    assert subject not in str(problem)
    # Only a member whose rights list the procedure may name it: any consumer could
    # otherwise set every opposition aside by writing "inspection".
    status, _, problem = await gw.call(
        "POST", "/v1/exchanges", "other", json=body(procedure="inspection")
    )
    assert (status, problem["code"]) == (403, "OPPOSITION_ACTIVE")
    status, _, _ = await gw.call("POST", "/v1/exchanges", "town", json=body(procedure="inspection"))
    assert status == 202
    reasons = [r.reason for r in gw.records(ref(subject)) if r.type is AuditEventType.REQUESTED]
    assert reasons == ["OPPOSITION_EXEMPT_PROCEDURE"]

    _, _, listed = await gw.call("GET", "/v1/oppositions", params={"subject": subject})
    assert [o["id"] for o in listed["items"]] == [opposition["id"]]
    status, _, revoked = await gw.call(
        "DELETE", f"/v1/oppositions/{opposition['id']}", params={"subject": subject}
    )
    assert (status, revoked["state"]) == (200, "revoked")
    status, _, _ = await gw.call("POST", "/v1/exchanges", "town", json=body())
    assert status == 202
    kinds = [r.type for r in gw.records(ref(subject))]
    assert AuditEventType.OPPOSITION_REGISTERED in kinds
    assert AuditEventType.OPPOSITION_REVOKED in kinds

    status, _, problem = await gw.call(
        "POST", "/v1/oppositions", json={"subject": subject, "services": [gw.service("legal")]}
    )
    assert (status, problem["errors"][0]["pointer"]) == (400, "/services/0")


@pytest.mark.parametrize(
    ("overrides", "pointer"),
    [
        ({"subject": "12345678A"}, "/subject"),
        ({"subject": ""}, "/subject"),
        ({"services": []}, "/services"),
        ({"services": ["nope.nothing"]}, "/services/0"),
        ({"purposes": ["not-a-purpose"]}, "/purposes/0"),
        ({"purposes": ["social-benefits", "social-benefits"]}, "/purposes"),
        ({"evidence": {"channel": "paper", "digest": "md5:abc"}}, "/evidence/digest"),
        ({"evidence": {"channel": "pigeon", "digest": DIGEST}}, "/evidence/channel"),
        ({"valid_until": "2020-01-01T00:00:00Z"}, "/valid_until"),
        ({"valid_until": "2099-01-01T00:00:00"}, "/valid_until"),
        # Out of range once in UTC (was a 500: OverflowError).
        ({"valid_until": "9999-12-31T23:59:59-00:01"}, "/valid_until"),
        ({"valid_from": "0001-01-01T00:00:00+01:00"}, "/valid_from"),
        # Unix times, as numbers or digits, are not ISO 8601 (were read as seconds).
        ({"valid_from": "1900000000"}, "/valid_from"),
        ({"valid_until": 4102444800}, "/valid_until"),
        ({"valid_until": True}, "/valid_until"),
        ({"valid_until": "2099-01-01T00:00:00Z" + " " * 100}, "/valid_until"),
        ({"extra": 1}, "/extra"),
    ],
)
async def test_bad_consents_get_400_with_a_pointer(
    gw: ConsentGateway, overrides: dict[str, Any], pointer: str
) -> None:
    """Every malformed field is named; the identifier never echoes back."""
    body = consent_body(gw, "12345678Z") | overrides
    status, _, problem = await gw.call("POST", "/v1/consents", json=body)
    assert status == 400, problem
    assert pointer in [e["pointer"] for e in problem["errors"]]
    assert "12345678" not in str(problem)


async def test_an_opposition_holds_however_many_zeros_lead_the_identifier(
    gw: ConsentGateway,
) -> None:
    """``00`` + a DNI is the same person: the opposition stands (403), and a wrong letter
    behind the zeros is a 400. Both used to pass as "another identifier", unchecked and
    pseudonymised as a second person, and the request went to the provider."""
    subject = new_subject()
    status, _, _ = await gw.call(
        "POST", "/v1/oppositions", json={"subject": subject, "services": [gw.service("presumed")]}
    )
    assert status == 201
    padded = "00" + subject
    body = gw.exchange("presumed", padded, "social-benefits")
    status, _, problem = await gw.call("POST", "/v1/exchanges", "town", json=body)
    assert (status, problem["code"]) == (403, "OPPOSITION_ACTIVE"), problem
    wrong_letter = padded[:-1] + ("A" if padded[-1] != "A" else "B")
    body = gw.exchange("presumed", wrong_letter, "social-benefits")
    status, _, problem = await gw.call("POST", "/v1/exchanges", "town", json=body)
    assert status == 400, problem
    assert not [r for r in gw.records(ref(subject)) if r.type is AuditEventType.REQUESTED]


async def test_an_opposition_names_members_only(gw: ConsentGateway) -> None:
    """A requester that is no member (a typo, the wrong case) is a 400 at its item; it
    was stored as an active opposition that applied to no one."""
    subject = new_subject()
    body = {"subject": subject, "services": [gw.service("presumed")]}
    status, _, problem = await gw.call(
        "POST", "/v1/oppositions", json=body | {"requesters": ["it.town", "IT.OTHER"]}
    )
    assert status == 400, problem
    assert [e["pointer"] for e in problem["errors"]] == ["/requesters/1"]
    status, _, opposition = await gw.call(
        "POST", "/v1/oppositions", json=body | {"requesters": ["it.other"]}
    )
    assert (status, opposition["requesters"]) == (201, ["it.other"]), opposition


async def test_a_bad_list_item_is_one_problem(gw: ConsentGateway) -> None:
    """``services: [1]`` is named at its item only, without pydantic's follow-on "at least
    1 item after validation" about the list; an empty list is still named itself."""
    for services, pointers in (([1], ["/services/0"]), ([], ["/services"])):
        body = consent_body(gw, "12345678Z") | {"services": services}
        status, _, problem = await gw.call("POST", "/v1/consents", json=body)
        assert status == 400, problem
        assert [e["pointer"] for e in problem["errors"]] == pointers, problem


async def test_a_wrong_check_letter_in_an_exchange_is_a_400(gw: ConsentGateway) -> None:
    """POST /v1/exchanges uses the same normalisation: a wrong letter is named, not hashed."""
    body = gw.exchange("presumed", "12345678A", "social-benefits")
    status, _, problem = await gw.call("POST", "/v1/exchanges", "town", json=body)
    assert status == 400
    assert [e["pointer"] for e in problem["errors"]] == ["/subject"]
    assert "check letter" in problem["errors"][0]["detail"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/v1/consents", {}, 400),
        ("GET", "/v1/consents?subject=12345678A", {}, 400),
        (
            "POST",
            "/v1/consents",
            {"data": b"{", "headers": {"Content-Type": "application/json"}},
            400,
        ),
        (
            "POST",
            "/v1/consents",
            {"data": b"[]", "headers": {"Content-Type": "application/json"}},
            400,
        ),
        ("POST", "/v1/consents", {"data": b"x=1"}, 415),
        ("DELETE", "/v1/consents/" + "x" * 300 + "?subject=12345678Z", {}, 404),
        ("DELETE", "/v1/oppositions/unknown?subject=12345678Z", {}, 404),
        ("DELETE", "/v1/consents/unknown", {}, 400),
        ("DELETE", "/v1/consents/unknown?subject=12345678A", {}, 400),
    ],
)
async def test_malformed_requests_get_clear_problems(
    gw: ConsentGateway, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    """Missing query, bad JSON, wrong media type, unknown ids: a problem, never a 500."""
    headers = gw.headers("portal") | kwargs.pop("headers", {})
    got, answer_headers, problem = await http(
        method, f"{gw.base_url}{path}", headers=headers, **kwargs
    )
    assert got == status, problem
    assert answer_headers["Content-Type"].startswith("application/problem+json")


async def test_the_portal_revokes_only_the_named_citizens_records(gw: ConsentGateway) -> None:
    """The portal acts for one citizen: it must name them, and another citizen's consent
    or opposition id answers 404 as an unknown one does, and stays active."""
    owner, other = new_subject(), new_subject()
    status, _, consent = await gw.call("POST", "/v1/consents", json=consent_body(gw, owner))
    assert status == 201, consent
    opposition_body = {"subject": owner, "services": [gw.service("presumed")]}
    status, _, opposition = await gw.call("POST", "/v1/oppositions", json=opposition_body)
    assert status == 201, opposition

    status, _, problem = await gw.call("DELETE", f"/v1/consents/{consent['id']}")
    assert (status, problem["errors"][0]["pointer"]) == (400, "/subject")
    for path in (f"/v1/consents/{consent['id']}", f"/v1/oppositions/{opposition['id']}"):
        status, _, problem = await gw.call("DELETE", path, params={"subject": other})
        assert status == 404, problem
        assert other not in str(problem)
        assert owner not in str(problem)

    _, _, consents = await gw.call("GET", "/v1/consents", params={"subject": owner})
    assert [c["state"] for c in consents["items"]] == ["active"]
    _, _, oppositions = await gw.call("GET", "/v1/oppositions", params={"subject": owner})
    assert [o["state"] for o in oppositions["items"]] == ["active"]
    assert (await ask(gw, owner))[0] == 202
    revoked = [r for r in gw.records(ref(owner)) if r.type is AuditEventType.CONSENT_REVOKED]
    assert revoked == []


async def test_an_auditor_revoking_a_consent_is_forbidden_as_documented(
    gw: ConsentGateway,
) -> None:
    """docs/gateway-auth.md: an auditor holds no role that revokes consents: 403, whether
    or not the consent exists (the answer reveals nothing about it)."""
    subject = new_subject()
    status, _, consent = await gw.call("POST", "/v1/consents", json=consent_body(gw, subject))
    assert status == 201, consent
    for target in (consent["id"], "no-such-consent"):
        status, _, problem = await gw.call("DELETE", f"/v1/consents/{target}", "auditor")
        assert (status, problem["code"]) == (403, "FORBIDDEN")


@pytest.mark.parametrize(
    ("overrides", "member", "pointer"),
    [
        ({"grantee": "es.does-not-exist"}, "portal", "/grantee"),
        ({"services_mode": "presumed"}, "portal", "/services/0"),
        ({"services_mode": "legal"}, "portal", "/services/0"),
        ({"valid_from": "2000-01-01T00:00:00Z"}, "town", "/valid_from"),
        ({"valid_from": "2000-01-01T00:00:00Z"}, "portal", "/valid_from"),
    ],
    ids=["grantee-not-a-member", "presumed-service", "legal-service", "backdated", "portal-back"],
)
async def test_consents_that_could_not_mean_anything_are_refused(
    gw: ConsentGateway, overrides: dict[str, Any], member: str, pointer: str
) -> None:
    """A grantee that is no member, a service whose mode is not explicit, a start in the
    past: each a 400 with its pointer, and nothing recorded."""
    subject = new_subject()
    changes = dict(overrides)
    mode = changes.pop("services_mode", None)
    if mode is not None:
        changes["services"] = [gw.service(mode)]
        changes["purposes"] = [RIGHTS[mode][0]]
    body = consent_body(gw, subject, **changes)
    if member == "town":
        body["evidence"] = {"channel": "paper", "digest": DIGEST}
    status, _, problem = await gw.call("POST", "/v1/consents", member, json=body)
    assert status == 400, problem
    assert pointer in [e["pointer"] for e in problem["errors"]]
    _, _, listed = await gw.call("GET", "/v1/consents", params={"subject": subject})
    assert listed["items"] == []
