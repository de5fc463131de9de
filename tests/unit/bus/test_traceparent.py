"""W3C traceparent validation and generation."""

from __future__ import annotations

import pytest

from bus.traceparent import (
    TraceParent,
    child_traceparent,
    new_traceparent,
    parse_traceparent,
    trace_id_of,
)

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    "text",
    [
        VALID,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future-field",
    ],
)
def test_valid_traceparents_are_accepted(text: str) -> None:
    """Version 00 exactly, and later versions with extra fields after the flags."""
    assert parse_traceparent(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
    ],
)
def test_invalid_traceparents_are_refused(text: str) -> None:
    """Upper case, zero ids, version ff, extra fields on 00 and bad lengths are refused."""
    with pytest.raises(ValueError, match=r"."):
        parse_traceparent(text)


def test_new_and_child_traceparents() -> None:
    """A new trace validates; a child keeps trace id and flags but gets a new parent id."""
    root = new_traceparent()
    assert parse_traceparent(root) == root
    child = child_traceparent(TraceParent(VALID))
    assert parse_traceparent(child) == child
    assert trace_id_of(child) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert child.endswith("-01")
    assert child != VALID
    assert new_traceparent(sampled=False).endswith("-00")
