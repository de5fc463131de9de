"""Typed identifiers and the UUIDv7 generator."""

from __future__ import annotations

import time
import uuid

import pytest

from bus import (
    InvalidIdentifierError,
    new_exchange_id,
    parse_exchange_id,
    parse_gateway_group_id,
    parse_member_id,
    parse_service_id,
    uuid7,
)
from bus.ids import parse_major_version


@pytest.mark.parametrize(
    "text", ["register.residence-certificate", "tax.income-2024", "a.b", "social-security.x9"]
)
def test_valid_service_ids_are_accepted(text: str) -> None:
    """<domain>.<service> with [a-z][a-z0-9-]* segments parses to itself."""
    assert parse_service_id(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "register",
        "register.residence.certificate",
        "Register.x",
        "register.9lives",
        "register..x",
        ".register.x",
        "register.x_y",
        "register.résidence",
        "register.x\n",
        "a." + "b" * 250,
    ],
)
def test_invalid_service_ids_are_refused(text: str) -> None:
    """Anything but two lowercase segments is an InvalidIdentifierError, not a ValueError."""
    with pytest.raises(InvalidIdentifierError):
        parse_service_id(text)


@pytest.mark.parametrize("text", ["es.aeat", "es", "eu.oots.node-1", "8000.town-hall"])
def test_valid_member_and_gateway_group_ids(text: str) -> None:
    """Lowercase letters, digits, dots and hyphens in dot-separated segments."""
    assert parse_member_id(text) == text
    assert parse_gateway_group_id(text) == text


@pytest.mark.parametrize(
    "text", ["", "ES.aeat", "es..aeat", "es.", ".es", "-es", "es.-x", "es aeat"]
)
def test_invalid_member_and_gateway_group_ids(text: str) -> None:
    """Empty segments, uppercase, leading hyphens and spaces are refused."""
    with pytest.raises(InvalidIdentifierError):
        parse_member_id(text)
    with pytest.raises(InvalidIdentifierError):
        parse_gateway_group_id(text)


@pytest.mark.parametrize("text", ["0", "01", "-1", "+1", "1.0", "\u0661", "10000", ""])
def test_invalid_major_versions(text: str) -> None:
    """Major versions are plain positive decimals without leading zeros (and bounded)."""
    with pytest.raises(InvalidIdentifierError):
        parse_major_version(text)


def test_uuid7_has_version_variant_and_current_timestamp() -> None:
    """The generated id is RFC 9562 version 7 and its 48-bit prefix is now in milliseconds."""
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before <= value.int >> 80 <= after + 1


def test_uuid7_is_monotonic_within_a_process() -> None:
    """Ids generated in a burst sort in creation order and never repeat."""
    ids = [uuid7() for _ in range(20_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_exchange_ids_parse_and_foreign_uuids_are_refused() -> None:
    """A fresh exchange id parses; a UUIDv4, upper case and junk do not."""
    fresh = new_exchange_id()
    assert parse_exchange_id(fresh) == fresh
    for bad in (str(uuid.uuid4()), fresh.upper(), fresh.replace("-", ""), "x"):
        with pytest.raises(InvalidIdentifierError):
            parse_exchange_id(bad)
