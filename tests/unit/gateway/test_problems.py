"""Problem details of the 503s that say why: the store's hides its cause, and the ones
that know when to come back say so in ``Retry-After``."""

from __future__ import annotations

import json
from typing import Any

from gateway.errors import (
    BusRefusingWritesError,
    NotFoundError,
    RateLimitedError,
    ServiceUnavailableError,
    StoreUnavailableError,
)
from gateway.problems import ServerFailureLog, problem_body, problem_response

_CAUSE = (
    "the PostgreSQL exchange store postgresql://interop:***@10.0.0.7:5432/gateway could "
    "not create an exchange: ConnectionRefusedError: [Errno 111] Connect call failed"
)


def test_a_store_outage_shows_callers_a_fixed_sentence_not_the_database() -> None:
    """The cause (store URL, host, user, driver text) stays in the message for operators;
    the problem's detail names none of it and says the same key may be retried."""
    error = StoreUnavailableError(_CAUSE)
    body = problem_body(error, instance="/v1/exchanges")
    assert error.message == _CAUSE
    assert (body["status"], body["code"], body["title"]) == (
        503,
        "STORE_UNAVAILABLE",
        "Store unavailable",
    )
    for leaked in ("postgresql", "10.0.0.7", "interop:", "ConnectionRefused", "5432"):
        assert leaked not in json.dumps(body)
    assert "Idempotency-Key" in body["detail"]
    assert error.retriable
    assert isinstance(error, ServiceUnavailableError)


def test_refusing_partitions_answer_503_with_retry_after() -> None:
    """The bus refusing writes is a 503 with its own code and a Retry-After of at least 1 s."""
    response = problem_response(BusRefusingWritesError("the bus refuses writes", 0))
    body = json.loads(response.text or "")
    assert (response.status, body["code"]) == (503, "BUS_REFUSING_WRITES")
    assert body["title"] == "The bus refuses writes"
    assert response.headers["Retry-After"] == "1"


def test_retry_after_where_the_error_says_when() -> None:
    """429 keeps its Retry-After; a plain 503 (the broker or the audit trail down) hints
    5 s, which is when the gateway's own checks look again; a 4xx has none."""
    limited = problem_response(RateLimitedError("slow down", 7))
    plain = problem_response(ServiceUnavailableError("the broker does not answer"))
    refused = problem_response(NotFoundError("no such exchange"))
    assert limited.headers["Retry-After"] == "7"
    assert plain.headers["Retry-After"] == "5"
    assert "Retry-After" not in refused.headers
    assert json.loads(plain.text or "")["detail"] == "the broker does not answer"


def test_server_failures_are_logged_with_the_operators_message_throttled_per_code() -> None:
    """A 5xx is logged with the message callers do not see (the store's driver text):
    the first of a code at once, then one line per code per window, counting the rest."""
    now = [100.0]
    logs: list[dict[str, Any]] = []

    class _Log:
        def warning(self, event: str, **fields: Any) -> None:
            logs.append({"event": event, **fields})

    failures = ServerFailureLog(window_s=5.0, clock=lambda: now[0], log=_Log())
    store = StoreUnavailableError("store 'gateway.db' could not create: readonly database")
    for _ in range(3):
        failures.failed(store)
    failures.failed(ServiceUnavailableError("the audit trail is unavailable"))
    now[0] += 5.0
    failures.failed(store)
    lines = [(e["error_code"], e["suppressed"], e["error"]) for e in logs]
    assert lines == [
        ("STORE_UNAVAILABLE", 0, "store 'gateway.db' could not create: readonly database"),
        ("SERVICE_UNAVAILABLE", 0, "the audit trail is unavailable"),
        ("STORE_UNAVAILABLE", 2, "store 'gateway.db' could not create: readonly database"),
    ]
    assert {e["event"] for e in logs} == {"request_failed"}
