"""The contracts error family: one root, stable distinct codes, nothing retriable."""

from __future__ import annotations

import contracts
from contracts.errors import ContractError, DataValidationError, InteropError


def _family() -> list[type[ContractError]]:
    found: list[type[ContractError]] = []
    stack: list[type[ContractError]] = [ContractError]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


def test_codes_are_distinct_and_prefixed() -> None:
    """Codes reach HTTP responses and DLQ headers: each class has its own CONTRACT_* code."""
    codes = [cls.code for cls in _family()]
    assert len(codes) == len(set(codes))
    assert all(code.startswith("CONTRACT_") for code in codes)


def test_nothing_in_the_family_is_retriable_and_all_is_exported() -> None:
    """Same bytes, same schema, same answer; every class is public API under the root."""
    for cls in _family():
        assert issubclass(cls, InteropError)
        assert cls.retriable is False
        assert cls.__name__ in contracts.__all__


def test_data_validation_error_keeps_every_problem() -> None:
    """The problems list survives intact and the message shows each pointer."""
    error = DataValidationError([("/a", "bad"), ("", "worse")])
    assert error.problems == (("/a", "bad"), ("", "worse"))
    assert error.message == "2 problem(s) in the data: /a: bad; /: worse"
