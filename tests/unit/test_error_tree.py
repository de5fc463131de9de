"""One error tree: every exception class the project defines is an ``InteropError`` with a
stable code, and no two classes define the same code (codes travel in problems, replies,
dead-letter headers and audit records, so one code must mean one thing).

The walk imports every module of every package, so a class defined anywhere is seen
(``tests/unit/bus/test_errors.py`` checks the bus family's docstring on top of this).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Final

from contracts.errors import InteropError
from tests.support.error_tree import defined_exceptions

_SIGNALS: Final = {
    "gateway.replies.WaitReleased": "wakes waiting callers at shutdown; never raised to a caller",
    "connectors.mapping._Unfit": "one value does not fit; caught in the module, becomes a problem",
    "bus.kafka_errors.FencedInstanceIdError": (
        "aiokafka's own kind (broker error 82, missing from its table); translated to "
        "InstanceFencedError where the bus calls aiokafka"
    ),
}
"""Exceptions used as control flow inside one module, not errors anybody handles, and the
broker error class aiokafka lacks (an aiokafka error, translated at the boundary)."""


def test_every_exception_class_is_an_interop_error() -> None:
    """Outside the tree only the documented control-flow signals."""
    classes = defined_exceptions()
    assert len(classes) > 80  # the walk really found the packages' classes
    outside = sorted(name for name, cls in classes.items() if not issubclass(cls, InteropError))
    assert outside == sorted(_SIGNALS)


def test_codes_are_unique_across_the_whole_tree() -> None:
    """A class either inherits its parent's code or defines one nobody else defines."""
    owners: dict[str, list[str]] = defaultdict(list)
    for name, cls in defined_exceptions().items():
        if issubclass(cls, InteropError) and "code" in vars(cls):
            owners[cls.code].append(name)
    shared = {code: names for code, names in owners.items() if len(names) > 1}
    assert shared == {}
    assert all(code.isupper() and " " not in code for code in owners)


def test_legacy_errors_answer_as_the_handler_error_of_their_kind() -> None:
    """One vocabulary: a legacy adapter's failure is the handler error it replies with."""
    from connectors.adapters.base import LegacyErrorKind, legacy_error
    from connectors.errors import (
        ProviderFailedError,
        ProviderMisconfiguredError,
        ProviderTimeoutError,
        ProviderUnavailableError,
        RequestRefusedError,
    )

    expected = {
        LegacyErrorKind.TIMEOUT: (ProviderTimeoutError, "PROVIDER_TIMEOUT", True),
        LegacyErrorKind.UNAVAILABLE: (ProviderUnavailableError, "PROVIDER_UNAVAILABLE", True),
        LegacyErrorKind.PROTOCOL: (ProviderFailedError, "PROVIDER_FAILED", False),
        LegacyErrorKind.REJECTED: (RequestRefusedError, "PROVIDER_REFUSED", False),
        LegacyErrorKind.CONFIGURATION: (
            ProviderMisconfiguredError,
            "PROVIDER_MISCONFIGURED",
            False,
        ),
    }
    for kind, (parent, code, retriable) in expected.items():
        error = legacy_error(kind, "detail")
        assert isinstance(error, parent)
        assert (error.kind, error.code, error.reply_code, error.retriable) == (
            kind,
            code,
            code,
            retriable,
        )
        assert str(error) == f"{kind.value}: detail"
