"""The bus error family: one root, stable unique codes, the tree drawn in the docstring."""

from __future__ import annotations

import bus.audit.errors
import bus.errors
from bus.errors import BusError, EnvelopeError, MissingHeaderError, RequestTimeoutError
from contracts.errors import InteropError
from tests.support.error_tree import defined_exceptions


def _family() -> list[type[BusError]]:
    """Every ``BusError`` subclass, wherever in the packages it is defined."""
    return [cls for cls in defined_exceptions().values() if issubclass(cls, BusError)]


def test_every_bus_error_is_an_interop_error_with_a_unique_code() -> None:
    """Codes are machine-readable and appear in DLQ headers: no two classes share one."""
    family = _family()
    assert all(issubclass(cls, InteropError) for cls in family)
    codes = [cls.code for cls in family]
    assert len(codes) == len(set(codes))
    assert all(code.isupper() and " " not in code for code in codes)


def test_the_docstring_tree_names_every_class() -> None:
    """The trees in bus/errors.py's and bus/audit/errors.py's docstrings stay complete as
    the family grows, classes defined in other modules included."""
    doc = (bus.errors.__doc__ or "") + (bus.audit.errors.__doc__ or "")
    missing = [cls.__name__ for cls in _family() if cls.__name__ not in doc]
    assert not missing


def test_envelope_errors_name_their_header_and_timeouts_are_retriable() -> None:
    """EnvelopeError.header is set; RequestTimeoutError carries exchange id and is retriable."""
    error = MissingHeaderError("ce_id")
    assert isinstance(error, EnvelopeError)
    assert error.header == "ce_id"
    assert "ce_id" in str(error)
    timeout = RequestTimeoutError("0190-x", 1.5)
    assert timeout.retriable
    assert timeout.exchange_id == "0190-x"
    assert not MissingHeaderError.retriable
