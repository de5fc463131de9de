"""The batch body's form: every problem with its pointer, the cap, the item requests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.batches.request import (
    MAX_PROBLEMS,
    BatchProblems,
    item_document,
    item_request,
    parse_batch_request,
)
from gateway.errors import FieldProblem, InvalidRequestError


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "service": "register.residence-certificate",
        "version": "1",
        "purpose": "social-benefits",
        "official": "official-42",
        "items": [
            {"subject": "12345678Z", "data": {"document_number": "12345678Z"}, "item_ref": "a-1"}
        ],
    }
    body.update(changes)
    return body


def _refusal(body: dict[str, Any], max_items: int = 100) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as caught:
        parse_batch_request(json.dumps(body).encode(), max_items=max_items)
    return caught.value


def test_a_valid_batch_parses_with_normalised_subjects() -> None:
    """The envelope keeps given fields only; subjects are normalised as for exchanges."""
    parsed = parse_batch_request(
        json.dumps(
            _body(items=[{"subject": " 12345678z ", "data": {}, "consent_ref": "c-1"}])
        ).encode(),
        max_items=10,
    )
    assert parsed.envelope == {
        "service": "register.residence-certificate",
        "version": "1",
        "purpose": "social-benefits",
        "official": "official-42",
    }
    assert parsed.items[0]["subject"] == "12345678Z"
    request = item_request(parsed.envelope, parsed.items[0])
    assert request.subject == "12345678Z"
    assert request.consent_ref == "c-1"
    assert request.official == "official-42"
    assert item_document(parsed.envelope, parsed.items[0])["consent_ref"] == "c-1"


def test_every_bad_item_is_listed_by_pointer() -> None:
    """Envelope and item problems come together, each at its own pointer, no value echoed."""
    error = _refusal(
        _body(
            official="12345678Z",
            items=[
                {"subject": "12345678Z", "data": {}},
                {"subject": "", "data": {}},
                {"subject": "12345678Z", "data": []},
                {"subject": "12345678Z", "data": {}, "surname": "x"},
                {"subject": "12345678Z", "data": {}, "item_ref": "=cmd()"},
            ],
        )
    )
    pointers = [p.pointer for p in error.problems]
    assert sorted(pointers) == [
        "/items/1/subject",
        "/items/2/data",
        "/items/3/surname",
        "/items/4/item_ref",
        "/official",
    ]
    assert "12345678Z" not in str(error) + "".join(p.message for p in error.problems)
    assert "5 problem(s)" in str(error)


def test_an_item_that_is_not_an_object_says_so_in_the_callers_words() -> None:
    """Not "a valid dictionary or instance of BatchItemModel": no class of ours is named."""
    parsed = parse_batch_request(json.dumps(_body(items=[1, "a", None, []])).encode(), max_items=9)
    assert {(p.pointer, p.message) for p in parsed.problems.listed} == {
        (f"/items/{i}", "expected an object") for i in range(4)
    }


def test_too_many_items_is_refused_before_validating_them() -> None:
    """A batch over the limit is one problem at /items."""
    error = _refusal(_body(items=[{"subject": "x"}] * 11), max_items=10)
    assert [p.pointer for p in error.problems] == ["/items"]
    assert "at most 10" in str(error)


def test_an_empty_batch_is_refused() -> None:
    """No items: a problem at /items."""
    error = _refusal(_body(items=[]))
    assert [p.pointer for p in error.problems] == ["/items"]


def test_the_problem_list_is_capped_with_the_total_in_the_detail() -> None:
    """Past MAX_PROBLEMS the list stops; the detail still counts every problem."""
    problems = BatchProblems()
    for index in range(MAX_PROBLEMS + 50):
        problems.add([FieldProblem("/data/x", "bad")], f"/items/{index}")
    with pytest.raises(InvalidRequestError) as caught:
        problems.raise_any()
    assert len(caught.value.problems) == MAX_PROBLEMS
    assert caught.value.problems[-1].pointer == f"/items/{MAX_PROBLEMS - 1}/data/x"
    assert f"{MAX_PROBLEMS + 50} problem(s)" in str(caught.value)


def test_no_problem_raises_nothing() -> None:
    """An empty collection passes."""
    BatchProblems().raise_any()
