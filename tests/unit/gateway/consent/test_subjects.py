"""Subject identifiers: normal form, check letters, pseudonyms."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.consent.subjects import InvalidSubjectError, normalise_subject, subject_pseudonym

LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


@pytest.mark.parametrize(
    ("written", "normal"),
    [
        ("12345678Z", "12345678Z"),
        ("12.345.678-z", "12345678Z"),
        (" 12345678 z ", "12345678Z"),
        ("\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff3a", "12345678Z"),  # full width
        ("1234567L", "01234567L"),  # a DNI written without its leading zero
        ("X1234567L", "X1234567L"),
        ("y-1234567-x", "Y1234567X"),
        ("Z1234567R", "Z1234567R"),
        ("K1234567L", "K1234567L"),
        ("PAB123456", "PAB123456"),  # a passport: no check letter to verify
    ],
)
def test_identifiers_normalise_to_one_form(written: str, normal: str) -> None:
    """Separators, case and width do not matter; DNIs are padded to 8 digits."""
    assert normalise_subject(written) == normal


@pytest.mark.parametrize("wrong", ["12345678A", "X1234567A", "Y1234567L", "K1234567A", "00000000A"])
def test_a_wrong_check_letter_is_refused(wrong: str) -> None:
    """A mistyped DNI/NIE is refused, and the message does not echo the identifier."""
    with pytest.raises(InvalidSubjectError, match="check letter") as caught:
        normalise_subject(wrong)
    assert wrong not in str(caught.value)


@pytest.mark.parametrize("bad", ["", "  ", "--", "12345678", "ABC@123", "x" * 65, "1234\u202e5"])
def test_malformed_identifiers_are_refused(bad: str) -> None:
    """Empty, letterless DNIs, symbols and over-long identifiers get a clear error."""
    with pytest.raises(InvalidSubjectError):
        normalise_subject(bad)


@given(st.integers(min_value=0, max_value=99_999_999))
def test_every_dni_with_its_letter_is_accepted(number: int) -> None:
    """The check letter is number mod 23 in the official table, for every number."""
    text = f"{number:08d}{LETTERS[number % 23]}"
    assert normalise_subject(text) == text
    wrong = LETTERS[(number + 1) % 23]
    with pytest.raises(InvalidSubjectError):
        normalise_subject(f"{number:08d}{wrong}")


def test_pseudonyms_depend_on_the_normal_form_and_the_key() -> None:
    """One person written two ways: one pseudonym; another key: another pseudonym."""
    key = b"k" * 32
    one = subject_pseudonym(key, "12.345.678-z")
    assert one == subject_pseudonym(key, "12345678Z")
    assert one != subject_pseudonym(b"j" * 32, "12345678Z")
    assert len(one) == 43
    assert "12345678" not in one
