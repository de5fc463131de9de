"""POST/GET /v1/exchanges over real HTTP, through the real broker, to a provider on the bus.

One gateway and one provider serve the module (starting them is the slow part); every
test uses its own documents and idempotency keys, so tests do not see each other's
exchanges. Tests that need other settings start their own gateway.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from gateway.store.base import ExchangeStatus
from tests.integration.gateway.support import (
    INCOME_DATA,
    RunningGateway,
    http,
    poll_until,
    start_gateway,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def gw(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningGateway]:
    """The module's gateway with its provider."""
    async with start_gateway(kafka_bootstrap, tmp_path_factory.mktemp("gw"), _unique) as running:
        yield running


async def _post(
    gw: RunningGateway, body: Any, *, member: str = "town", **headers: str
) -> tuple[int, dict[str, str], Any]:
    return await http(
        "POST",
        f"{gw.base_url}/v1/exchanges",
        headers=gw.headers(member, **headers),
        json=body,
    )


async def _get(gw: RunningGateway, path: str, member: str = "town") -> tuple[int, Any]:
    status, _, body = await http("GET", f"{gw.base_url}{path}", headers=gw.headers(member))
    return status, body


# -- the happy paths -------------------------------------------------------------------
async def test_sync_post_answers_200_with_the_providers_data(gw: RunningGateway) -> None:
    """Prefer: wait=10 and a fast provider: 200, completed, found, the data as JSON."""
    status, headers, body = await _post(gw, gw.body(_unique("FOUND")), Prefer="wait=10")
    assert status == 200, body
    assert body["status"] == "completed"
    assert body["found"] is True
    assert (body["service"], body["version"], body["provider"]) == (
        gw.cat.residence,
        "1.1",
        "es.ine.padron",
    )
    assert body["data"]["municipality_code"] == "28005"
    assert body["data"]["registered_since"] == "2019-03-01"
    assert body["completed_at"] is not None
    assert headers["Preference-Applied"] == "wait=10"
    assert "Deprecation" not in headers


async def test_a_deprecated_version_is_served_with_deprecation_headers(gw: RunningGateway) -> None:
    """Version 1.0 (deprecated, sunset 2027-06-30): data read with 1.0's schema, headers set."""
    body = gw.body(_unique("FOUND"), version="1.0")
    status, headers, answer = await _post(gw, body, Prefer="wait=10")
    assert status == 200, answer
    assert answer["version"] == "1.0"
    assert "household_size" not in answer["data"]  # a 1.1 field, dropped by 1.0's reader
    assert headers["Deprecation"] == "true"
    assert headers["Sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"


async def test_async_post_answers_202_and_get_returns_the_result(gw: RunningGateway) -> None:
    """Without Prefer: 202 + Location at once; GET on it shows the completed exchange."""
    body = gw.body(service=gw.cat.income, data={"nif": _unique("FOUND"), "fiscal_year": 24})
    status, headers, pending = await _post(gw, body)
    assert status == 202, pending
    assert pending["status"] == "pending"
    assert headers["Location"] == f"/v1/exchanges/{pending['id']}"
    _, done = await poll_until(
        lambda: _get(gw, headers["Location"]),
        lambda r: r[1].get("status") != "pending",
        timeout_s=20,
        what="the exchange to complete",
    )
    assert done["status"] == "completed"
    assert done["data"] == {**INCOME_DATA}
    assert done["id"] == pending["id"]


async def test_not_found_is_a_completed_exchange_without_data(gw: RunningGateway) -> None:
    """The provider knows nobody by that document: 200, found false, data null."""
    status, _, body = await _post(gw, gw.body(_unique("MISSING")), Prefer="wait=10")
    assert status == 200, body
    assert (body["status"], body["found"], body["data"]) == ("completed", False, None)


# -- idempotency -----------------------------------------------------------------------
async def test_idempotency_key_replays_the_same_exchange_and_refuses_another_body(
    gw: RunningGateway,
) -> None:
    """Same key + same body: the same exchange, sent once; same key + other body: 409."""
    key = _unique("idem")
    body = gw.body(_unique("FOUND"))
    first_status, _, first = await _post(gw, body, Prefer="wait=10", **{"Idempotency-Key": key})
    again_status, again_headers, again = await _post(
        gw, dict(reversed(list(body.items()))), Prefer="wait=10", **{"Idempotency-Key": key}
    )
    assert (first_status, again_status) == (200, 200)
    assert again["id"] == first["id"]
    assert again_headers["Idempotent-Replayed"] == "true"
    assert [e.exchange_id for e in gw.provider.requests].count(first["id"]) == 1

    other = {**body, "purpose": "school-admission"}
    status, _, problem = await _post(gw, other, **{"Idempotency-Key": key})
    assert status == 409
    assert problem["code"] == "IDEMPOTENCY_CONFLICT"


async def test_the_same_key_of_another_member_is_another_exchange(gw: RunningGateway) -> None:
    """Idempotency keys are per member: another member's identical key starts its own."""
    key = _unique("idem")
    body = gw.body(_unique("FOUND"))
    _, _, mine = await _post(gw, body, **{"Idempotency-Key": key})
    _, _, theirs = await _post(gw, body, member="other", **{"Idempotency-Key": key})
    assert mine["id"] != theirs["id"]


# -- 400 -------------------------------------------------------------------------------
async def test_malformed_json_is_400(gw: RunningGateway) -> None:
    """A body that is not JSON is a 400 problem, not a 500."""
    status, headers, problem = await http(
        "POST",
        f"{gw.base_url}/v1/exchanges",
        headers=gw.headers(**{"Content-Type": "application/json"}),
        data=b'{"service": ',
    )
    assert status == 400
    assert headers["Content-Type"].startswith("application/problem+json")
    assert problem["code"] == "INVALID_REQUEST"


async def test_wrong_types_and_unknown_fields_are_all_reported_with_pointers(
    gw: RunningGateway,
) -> None:
    """Every problem at once: a number as version, a list as data, an unknown field."""
    body = {**gw.body(), "version": 1, "data": [], "colour": "blue"}
    status, _, problem = await _post(gw, body)
    assert status == 400
    assert sorted(e["pointer"] for e in problem["errors"]) == ["/colour", "/data", "/version"]


async def test_data_is_validated_against_the_request_schema(gw: RunningGateway) -> None:
    """Bad data: every problem with a pointer under /data; nothing is sent."""
    sent = len(gw.provider.requests)
    body = gw.body(data={"document_type": "CARNET", "document_numbr": "1"})
    status, _, problem = await _post(gw, body)
    assert status == 400
    pointers = sorted(e["pointer"] for e in problem["errors"])
    assert pointers == ["/data/document_number", "/data/document_numbr", "/data/document_type"]
    assert len(gw.provider.requests) == sent


async def test_a_purpose_the_service_does_not_serve_is_400(gw: RunningGateway) -> None:
    """A purpose outside the service's list is a bad request (not a missing right)."""
    status, _, problem = await _post(gw, gw.body(purpose="curiosity"))
    assert status == 400
    assert [e["pointer"] for e in problem["errors"]] == ["/purpose"]


# -- 401 / 403 / 404 -------------------------------------------------------------------
async def test_no_or_bad_credentials_are_401(gw: RunningGateway) -> None:
    """No API key or an unknown one: 401 with a Bearer challenge."""
    url = f"{gw.base_url}/v1/exchanges"
    status, headers, problem = await http("POST", url, json=gw.body())
    assert (status, problem["code"]) == (401, "UNAUTHENTICATED")
    assert headers["WWW-Authenticate"].startswith("Bearer")
    status, _, _ = await http("POST", url, json=gw.body(), headers={"Authorization": "Bearer x"})
    assert status == 401


async def test_calls_without_the_right_are_403(gw: RunningGateway) -> None:
    """A member without rights, and a member whose right lacks this purpose: 403."""
    status, _, problem = await _post(gw, gw.body(), member="norights")
    assert (status, problem["code"]) == (403, "FORBIDDEN")
    status, _, problem = await _post(gw, gw.body(purpose="housing-aid"))
    assert (status, problem["code"]) == (403, "FORBIDDEN")


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"service": "nowhere.nothing"}, "UNKNOWN_SERVICE"),
        ({"version": "9"}, "UNKNOWN_VERSION"),
        ({"version": "1.7"}, "UNKNOWN_VERSION"),
        ({"version": "one"}, "UNKNOWN_VERSION"),
        ({"provider": "es.somebody-else"}, "UNKNOWN_PROVIDER"),
    ],
)
async def test_unknown_service_version_or_provider_is_404(
    gw: RunningGateway, overrides: dict[str, str], code: str
) -> None:
    """Each unknown name is a 404 with its own stable code."""
    body = {**gw.body(), **{k: v.replace("nowhere", "nowhere") for k, v in overrides.items()}}
    status, _, problem = await _post(gw, body)
    assert (status, problem["code"]) == (404, code)


async def test_another_members_exchange_is_indistinguishable_from_an_unknown_one(
    gw: RunningGateway,
) -> None:
    """GET of someone else's exchange answers exactly like an id that never existed."""
    _, headers, _ = await _post(gw, gw.body(_unique("FOUND")))
    status, theirs = await _get(gw, headers["Location"], member="other")
    unknown = f"/v1/exchanges/{uuid.uuid4()}"
    status_unknown, never = await _get(gw, unknown, member="other")
    assert (status, status_unknown) == (404, 404)
    assert theirs["code"] == never["code"] == "UNKNOWN_EXCHANGE"
    assert theirs["title"] == never["title"]
    owner_status, _ = await _get(gw, headers["Location"])
    assert owner_status == 200


# -- 413 / 415 -------------------------------------------------------------------------
async def test_a_body_over_the_limit_is_413(gw: RunningGateway) -> None:
    """A body larger than max_body_bytes is refused with 413."""
    body = gw.body(case_file="x")
    body["data"]["padding"] = "x" * (gw.settings.http.max_body_bytes + 1)
    status, _, problem = await _post(gw, body)
    assert (status, problem["code"]) == (413, "PAYLOAD_TOO_LARGE")


async def test_a_body_that_is_not_json_is_415(gw: RunningGateway) -> None:
    """Form data or text is refused with 415 before it is read."""
    status, _, problem = await http(
        "POST",
        f"{gw.base_url}/v1/exchanges",
        headers=gw.headers(**{"Content-Type": "text/plain"}),
        data=json.dumps(gw.body()),
    )
    assert (status, problem["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")


# -- 502 / 504 -------------------------------------------------------------------------
async def test_a_provider_error_is_502_and_get_shows_it_failed(gw: RunningGateway) -> None:
    """The provider answers an error: 502 PROVIDER_ERROR with its code; GET: failed."""
    key = _unique("idem")
    status, _, problem = await _post(
        gw, gw.body(_unique("BROKEN")), Prefer="wait=10", **{"Idempotency-Key": key}
    )
    assert (status, problem["code"], problem["provider_code"]) == (
        502,
        "PROVIDER_ERROR",
        "REGISTRY_DOWN",
    )
    exchange_id = problem["detail"].split()[1].rstrip(":")
    status, body = await _get(gw, f"/v1/exchanges/{exchange_id}")
    assert status == 200
    assert (body["status"], body["error"]["code"]) == ("failed", "REGISTRY_DOWN")


async def test_a_reply_that_does_not_decode_fails_the_exchange(gw: RunningGateway) -> None:
    """Bytes that are not the response schema: the exchange fails with REPLY_UNDECODABLE."""
    status, _, problem = await _post(gw, gw.body(_unique("GARBAGE")), Prefer="wait=10")
    assert (status, problem["provider_code"]) == (502, "REPLY_UNDECODABLE")


async def test_a_sync_caller_waiting_past_the_deadline_gets_504_and_get_shows_timed_out(
    gw: RunningGateway,
) -> None:
    """Income band's deadline is 1.5 s; the provider is slower: 504, then GET: timed_out."""
    body = gw.body(service=gw.cat.income, data={"nif": _unique("SLOW"), "fiscal_year": 2024})
    status, _, problem = await _post(gw, body, Prefer="wait=10")
    assert (status, problem["code"]) == (504, "DEADLINE_EXCEEDED")
    exchange_id = problem["detail"].split()[1].rstrip(":")
    status, shown = await _get(gw, f"/v1/exchanges/{exchange_id}")
    assert (status, shown["status"]) == (200, "timed_out")
    assert shown["error"]["code"] == "DEADLINE_EXCEEDED"


async def test_a_short_wait_answers_202_and_the_exchange_times_out_on_its_own(
    gw: RunningGateway,
) -> None:
    """wait=0: 202 at once; nobody waits, yet the expiry loop times it out.

    Not wait=1: against the 1.5 s deadline, a submission slower than 0.5 s on a loaded
    machine leaves a wait that covers the deadline, and then 504 is the right answer.
    """
    body = gw.body(service=gw.cat.income, data={"nif": _unique("SLOW"), "fiscal_year": 2024})
    status, headers, pending = await _post(gw, body, Prefer="wait=0")
    assert status == 202, pending
    assert headers["Preference-Applied"] == "wait=0"
    _, shown = await poll_until(
        lambda: _get(gw, headers["Location"]),
        lambda r: r[1].get("status") != "pending",
        timeout_s=10,
        what="the expiry loop",
    )
    assert shown["status"] == ExchangeStatus.TIMED_OUT.value


# -- operations ------------------------------------------------------------------------
async def test_health_readiness_metrics_and_openapi_are_public(gw: RunningGateway) -> None:
    """/healthz, /readyz, /metrics and the OpenAPI document need no credentials."""
    status, _, body = await http("GET", f"{gw.base_url}/healthz")
    assert (status, body) == (200, {"status": "ok"})
    status, _, body = await http("GET", f"{gw.base_url}/readyz")
    assert status == 200
    checks = body["checks"]
    assert checks.pop("kafka_replication").startswith("healthy"), checks
    assert checks == {"broker": "ok", "audit_trail": "ok", "store": "ok"}
    status, _, document = await http("GET", f"{gw.base_url}/v1/openapi.json")
    assert status == 200
    assert "/v1/exchanges" in document["paths"]
    await _post(gw, gw.body(_unique("FOUND")), Prefer="wait=10")
    status, _, text = await http("GET", f"{gw.base_url}/metrics")
    assert status == 200
    for series in (
        'interop_gateway_http_requests_total{method="POST",route="/v1/exchanges",status="200"}',
        "interop_gateway_http_request_duration_seconds_bucket",
        f'interop_gateway_exchanges_total{{major="1",outcome="found",service="{gw.cat.residence}"}}',
        "interop_gateway_exchange_duration_seconds_bucket",
        "interop_gateway_http_requests_in_flight",
        "interop_gateway_replies_late_total",
    ):
        assert series in text, series


async def test_rate_limit_answers_429_with_retry_after(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Past the member's burst, requests are refused with 429 and Retry-After."""
    async with start_gateway(
        kafka_bootstrap,
        tmp_path,
        _unique,
        with_provider=False,
        rate_limit={"rate_per_s": 0.01, "burst": 2},
    ) as limited:
        url = f"{limited.base_url}/v1/exchanges/{uuid.uuid4()}"
        statuses = [(await http("GET", url, headers=limited.headers()))[0] for _ in range(3)]
        status, headers, problem = await http("GET", url, headers=limited.headers())
        other_status, _, _ = await http("GET", url, headers=limited.headers("other"))
    assert statuses == [404, 404, 429]
    assert (status, problem["code"]) == (429, "RATE_LIMITED")
    assert int(headers["Retry-After"]) >= 1
    assert other_status == 404  # the limit is per member


async def test_a_flood_of_readiness_probes_asks_the_broker_once(gw: RunningGateway) -> None:
    """/readyz answers anyone without credentials. Each call opened a Kafka connection
    for a metadata request; a flood of them now shares one cached answer (refreshed at
    most every 2 s), so nobody can load the broker through the gateway's door."""
    before = gw.gateway.broker_health.probes
    answers = await asyncio.gather(*(http("GET", f"{gw.base_url}/readyz") for _ in range(40)))
    assert {status for status, _, _ in answers} == {200}
    assert all(body["checks"]["broker"] == "ok" for _, _, body in answers)
    assert gw.gateway.broker_health.probes - before <= 1


async def test_readyz_is_503_when_the_store_does_not_answer(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Closing the store makes /readyz answer 503 naming it; /healthz stays 200."""
    async with start_gateway(kafka_bootstrap, tmp_path, _unique, with_provider=False) as gw2:
        await gw2.gateway.store.close()
        status, _, problem = await http("GET", f"{gw2.base_url}/readyz")
        health, _, _ = await http("GET", f"{gw2.base_url}/healthz")
    assert (status, problem["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert "store" in problem["detail"]
    assert "broker" not in problem["detail"]
    assert health == 200
