"""The body of ``POST /v1/batches``, parsed strictly and validated whole.

The envelope's fields are ``ExchangeRequest``'s very fields (the same annotations and
validators, taken from that model, not copied); each item carries a subject, its data, an
optional consent reference and the caller's own reference. Every problem of the body is
collected with its JSON pointer (``/items/17/subject``), the list capped at
``MAX_PROBLEMS`` with the total in the detail, so one 400 says everything that is wrong.
Nothing here logs or echoes a value: items hold identifiers and personal data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from gateway.errors import FieldProblem, InvalidRequestError
from gateway.exchange_request import ExchangeRequest
from gateway.json_body import field_problems, load_json_object

__all__ = [
    "ENVELOPE_FIELDS",
    "ITEM_FIELDS",
    "MAX_PROBLEMS",
    "BatchProblems",
    "ParsedBatch",
    "item_request",
    "parse_batch_request",
]

MAX_PROBLEMS: Final = 100
"""At most this many problems are listed in one 400 (the detail gives the total)."""

ENVELOPE_FIELDS: Final = (
    "service",
    "version",
    "provider",
    "purpose",
    "procedure",
    "case_file",
    "official",
    "legal_basis",
)
ITEM_FIELDS: Final = ("subject", "data", "consent_ref")


def _field(name: str) -> Any:
    info = ExchangeRequest.model_fields[name]
    return (info.annotation, info)


BatchItemModel: type[BaseModel] = pydantic.create_model(
    "BatchItemModel",
    __config__=ConfigDict(frozen=True, extra="forbid", strict=True),
    item_ref=_field("consent_ref"),  # a code: safe in a CSV cell and a log line
    **{name: _field(name) for name in ITEM_FIELDS},
)
EnvelopeModel: type[BaseModel] = pydantic.create_model(
    "EnvelopeModel",
    __config__=ConfigDict(frozen=True, extra="forbid", strict=True),
    items=(list[Any], Field(min_length=1)),
    **{name: _field(name) for name in ENVELOPE_FIELDS},
)


class BatchProblems:
    """Problems collected over a whole batch: the first ``MAX_PROBLEMS`` and the total."""

    def __init__(self) -> None:
        self.listed: list[FieldProblem] = []
        self.total = 0

    def add(self, problems: Sequence[FieldProblem], prefix: str = "") -> None:
        for problem in problems:
            self.total += 1
            if len(self.listed) < MAX_PROBLEMS:
                self.listed.append(FieldProblem(prefix + problem.pointer, problem.message))

    def raise_any(self) -> None:
        """Raise the one 400 listing every problem (capped) if there is any."""
        if self.total == 0:
            return
        shown = "" if self.total <= MAX_PROBLEMS else f"; the first {MAX_PROBLEMS} are listed"
        raise InvalidRequestError(
            f"{self.total} problem(s) in the batch, nothing was accepted{shown}", self.listed
        )


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    """A batch whose envelope's form is valid: its envelope, its items, the problems of
    items whose form is not (the service adds the data's problems, then refuses or
    accepts the whole), the decoded document."""

    envelope: dict[str, Any]
    """The envelope fields that were given, as validated."""
    items: list[dict[str, Any] | None]
    """Per item: ``subject`` (normalised), ``data``, ``consent_ref``, ``item_ref``; None
    for an item whose form is invalid (its problems are in ``problems``)."""
    document: dict[str, Any]
    problems: BatchProblems


def parse_batch_request(body: bytes, *, max_items: int) -> ParsedBatch:
    """The batch's form: the envelope and every item checked, each problem with its pointer.

    An envelope problem is raised at once (400) with every item's form problem: without a
    valid envelope no item's data can be checked. Items' form problems are returned in
    ``problems``, so the caller lists them with the data's in one 400.
    """
    document = load_json_object(body)
    raw_items = document.get("items")
    if isinstance(raw_items, list) and len(raw_items) > max_items:
        raise InvalidRequestError(
            f"a batch holds at most {max_items} items",
            [FieldProblem("/items", f"at most {max_items} items; split the batch")],
        )
    problems = BatchProblems()
    envelope_ok = True
    try:
        envelope_model = EnvelopeModel.model_validate(document)
    except pydantic.ValidationError as exc:
        problems.add(field_problems(exc))
        envelope_ok = False
    items: list[dict[str, Any] | None] = []
    for index, raw in enumerate(raw_items if isinstance(raw_items, list) else []):
        try:
            items.append(BatchItemModel.model_validate(raw).model_dump())
        except pydantic.ValidationError as exc:
            problems.add(field_problems(exc, f"/items/{index}"))
            items.append(None)
    if not envelope_ok:
        problems.raise_any()
    values = envelope_model.model_dump()
    envelope = {name: values[name] for name in ENVELOPE_FIELDS if values[name] is not None}
    return ParsedBatch(envelope=envelope, items=items, document=document, problems=problems)


def item_request(envelope: dict[str, Any], item: dict[str, Any]) -> ExchangeRequest:
    """The exchange request of one item (its fields were validated by the same rules)."""
    fields = {**envelope, **{name: item.get(name) for name in ITEM_FIELDS}}
    return ExchangeRequest.model_construct(**fields)


def item_document(envelope: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """The document an item's exchange is digested from (its idempotency digest)."""
    document = dict(envelope)
    for name in ITEM_FIELDS:
        if item.get(name) is not None:
            document[name] = item[name]
    return document
