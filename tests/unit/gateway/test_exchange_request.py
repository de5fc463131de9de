"""Strict parsing of POST /v1/exchanges: JSON, fields, headers, pseudonyms."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.errors import InvalidRequestError, UnsupportedMediaTypeError
from gateway.exchange_request import (
    check_content_type,
    normalise_subject,
    parse_exchange_request,
    parse_idempotency_key,
    parse_prefer_wait,
    request_digest,
    subject_pseudonym,
)

VALID: dict[str, Any] = {
    "service": "tax.income-band",
    "version": "1",
    "subject": "12345678Z",
    "purpose": "social-benefits",
    "official": "official-42",
    "data": {"nif": "12345678Z", "fiscal_year": 2024},
}


def _pointers(body: Any) -> list[str]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(InvalidRequestError) as caught:
        parse_exchange_request(raw)
    return sorted(p.pointer for p in caught.value.problems)


def test_a_valid_body_parses_with_optional_fields_absent() -> None:
    """The minimal body is accepted; absent optional fields are None."""
    request, document = parse_exchange_request(json.dumps(VALID).encode())
    assert (request.service, request.version, request.provider) == ("tax.income-band", "1", None)
    assert request.data == {"nif": "12345678Z", "fiscal_year": 2024}
    assert document == VALID


@pytest.mark.parametrize(
    "raw",
    [b"{", b"[1, 2]", b'"text"', b"\xff\xfe", b'{"a": NaN}', b'{"a": 1, "a": 2}'],
    ids=["truncated", "array", "string", "not-utf8", "nan", "duplicate-key"],
)
def test_malformed_json_is_invalid_request(raw: bytes) -> None:
    """Broken JSON, non-objects, NaN and duplicated keys are 400s, never 500s."""
    with pytest.raises(InvalidRequestError):
        parse_exchange_request(raw)


def test_a_number_too_long_to_convert_is_named_in_our_words() -> None:
    """Python's own message names sys.set_int_max_str_digits(): not for a client."""
    with pytest.raises(InvalidRequestError) as raised:
        parse_exchange_request(b'{"a": ' + b"1" * 5000 + b"}")
    assert raised.value.message.endswith("a number has more than 4300 digits")
    assert "sys." not in raised.value.message


def test_every_field_problem_is_reported_with_its_pointer() -> None:
    """Wrong types, a missing official and an unknown field are listed together."""
    body = {**VALID, "version": 1, "data": [], "colour": "blue"}
    del body["official"]
    assert _pointers(body) == ["/colour", "/data", "/official", "/version"]


def test_codes_that_could_not_travel_in_a_header_are_refused() -> None:
    """Purpose, procedure and consent reference must be codes (no spaces, no controls)."""
    body = {**VALID, "purpose": "social benefits", "procedure": "a\nb", "consent_ref": ""}
    assert _pointers(body) == ["/consent_ref", "/procedure", "/purpose"]


def test_types_are_strict_no_coercion() -> None:
    """A number where text is expected is refused rather than silently converted."""
    assert _pointers({**VALID, "subject": 12345678}) == ["/subject"]


def test_content_type_must_be_json() -> None:
    """Anything but application/json is 415."""
    check_content_type("application/json")
    for other in ("text/plain", "application/x-www-form-urlencoded", ""):
        with pytest.raises(UnsupportedMediaTypeError):
            check_content_type(other)
    with pytest.raises(UnsupportedMediaTypeError, match="send the batch as application/json"):
        check_content_type("text/plain", "the batch")


def test_prefer_wait_is_parsed_and_capped() -> None:
    """RFC 7240 wait=N among other preferences; capped; absent or malformed gives None."""
    assert parse_prefer_wait("wait=5", cap_s=30) == 5
    assert parse_prefer_wait("respond-async, wait=10", cap_s=30) == 10
    assert parse_prefer_wait("WAIT = 7", cap_s=30) == 7
    assert parse_prefer_wait("wait=600", cap_s=30) == 30
    assert parse_prefer_wait("return=minimal", cap_s=30) is None
    assert parse_prefer_wait("wait=soon", cap_s=30) is None
    assert parse_prefer_wait(None, cap_s=30) is None


def test_idempotency_keys_are_bounded_visible_ascii() -> None:
    """Keys up to 200 visible ASCII characters pass; spaces, controls, overlong fail."""
    assert parse_idempotency_key("abc-123") == "abc-123"
    assert parse_idempotency_key(None) is None
    for bad in ("", "has space", "x" * 201, "tab\there"):
        with pytest.raises(InvalidRequestError):
            parse_idempotency_key(bad)


def test_batch_item_keys_are_reserved() -> None:
    """A caller cannot take the key the batch worker will give an item's exchange (and with
    it that exchange): keys starting with ``batch:`` are refused with a clear 400."""
    with pytest.raises(InvalidRequestError, match="reserved for batch items"):
        parse_idempotency_key("batch:01a2481c-0000-7000-8000-000000000000:7")
    assert parse_idempotency_key("batches-of-2026") == "batches-of-2026"


def test_digest_ignores_key_order_but_not_values() -> None:
    """The same body in another key order has the same digest; another value does not."""
    reordered = dict(reversed(list(VALID.items())))
    assert request_digest(VALID) == request_digest(reordered)
    assert request_digest(VALID) != request_digest({**VALID, "purpose": "scholarship"})


def test_pseudonyms_are_keyed_normalised_and_header_safe() -> None:
    """One subject written two ways gives one pseudonym; another key gives another."""
    key = b"k" * 32
    one = subject_pseudonym(key, "12345678-z")
    assert one == subject_pseudonym(key, " 12345678Z ")
    assert one != subject_pseudonym(b"j" * 32, "12345678Z")
    assert len(one) == 43
    assert "12345678" not in one
    assert normalise_subject("x-12.3 4") == "X1234"
