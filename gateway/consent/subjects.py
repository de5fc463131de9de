"""Subject identifiers for the gateway: the normal form and check letters live in
``contracts.subjects`` (the connectors re-check a request's subject with the same rules);
this module keeps the gateway's import path."""

from __future__ import annotations

from contracts.subjects import InvalidSubjectError, normalise_subject, subject_pseudonym

__all__ = ["InvalidSubjectError", "normalise_subject", "subject_pseudonym"]
