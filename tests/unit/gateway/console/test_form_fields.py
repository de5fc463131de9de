"""The console's form fields say what is wrong with them: empty and too long differ."""

from __future__ import annotations

import pytest

from gateway.console.citizen_pages import _field
from gateway.console.site import citizen_identifier
from gateway.errors import InvalidRequestError


def _message(call: object) -> str:
    with pytest.raises(InvalidRequestError) as raised:
        call()  # type: ignore[operator]
    return raised.value.message


def test_a_document_number_empty_or_too_long_is_named_as_such() -> None:
    assert _message(lambda: citizen_identifier("  ")) == "type a document number"
    assert _message(lambda: citizen_identifier(None)) == "type a document number"
    assert "too long (at most 64" in _message(lambda: citizen_identifier("1" * 10_000))
    assert citizen_identifier("91052777D") == "91052777D"


def test_a_chosen_field_empty_or_too_long_is_named_as_such() -> None:
    assert _message(lambda: _field({"service": ""}, "service")) == "choose a service"
    too_long = _message(lambda: _field({"purpose": "p" * 5_000}, "purpose"))
    assert too_long == "the purpose is too long (at most 200 characters)"
    assert _field({"service": " tax.income-band "}, "service") == "tax.income-band"
