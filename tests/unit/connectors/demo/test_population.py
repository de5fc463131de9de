"""The synthetic population: valid check letters and digits, and the same people every time."""

from __future__ import annotations

from datetime import date

import pytest

from connectors.demo import dni_letter, generate_population, is_valid_document
from connectors.demo.places import MUNICIPALITIES
from connectors.demo.population import (
    FISCAL_YEARS,
    IncomeYear,
    income_band_code,
    naf_check_digits,
)

PEOPLE = generate_population(2000)


def test_known_check_letters() -> None:
    """Published examples: 12345678Z, 00000000T, NIE X1234567L (X counts as 0)."""
    assert dni_letter(12345678) == "Z"
    assert dni_letter(0) == "T"
    assert is_valid_document("DNI", "12345678Z")
    assert is_valid_document("NIE", "X1234567L")
    assert not is_valid_document("DNI", "12345678A")
    assert not is_valid_document("NIE", "A1234567L")
    assert not is_valid_document("PASSPORT", "12345678Z")


def test_every_document_has_a_valid_check_letter_and_is_unique() -> None:
    """DNIs and NIEs of the whole population validate and never repeat."""
    assert all(is_valid_document(p.document_type, p.document_number) for p in PEOPLE)
    assert len({p.document_number for p in PEOPLE}) == len(PEOPLE)
    kinds = {p.document_type for p in PEOPLE}
    assert kinds == {"DNI", "NIE"}


def test_same_seed_same_people_other_seed_other_people() -> None:
    """Determinism is what lets `interop dev` print working example subjects."""
    assert generate_population(50) == PEOPLE[:50]
    other = generate_population(50, seed=7)
    assert [p.document_number for p in other] != [p.document_number for p in PEOPLE[:50]]


def test_places_are_consistent() -> None:
    """INE codes are 5 digits from the list; postal codes start with the province."""
    codes = {m.code for m in MUNICIPALITIES}
    for person in PEOPLE:
        assert person.municipality.code in codes
        assert len(person.postal_code) == 5
        assert person.postal_code[:2] == person.municipality.code[:2]
        assert person.street
    assert len({p.municipality.code for p in PEOPLE}) > 20


def test_social_security_numbers_carry_their_check_digits() -> None:
    """NAF = province (2) + number (8) + (province·10^8 + number) mod 97."""
    for person in PEOPLE:
        province, number, check = person.naf[:2], person.naf[2:10], person.naf[10:]
        assert check == naf_check_digits(int(province), int(number))
    assert naf_check_digits(28, 12345678) == f"{2812345678 % 97:02d}"


def test_dates_and_work_are_plausible() -> None:
    """Adults only; registered after turning 18; retirees not affiliated; 3 fiscal years."""
    reference = date(2026, 1, 1)
    statuses = {p.employment.status for p in PEOPLE}
    assert statuses == {"EMPLOYED", "SELF_EMPLOYED", "UNEMPLOYED", "NOT_AFFILIATED"}
    for person in PEOPLE:
        assert (reference - person.birth_date).days >= 18 * 365
        assert person.birth_date < person.registered_since <= reference
        assert [y.year for y in person.income] == list(FISCAL_YEARS)
        if person.employment.status == "EMPLOYED":
            assert person.employment.regime is not None
            assert person.employment.employers
        if person.employment.status == "NOT_AFFILIATED":
            assert person.employment.regime is None


@pytest.mark.parametrize(
    ("income", "code"),
    [(None, ""), (0, "1"), (8399, "1"), (8400, "2"), (16_800, "3"), (25_200, "3"), (25_201, "4")],
)
def test_income_band_codes_follow_the_iprem(income: int | None, code: str) -> None:
    """Bands are multiples of the 8,400 EUR IPREM; no return, no band."""
    year = IncomeYear(2024, income is not None, income, False)
    assert income_band_code(year) == code
