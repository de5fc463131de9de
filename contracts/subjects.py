"""Subject identifiers: one normal form each, a verified check letter, the pseudonym, and
where a request's data names its subject.

A consent registered for ``12.345.678-z`` must match a request about ``12345678Z``, so
every identifier is normalised before it is pseudonymised: NFKC, upper case, separators
(spaces, dots, hyphens, slashes) removed. Spanish identifiers are recognised by shape and
their check letter verified (Real Decreto 1553/2005 for the DNI/NIF; Orden
INT/2058/2008 for the NIE), because a mistyped digit would otherwise create a pseudonym
nobody's consent is registered under, and a request about the wrong person:

* DNI / NIF of a national: 8 digits (fewer are left-padded with zeros) + letter, the
  letter ``TRWAGMYFPDXBNJZSQVHLCKE[number mod 23]``;
* NIE: ``X``/``Y``/``Z`` + 7 digits + letter, the prefix read as 0/1/2;
* NIF ``K``/``L``/``M`` (minors, non-residents without NIE): letter + 7 digits + letter.

Each number is brought to its width: fewer digits are left-padded with zeros, and leading
zeros beyond it are dropped (``001177200Z`` is ``01177200Z``, ``X133176Y`` is
``X0133176Y``). Otherwise one person written with a zero too many or too few would fall
through to "any other identifier", skip the check letter and be pseudonymised as a second
person, whose oppositions and consents are not the citizen's.

Any other identifier (a passport number, an EU national id) is accepted as 1 to 64 letters
and digits once normalised. Nothing here logs or echoes an identifier: error messages say
what is wrong, never the value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from base64 import urlsafe_b64encode
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from contracts.errors import ContractError

__all__ = [
    "InvalidSubjectError",
    "normalise_subject",
    "subject_pseudonym",
    "subject_values",
]

_CHECK_LETTERS: Final = "TRWAGMYFPDXBNJZSQVHLCKE"
_SEPARATORS: Final = frozenset(" .-/\t")
# Extra leading zeros (``0*``) belong to the same number: ``001177200Z`` is ``01177200Z``,
# not an "other" identifier that escapes the check letter and names a second person.
_DNI_RE: Final = re.compile(r"0*(?P<number>[0-9]{1,8})(?P<letter>[A-Z])")
_NIE_RE: Final = re.compile(r"(?P<prefix>[XYZ])0*(?P<number>[0-9]{1,7})(?P<letter>[A-Z])")
_KLM_RE: Final = re.compile(r"(?P<prefix>[KLM])0*(?P<number>[0-9]{1,7})(?P<letter>[A-Z])")
_OTHER_RE: Final = re.compile(r"[A-Z0-9]{1,64}")
_NIE_PREFIX: Final = {"X": "0", "Y": "1", "Z": "2"}


class InvalidSubjectError(ContractError, ValueError):
    """The identifier is malformed or its check letter is wrong (the message never holds it).

    A ``ValueError`` too, so pydantic reports it as a field problem with a pointer.
    """

    code = "CONTRACT_SUBJECT_INVALID"


def _check(number: str, letter: str, kind: str) -> None:
    if _CHECK_LETTERS[int(number) % 23] != letter:
        raise InvalidSubjectError(f"the {kind} check letter does not match its number")


def normalise_subject(text: str) -> str:
    """The one form of ``text``; ``InvalidSubjectError`` if malformed or wrongly lettered."""
    folded = unicodedata.normalize("NFKC", text).upper()
    compact = "".join(c for c in folded if c not in _SEPARATORS and not c.isspace())
    if not compact:
        raise InvalidSubjectError("the subject identifier is empty")
    if (match := _NIE_RE.fullmatch(compact)) is not None:
        number = match["number"].zfill(7)
        _check(_NIE_PREFIX[match["prefix"]] + number, match["letter"], "NIE")
        return match["prefix"] + number + match["letter"]
    if (match := _KLM_RE.fullmatch(compact)) is not None:
        number = match["number"].zfill(7)
        _check(number, match["letter"], "NIF")
        return match["prefix"] + number + match["letter"]
    if (match := _DNI_RE.fullmatch(compact)) is not None:
        number = match["number"].zfill(8)
        _check(number, match["letter"], "DNI/NIF")
        return number + match["letter"]
    if _OTHER_RE.fullmatch(compact) is None:
        raise InvalidSubjectError(
            "a subject identifier is 1 to 64 letters and digits (separators are ignored)"
        )
    if compact.isdigit() and len(compact.lstrip("0")) <= 8:  # 0012345678 is a DNI too
        raise InvalidSubjectError("a DNI/NIF needs its check letter")
    return compact


def subject_pseudonym(key: bytes, subject: str) -> str:
    """HMAC-SHA-256 of the normalised identifier, base64url without padding (43 chars).

    Keyed, not a plain hash: national ids have too little entropy to survive a
    brute-force guess of an unkeyed digest. The same key as the exchanges', so a consent
    and a request about one person meet under one pseudonym.
    """
    normal = normalise_subject(subject)
    digest = hmac.new(key, normal.encode("utf-8"), hashlib.sha256).digest()
    return urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def subject_values(data: Mapping[str, Any], paths: Iterable[str]) -> Iterator[tuple[str, object]]:
    """(JSON pointer, value) of each subject field (dotted ``paths``, as the contract names
    them) in a request's ``data``; a missing field yields ``None`` as its value.

    Works on the JSON document the gateway receives and on the datum the connector decodes
    (both are nested mappings), so both ends read the subject from the same place.
    """
    for path in paths:
        node: object = data
        for name in path.split("."):
            node = node.get(name) if isinstance(node, Mapping) else None
        yield "/" + path.replace(".", "/"), node
