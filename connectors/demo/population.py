"""A deterministic synthetic population for the demo registries.

``generate_population(count, seed)`` always returns the same people for the same
arguments: identity documents with valid check letters (DNI: eight digits and the letter
of the number modulo 23; NIE: X/Y/Z, seven digits and the letter computed with X=0,
Y=1, Z=2 prefixed), social-security numbers (NAF) with their two check digits, real INE
municipality codes, Spanish-looking names and addresses, employment and income data for
three fiscal years. Nobody in it exists; no identifier is anyone's real one by design,
but DNIs can collide with real ones by chance, as any synthetic data set's do.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final, Literal

from connectors.demo.places import (
    FEMALE_NAMES,
    MALE_NAMES,
    MUNICIPALITIES,
    STREETS,
    SURNAMES,
    Municipality,
)

__all__ = [
    "DNI_LETTERS",
    "FISCAL_YEARS",
    "IPREM_ANNUAL_EUR",
    "Employment",
    "IncomeYear",
    "Person",
    "dni_letter",
    "generate_population",
    "income_band_code",
    "is_valid_document",
    "naf_check_digits",
]

DNI_LETTERS: Final = "TRWAGMYFPDXBNJZSQVHLCKE"
FISCAL_YEARS: Final = (2022, 2023, 2024)
IPREM_ANNUAL_EUR: Final = 8400
"""IPREM in 14 payments (2024), the yardstick of the income bands."""
_TODAY: Final = date(2026, 1, 1)
"""Reference date of the data, fixed so the data set never changes with the clock."""

DocumentType = Literal["DNI", "NIE"]
EmploymentStatus = Literal["EMPLOYED", "SELF_EMPLOYED", "UNEMPLOYED", "NOT_AFFILIATED"]


def dni_letter(number: int) -> str:
    """The check letter of a DNI number (also of a NIE with its X/Y/Z digit)."""
    return DNI_LETTERS[number % 23]


def is_valid_document(document_type: str, document: str) -> bool:
    """Whether a DNI or NIE has the right shape and check letter."""
    if document_type == "DNI" and len(document) == 9 and document[:8].isdigit():
        return document[8] == dni_letter(int(document[:8]))
    if document_type == "NIE" and len(document) == 9 and document[0] in "XYZ":
        digits = str("XYZ".index(document[0])) + document[1:8]
        return digits.isdigit() and document[8] == dni_letter(int(digits))
    return False


def naf_check_digits(province: int, number: int) -> str:
    """The two check digits of a social-security number (NAF): (PP NNNNNNNN) mod 97."""
    base = province * 10**8 + number if number >= 10**7 else province * 10**7 + number
    return f"{base % 97:02d}"


@dataclass(frozen=True, slots=True)
class Employment:
    """Affiliation to social security on the data's reference date."""

    status: EmploymentStatus
    regime: str | None
    """GENERAL, SELF_EMPLOYED, AGRICULTURAL, SEA_WORKERS, DOMESTIC or None."""
    since: date | None
    employers: int | None


@dataclass(frozen=True, slots=True)
class IncomeYear:
    """One fiscal year's income tax return (or its absence)."""

    year: int
    filed: bool
    income_eur: int | None
    joint: bool | None


@dataclass(frozen=True, slots=True)
class Person:
    """One synthetic resident."""

    document_type: DocumentType
    document_number: str
    given_name: str
    surname1: str
    surname2: str
    sex: Literal["F", "M"]
    birth_date: date
    municipality: Municipality
    street: str
    street_number: str
    postal_code: str
    registered_since: date
    household_size: int
    naf: str
    employment: Employment
    income: tuple[IncomeYear, ...]


def generate_population(count: int = 3000, seed: int = 20260301) -> list[Person]:
    """``count`` people, the same ones for the same ``seed``."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, reproducible on purpose
    seen: set[str] = set()
    people: list[Person] = []
    weights = [m.weight for m in MUNICIPALITIES]
    while len(people) < count:
        document_type: DocumentType = "NIE" if rng.random() < 0.12 else "DNI"
        document = _document(rng, document_type)
        if document in seen:
            continue
        seen.add(document)
        people.append(_person(rng, document_type, document, weights))
    return people


def _document(rng: random.Random, document_type: DocumentType) -> str:
    if document_type == "DNI":
        number = rng.randrange(1_000_000, 99_999_999)
        return f"{number:08d}{dni_letter(number)}"
    prefix = rng.choice("XYZ")
    number = rng.randrange(0, 9_999_999)
    return f"{prefix}{number:07d}{dni_letter(int(str('XYZ'.index(prefix)) + f'{number:07d}'))}"


def _person(
    rng: random.Random, document_type: DocumentType, document: str, weights: list[int]
) -> Person:
    sex: Literal["F", "M"] = rng.choice(("F", "M"))
    municipality = rng.choices(MUNICIPALITIES, weights)[0]
    birth = _TODAY - timedelta(days=rng.randrange(18 * 365, 90 * 365))
    adult_since = birth + timedelta(days=18 * 365)
    registered = adult_since + timedelta(days=rng.randrange(0, max(1, (_TODAY - adult_since).days)))
    province = int(municipality.code[:2])
    naf_number = rng.randrange(10_000_000, 99_999_999)
    age = (_TODAY - birth).days // 365
    employment = _employment(rng, age, adult_since)
    return Person(
        document_type=document_type,
        document_number=document,
        given_name=rng.choice(FEMALE_NAMES if sex == "F" else MALE_NAMES),
        surname1=rng.choice(SURNAMES),
        surname2=rng.choice(SURNAMES),
        sex=sex,
        birth_date=birth,
        municipality=municipality,
        street=rng.choice(STREETS),
        street_number=str(rng.randrange(1, 180)) + rng.choice(("", "", "", "", "B", "A")),
        postal_code=f"{province:02d}{rng.randrange(0, 80):03d}",
        registered_since=registered,
        household_size=rng.choices((1, 2, 3, 4, 5, 6), (22, 30, 21, 18, 6, 3))[0],
        naf=f"{province:02d}{naf_number:08d}{naf_check_digits(province, naf_number)}",
        employment=employment,
        income=tuple(_income(rng, year, employment) for year in FISCAL_YEARS),
    )


_REGIMES: Final = (("GENERAL", 80), ("AGRICULTURAL", 8), ("DOMESTIC", 7), ("SEA_WORKERS", 5))


def _employment(rng: random.Random, age: int, adult_since: date) -> Employment:
    if age >= 67:
        return Employment("NOT_AFFILIATED", None, None, None)
    roll = rng.random()
    start = adult_since + timedelta(days=rng.randrange(0, max(1, (_TODAY - adult_since).days)))
    if roll < 0.66:
        regime = rng.choices([r for r, _ in _REGIMES], [w for _, w in _REGIMES])[0]
        employers = 1 if rng.random() < 0.93 else rng.randrange(2, 4)
        return Employment("EMPLOYED", regime, start, employers)
    if roll < 0.78:
        return Employment("SELF_EMPLOYED", "SELF_EMPLOYED", start, None)
    if roll < 0.9:
        return Employment("UNEMPLOYED", None, start, None)
    return Employment("NOT_AFFILIATED", None, None, None)


def _income(rng: random.Random, year: int, employment: Employment) -> IncomeYear:
    if rng.random() < 0.12:
        return IncomeYear(year, False, None, None)
    base = {"EMPLOYED": 26_000, "SELF_EMPLOYED": 22_000, "UNEMPLOYED": 7_000}.get(
        employment.status, 12_000
    )
    income = max(0, int(rng.lognormvariate(0, 0.55) * base))
    return IncomeYear(year, True, income, rng.random() < 0.18)


def income_band_code(income: IncomeYear) -> str:
    """The tax agency's band code: 1 (< 1 IPREM) to 4 (> 3 IPREM); blank when not filed."""
    if not income.filed or income.income_eur is None:
        return ""
    multiple = income.income_eur / IPREM_ANNUAL_EUR
    return "1" if multiple < 1 else "2" if multiple < 2 else "3" if multiple <= 3 else "4"
