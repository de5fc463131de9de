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
        # Zeros beyond the width are the same number, not another identifier (they were
        # pseudonymised as a second person, escaping the citizen's opposition).
        ("001177200Z", "01177200Z"),
        ("0000000001177200Z", "01177200Z"),
        ("X00133176Y", "X0133176Y"),
        ("X133176Y", "X0133176Y"),  # an NIE written without its leading zero
        ("L0001234567L", "L1234567L"),
        ("k-0-1234567-l", "K1234567L"),
        ("123456789Z", "123456789Z"),  # nine significant digits: not a DNI
    ],
)
def test_identifiers_normalise_to_one_form(written: str, normal: str) -> None:
    """Separators, case and width do not matter; DNIs are padded to 8 digits."""
    assert normalise_subject(written) == normal


@pytest.mark.parametrize(
    "wrong",
    [
        "12345678A",
        "X1234567A",
        "Y1234567L",
        "K1234567A",
        "00000000A",
        "001177200A",  # padded with a wrong letter: was accepted as another identifier
        "X00133176A",
    ],
)
def test_a_wrong_check_letter_is_refused(wrong: str) -> None:
    """A mistyped DNI/NIE is refused, and the message does not echo the identifier."""
    with pytest.raises(InvalidSubjectError, match="check letter") as caught:
        normalise_subject(wrong)
    assert wrong not in str(caught.value)


@pytest.mark.parametrize(
    "bad", ["", "  ", "--", "12345678", "0012345678", "ABC@123", "x" * 65, "1234\u202e5"]
)
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


@given(st.integers(min_value=0, max_value=99_999_999), st.integers(min_value=1, max_value=8))
def test_extra_leading_zeros_never_make_another_person(number: int, zeros: int) -> None:
    """However many zeros lead a DNI, it is the same person (one pseudonym), and its check
    letter is still verified."""
    normal = f"{number:08d}{LETTERS[number % 23]}"
    assert normalise_subject("0" * zeros + normal) == normal
    with pytest.raises(InvalidSubjectError):
        normalise_subject("0" * zeros + f"{number:08d}{LETTERS[(number + 1) % 23]}")


def test_pseudonyms_depend_on_the_normal_form_and_the_key() -> None:
    """One person written two ways: one pseudonym; another key: another pseudonym."""
    key = b"k" * 32
    one = subject_pseudonym(key, "12.345.678-z")
    assert one == subject_pseudonym(key, "12345678Z")
    assert one != subject_pseudonym(b"j" * 32, "12345678Z")
    assert len(one) == 43
    assert "12345678" not in one
