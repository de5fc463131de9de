"""The subject binding and the gateway's data/subject check agree on who a request is about.

Property: for any two valid identifiers written in any accepted form (case, dots,
hyphens, spaces), the gateway lets the request through exactly when both name the same
person, and the connector's re-check of what the gateway bound accepts exactly the data
the gateway accepted: no subject/data mismatch ever reaches a registry.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus import check_subject_binding, subject_binding
from contracts import load_catalogue, normalise_subject
from gateway.errors import InvalidRequestError, SubjectMismatchError
from gateway.subject_check import check_data_subject

KEY = b"k" * 32
EXCHANGE = "01a24622-ec5e-7233-9805-a5d4245b672c"
_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_TAX = load_catalogue().services["tax.income-band"].versions[-1]
_REGISTER_2 = load_catalogue().services["register.residence-certificate"].versions[-1]


@st.composite
def dni(draw: Any) -> str:
    number = draw(st.integers(min_value=0, max_value=99_999_999))
    return f"{number:08d}{_LETTERS[number % 23]}"


@st.composite
def written(draw: Any, identifier: str) -> str:
    """``identifier`` as a person might type it: any case, with separators."""
    chars = [c.lower() if draw(st.booleans()) else c for c in identifier]
    out = ""
    for c in chars:
        out += c + draw(st.sampled_from(["", "", "", ".", "-", " "]))
    return out


@given(st.data(), dni(), dni(), st.booleans())
def test_the_gateway_accepts_exactly_the_same_person(
    data: Any, a: str, other: str, same: bool
) -> None:
    """Two identifiers, any spelling: 400 SUBJECT_MISMATCH iff they name different people."""
    b = a if same else other
    subject = normalise_subject(data.draw(written(a)))
    named = data.draw(written(b))
    if normalise_subject(named) == subject:
        check_data_subject(_TAX, {"nif": named, "fiscal_year": 2024}, subject)
    else:
        with pytest.raises(SubjectMismatchError) as raised:
            check_data_subject(_TAX, {"nif": named, "fiscal_year": 2024}, subject)
        assert [p.pointer for p in raised.value.problems] == ["/data/nif"]


@given(st.data(), dni(), dni())
def test_the_connector_accepts_exactly_what_the_gateway_bound(data: Any, a: str, b: str) -> None:
    """The binding made for the subject verifies the decoded data iff it names that person."""
    subject = data.draw(written(a))
    binding = subject_binding(KEY, EXCHANGE, subject)
    decoded = {"subject": {"document_type": "DNI", "document_number": data.draw(written(b))}}
    mismatch = check_subject_binding(
        KEY, EXCHANGE, binding, decoded, _REGISTER_2.meta.subject_fields
    )
    if normalise_subject(a) == normalise_subject(b):
        assert mismatch is None
    else:
        assert mismatch is not None
        assert (mismatch.pointer, mismatch.reason) == (
            "/subject/document_number",
            "SUBJECT_MISMATCH",
        )


def test_the_binding_is_keyed_and_tied_to_the_exchange() -> None:
    """Another key or another exchange id gives another binding (no replay, no guess)."""
    bound = subject_binding(KEY, EXCHANGE, "12345678Z")
    assert bound == subject_binding(KEY, EXCHANGE, "12.345.678-z")
    assert bound != subject_binding(b"x" * 32, EXCHANGE, "12345678Z")
    assert bound != subject_binding(KEY, EXCHANGE[:-1] + "d", "12345678Z")
    assert "12345678" not in bound


def test_missing_binding_or_field_and_malformed_identifiers_are_refused() -> None:
    """No binding, no subject field, a control character or a wrong check letter."""
    bound = subject_binding(KEY, EXCHANGE, "12345678Z")
    paths = ("nif",)
    assert check_subject_binding(KEY, EXCHANGE, None, {"nif": "12345678Z"}, paths) is not None
    missing = check_subject_binding(KEY, EXCHANGE, bound, {}, paths)
    assert missing is not None
    assert missing.reason == "SUBJECT_FIELD_MISSING"
    for bad in ("12345678Z\x00", "12345678A"):
        invalid = check_subject_binding(KEY, EXCHANGE, bound, {"nif": bad}, paths)
        assert invalid is not None
        assert invalid.reason == "SUBJECT_FIELD_INVALID"


def test_a_control_character_in_the_data_subject_is_a_400_not_a_provider_error() -> None:
    """The gateway refuses a malformed subject field itself (it used to reach the provider)."""
    with pytest.raises(InvalidRequestError) as raised:
        check_data_subject(_TAX, {"nif": "12345678Z\x07", "fiscal_year": 2024}, "12345678Z")
    assert not isinstance(raised.value, SubjectMismatchError)
    assert [p.pointer for p in raised.value.problems] == ["/data/nif"]
    assert "12345678" not in str(raised.value)
