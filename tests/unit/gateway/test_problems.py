"""Problem details of the 503s that say why: the store's hides its cause, and the ones
that know when to come back say so in ``Retry-After``."""

from __future__ import annotations

import json

from gateway.errors import (
    BusRefusingWritesError,
    RateLimitedError,
    ServiceUnavailableError,
    StoreUnavailableError,
)
from gateway.problems import problem_body, problem_response

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


def test_retry_after_only_where_the_error_says_when() -> None:
    """429 keeps its Retry-After; a plain 503 has none (it cannot know when)."""
    limited = problem_response(RateLimitedError("slow down", 7))
    plain = problem_response(ServiceUnavailableError("the broker does not answer"))
    assert limited.headers["Retry-After"] == "7"
    assert "Retry-After" not in plain.headers
    assert json.loads(plain.text or "")["detail"] == "the broker does not answer"
