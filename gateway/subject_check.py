"""The data names the subject: the check that ties consent to the data that is sent.

Consent, oppositions and the audit are decided and written for the request's ``subject``;
the provider looks up whoever the data's subject fields name (``subject_fields`` in the
contract). Without this check a caller could name a consenting person as ``subject`` and
ask for someone else's data. Every subject field must hold a valid identifier that is the
same person as ``subject`` once both are normalised; otherwise the request is a 400 with
a pointer to the field, and the identifier is never echoed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contracts import ContractVersion, InvalidSubjectError, normalise_subject, subject_values
from gateway.errors import FieldProblem, InvalidRequestError, SubjectMismatchError

__all__ = ["check_data_subject"]


def check_data_subject(version: ContractVersion, data: Mapping[str, Any], subject: str) -> None:
    """Raise unless every subject field of ``data`` names ``subject`` (already normal)."""
    for pointer, value in subject_values(data, version.meta.subject_fields):
        where = "/data" + pointer
        if not isinstance(value, str):
            # Absent or of another type: the request schema's check reports it with every
            # other problem of the data, and nothing is sent without it.
            continue
        try:
            named = normalise_subject(value)
        except InvalidSubjectError as exc:
            raise InvalidRequestError(
                "data names no valid identifier", [FieldProblem(where, str(exc))]
            ) from None
        if named != subject:
            raise SubjectMismatchError(
                "data must be about the request's subject: consent is decided for it",
                [FieldProblem(where, "must name the same person as /subject")],
            )
