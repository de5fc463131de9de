"""Batches over real HTTP, the real broker and a real provider (``bus.Responder``).

The provider answers by identity: ``FOUND-*`` with data, ``MISSING-*`` not found,
``BROKEN-*`` with a registry error; ``DENIED-*`` subjects have an opposition recorded, so
their items are refused by the consent decision and never reach the provider.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.batches.api import OPENAPI_SCHEMAS
from gateway.batches.records import ItemStatus
from gateway.batches.worker import _SENDERS
from tests.integration.batches.conftest import FIGURES
from tests.integration.batches.support import (
    batch_body,
    get_batch,
    oppose,
    read_results,
    wait_finished,
)
from tests.integration.gateway.support import RESIDENCE_DATA, http, poll_until, start_gateway

FAST: dict[str, Any] = {
    "batches": {
        "rate_per_provider": 5000.0,
        "burst_per_provider": 200,
        "max_in_flight": 400,
        "poll_interval_s": 0.2,
    },
    "rate_limit": {"rate_per_s": 1000.0, "burst": 1000},
}


def _kind(subject: str) -> str:
    return subject.split("-", 1)[0]


async def _post(
    gw: Any, body: dict[str, Any], *, member: str = "town", key: str | None = None
) -> tuple[int, dict[str, str], Any]:
    headers = gw.headers(member)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await http("POST", f"{gw.base_url}/v1/batches", headers=headers, json=body)


async def test_a_2000_item_batch_reconciles_item_by_item(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """Found, not found, denied by an opposition and provider errors, 2,000 items: every
    item ends as its subject says, with its own exchange (readable by GET
    /v1/exchanges/{id}, seen once by the provider), results resume by cursor, and CSV
    says the same as NDJSON."""
    kinds = ["FOUND"] * 6 + ["MISSING"] * 2 + ["BROKEN", "DENIED"]
    subjects = [f"{kinds[i % 10]}-{i:05d}" for i in range(2000)]
    async with start_gateway(kafka_bootstrap, tmp_path, unique_name, **FAST) as gw:
        await oppose(gw, [s for s in subjects if s.startswith("DENIED")])
        started = time.monotonic()
        status, headers, body = await _post(gw, batch_body(gw, subjects), key="b-2000")
        assert status == 202, body
        assert headers["Location"] == f"/v1/batches/{body['id']}"
        assert body["item_count"] == 2000
        assert body["state"] == "running"
        final = await wait_finished(gw, body["id"], timeout_s=120)
        elapsed = time.monotonic() - started
        FIGURES.append(
            f"2000-item batch, unthrottled: {elapsed:.1f} s, {2000 / elapsed:.0f} items/s"
        )
        assert final["counts"] == {
            "pending": 0,
            "sent": 0,
            "found": 1200,
            "not_found": 400,
            "denied": 200,
            "failed": 200,
            "timed_out": 0,
            "cancelled": 0,
        }
        assert final["progress"] == 1.0
        lines = await read_results(gw, body["id"])
        assert [line["index"] for line in lines] == list(range(2000))
        expected = {
            "FOUND": "found",
            "MISSING": "not_found",
            "BROKEN": "failed",
            "DENIED": "denied",
        }
        for line in lines:
            subject = subjects[line["index"]]
            assert line["item_ref"] == f"ref-{line['index']}"
            assert line["status"] == expected[_kind(subject)], (subject, line)
            if line["status"] == "denied":
                assert line["exchange_id"] is None
                assert line["error_code"] == "OPPOSITION_ACTIVE"
                continue
            exchange = line["exchange"]
            assert exchange["id"] == line["exchange_id"]
            if line["status"] == "found":
                assert exchange["found"] is True
                assert exchange["data"]["municipality_code"] == RESIDENCE_DATA["municipality_code"]
                assert exchange["data"]["household_size"] == RESIDENCE_DATA["household_size"]
            elif line["status"] == "not_found":
                assert exchange["found"] is False
                assert exchange["data"] is None
            else:
                assert exchange["status"] == "failed"
                assert exchange["error"]["code"] == "REGISTRY_DOWN"
            assert subject not in str(line)  # no identifier in a results line
        # Each exchange reached the provider exactly once; denied items never did.
        seen = Counter(envelope.exchange_id for envelope in gw.provider.requests)
        sent_ids = {line["exchange_id"] for line in lines if line["exchange_id"]}
        assert len(sent_ids) == 1800
        assert all(seen[exchange_id] == 1 for exchange_id in sent_ids)
        assert set(seen) >= sent_ids
        # Every item's exchange is an ordinary exchange of the requester.
        for line in lines[::97]:
            if line["exchange_id"] is None:
                continue
            status, _, single = await http(
                "GET", f"{gw.base_url}/v1/exchanges/{line['exchange_id']}", headers=gw.headers()
            )
            assert status == 200
            assert single == line["exchange"]
        # Resumable: after the cursor of line 1499 come exactly lines 1500...
        rest = await read_results(gw, body["id"], cursor=lines[1499]["cursor"])
        assert rest == lines[1500:]
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{gw.base_url}/v1/batches/{body['id']}/results",
                headers=gw.headers(Accept="text/csv"),
            ) as response,
        ):
            assert response.content_type == "text/csv"
            rows = (await response.text()).splitlines()
        assert rows[0].startswith("index,item_ref,exchange_id,status,error_code,found,data")
        assert len(rows) == 2001
        assert [row.split(",")[3] for row in rows[1:]] == [line["status"] for line in lines]


async def test_a_bad_batch_is_refused_whole_with_every_pointer(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """Items with bad data, a subject the data does not name, an invalid field and a
    missing one: one 400 listing each by pointer (form and data problems together), and
    nothing stored or sent. Past
    ``batches.max_items`` one problem at /items; past ``batches.max_body_bytes`` a 413
    (this route's limit, not ``http.max_body_bytes``)."""
    limits = {**FAST, "batches": {**FAST["batches"], "max_items": 50, "max_body_bytes": 8192}}
    async with start_gateway(kafka_bootstrap, tmp_path, unique_name, **limits) as gw:
        status, _, problem = await _post(gw, batch_body(gw, [f"FOUND-{i}" for i in range(51)]))
        assert status == 400
        assert [e["pointer"] for e in problem["errors"]] == ["/items"]
        big = batch_body(gw, ["FOUND-1"], case_file="x" * 200)
        big["items"] = big["items"] * 100  # ~12 KB: refused before the items are counted
        status, _, problem = await _post(gw, big)
        assert status == 413, problem
        assert problem["code"] == "PAYLOAD_TOO_LARGE"

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: read and cut
            yield json.dumps(big).encode()

        status, _, problem = await http(
            "POST",
            f"{gw.base_url}/v1/batches",
            headers=gw.headers(**{"Content-Type": "application/json"}),
            data=chunked(),
        )
        assert status == 413, problem
        body = batch_body(gw, [f"FOUND-{i}" for i in range(6)])
        body["items"][1]["data"]["document_type"] = "SOMETHING"  # not in the enum
        body["items"][2]["data"]["document_number"] = "FOUND-999"  # another person
        body["items"][3]["consent_ref"] = "bad ref with spaces"
        del body["items"][4]["data"]
        body["items"][5]["data"]["surprise"] = 1  # not in the schema
        status, _, problem = await _post(gw, body)
        assert status == 400, problem
        assert problem["code"] == "INVALID_REQUEST"
        pointers = sorted(error["pointer"] for error in problem["errors"])
        # Form problems (a bad consent_ref, no data) and the data's (schema, subject
        # binding) of every item come in the one 400.
        assert pointers == [
            "/items/1/data/document_type",
            "/items/2/data/document_number",
            "/items/3/consent_ref",
            "/items/4/data",
            "/items/5/data/surprise",
        ]
        assert "FOUND-999" not in str(problem)
        assert await gw.gateway.batch_store.count_active() == 0
        assert gw.provider.requests == []
        # An envelope problem is listed with the items' form problems.
        status, _, problem = await _post(gw, {**body, "official": "12345678"})
        assert status == 400
        assert sorted(error["pointer"] for error in problem["errors"]) == [
            "/items/3/consent_ref",
            "/items/4/data",
            "/official",
        ]
        # An envelope error is the exchange API's, first: unknown service is 404.
        status, _, problem = await _post(gw, batch_body(gw, ["FOUND-1"], service="x.nothing"))
        assert status == 404
        assert problem["code"] == "UNKNOWN_SERVICE"


async def test_idempotent_resubmission_conflict_and_privacy(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """The same key and body give the same batch (202 again, replayed); the same key with
    another body is a 409; another member cannot read, list or cancel the batch (404)."""
    async with start_gateway(kafka_bootstrap, tmp_path, unique_name, **FAST) as gw:
        body = batch_body(gw, ["FOUND-1", "MISSING-2"])
        first = await _post(gw, body, key="k-1")
        again = await _post(gw, body, key="k-1")
        assert first[0] == again[0] == 202
        assert again[2]["id"] == first[2]["id"]
        assert again[1]["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first[1]
        conflict = await _post(gw, batch_body(gw, ["FOUND-1"]), key="k-1")
        assert conflict[0] == 409
        assert conflict[2]["code"] == "IDEMPOTENCY_CONFLICT"
        batch_id = first[2]["id"]
        await wait_finished(gw, batch_id, timeout_s=30)
        for method, path in (
            ("GET", f"/v1/batches/{batch_id}"),
            ("GET", f"/v1/batches/{batch_id}/results"),
            ("DELETE", f"/v1/batches/{batch_id}"),
        ):
            status, _, problem = await http(method, gw.base_url + path, headers=gw.headers("other"))
            assert status == 404, (method, path)
            assert problem["code"] == "UNKNOWN_BATCH"
        # The other member's same key is its own: a new batch.
        other = await _post(gw, body, member="other", key="k-1")
        assert other[0] == 202
        assert other[2]["id"] != batch_id
        # Exactly the two items' exchanges were sent for the first member's batch.
        lines = await read_results(gw, batch_id)
        assert [line["status"] for line in lines] == ["found", "not_found"]


async def test_cancel_stops_unsent_items_and_lets_sent_ones_finish(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """At 5 items/s a 200-item batch is mostly unsent when cancelled: those are CANCELLED,
    never reach the provider; those sent finish with their outcome."""
    slow = {**FAST, "batches": {"rate_per_provider": 5.0, "burst_per_provider": 1}}
    async with start_gateway(kafka_bootstrap, tmp_path, unique_name, **slow) as gw:
        status, _, body = await _post(gw, batch_body(gw, [f"FOUND-{i}" for i in range(200)]))
        assert status == 202
        batch_id = body["id"]

        async def progress() -> dict[str, Any]:
            return dict((await get_batch(gw, batch_id))[1])

        await poll_until(
            progress,
            lambda b: b["counts"]["found"] >= 3,
            timeout_s=30,
            what="a few items to finish",
        )
        status, _, cancelled = await http(
            "DELETE", f"{gw.base_url}/v1/batches/{batch_id}", headers=gw.headers()
        )
        assert status == 200, cancelled
        assert cancelled["cancelled_now"] > 150
        final = await wait_finished(gw, batch_id, timeout_s=30)
        counts = final["counts"]
        # An item whose send had begun when the cancel arrived is counted in
        # cancelled_now, then reported sent (docs/batches.md: its exchange exists); at
        # most the worker's concurrent sends can be in that state.
        raced = cancelled["cancelled_now"] - counts["cancelled"]
        assert 0 <= raced <= _SENDERS, (cancelled["cancelled_now"], counts)
        assert counts["found"] + counts["cancelled"] == 200
        assert counts["pending"] == counts["sent"] == 0
        lines = await read_results(gw, batch_id)
        sent = {line["exchange_id"] for line in lines if line["status"] == "found"}
        assert len(sent) == counts["found"]
        assert all(line["exchange_id"] is None for line in lines if line["status"] == "cancelled")
        assert {envelope.exchange_id for envelope in gw.provider.requests} == sent
        assert final["cancelled_at"] is not None


@pytest.mark.parametrize(
    "cursor", ["nope!", "djI6MQ", "x" * 60], ids=["not-base64", "other-version", "too-long"]
)
async def test_a_foreign_cursor_is_a_400(running_gateway: Any, cursor: str) -> None:
    """A cursor the API did not give out is refused with a pointer to it."""
    gw = running_gateway
    status, _, body = await _post(gw, batch_body(gw, ["FOUND-1"]))
    assert status == 202
    status, _, problem = await http(
        "GET",
        f"{gw.base_url}/v1/batches/{body['id']}/results",
        headers=gw.headers(),
        params={"cursor": cursor},
    )
    assert status == 400
    assert [e["pointer"] for e in problem["errors"]] == ["/cursor"]


async def test_items_are_statuses_the_api_documents() -> None:
    """Every item status has a count in GET /v1/batches/{id} (none is left out)."""
    documented = set(OPENAPI_SCHEMAS["Batch"]["properties"]["counts"]["properties"])
    assert documented == {status.value for status in ItemStatus}


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/x-ndjson"),
        ("*/*", "application/x-ndjson"),
        ("text/csv", "text/csv"),
        ("application/x-ndjson;q=0.5, text/csv", "text/csv"),
        ("text/csv;q=0, application/*", "application/x-ndjson"),
        ("application/xml", None),
        ("text/csv;q=0", None),
        ("text/csv;q=bad", None),
    ],
)
async def test_results_follow_accept_and_refuse_what_it_rules_out(
    running_gateway: Any, accept: str | None, expected: str | None
) -> None:
    """The weightiest acceptable format wins; a header that allows neither NDJSON nor CSV
    is a 406 problem, not a body the caller said it cannot read."""
    gw = running_gateway
    status, _, body = await _post(gw, batch_body(gw, ["FOUND-1"]))
    assert status == 202
    headers = gw.headers() if accept is None else gw.headers(Accept=accept)
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{gw.base_url}/v1/batches/{body['id']}/results", headers=headers) as reply,
    ):
        text = await reply.text()
        if expected is None:
            assert reply.status == 406, text
            assert json.loads(text)["code"] == "NOT_ACCEPTABLE"
        else:
            assert (reply.status, reply.content_type) == (200, expected), text
