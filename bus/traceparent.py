"""W3C Trace Context ``traceparent`` values (https://www.w3.org/TR/trace-context/).

Only what the envelope needs: validate a received value, start a new trace, and derive the
value a hop sends on (same trace id, new parent id).
"""

from __future__ import annotations

import os
import re
from typing import Final, NewType

__all__ = [
    "TraceParent",
    "child_traceparent",
    "new_traceparent",
    "parse_traceparent",
    "trace_id_of",
]

TraceParent = NewType("TraceParent", str)

_VERSION_00_RE: Final = re.compile(
    r"00-(?P<trace>[0-9a-f]{32})-(?P<parent>[0-9a-f]{16})-(?P<flags>[0-9a-f]{2})"
)
# Later versions may append fields after the flags; a version-00 parser reads the prefix.
_FUTURE_RE: Final = re.compile(
    r"(?P<version>[0-9a-f]{2})-(?P<trace>[0-9a-f]{32})-(?P<parent>[0-9a-f]{16})"
    r"-(?P<flags>[0-9a-f]{2})(?:-.*)?"
)
_ZERO_TRACE: Final = "0" * 32
_ZERO_PARENT: Final = "0" * 16


def parse_traceparent(text: str) -> TraceParent:
    """Validate a ``traceparent`` value; raise ``ValueError`` saying what is wrong.

    Rules from the spec: lowercase hex, version ``ff`` is invalid, version ``00`` has
    exactly four fields, all-zero trace and parent ids are invalid.
    """
    match = _VERSION_00_RE.fullmatch(text)
    if match is None:
        match = _FUTURE_RE.fullmatch(text)
        if match is None or match["version"] in {"00", "ff"}:
            raise ValueError("not a W3C traceparent (version-traceid-parentid-flags)")
    if match["trace"] == _ZERO_TRACE:
        raise ValueError("trace id is all zeros")
    if match["parent"] == _ZERO_PARENT:
        raise ValueError("parent id is all zeros")
    return TraceParent(text)


def new_traceparent(*, sampled: bool = True) -> TraceParent:
    """Start a new trace (random trace id and parent id)."""
    trace = os.urandom(16).hex()
    while trace == _ZERO_TRACE:  # pragma: no cover - 2**-128
        trace = os.urandom(16).hex()
    return TraceParent(f"00-{trace}-{_new_parent_id()}-{'01' if sampled else '00'}")


def child_traceparent(parent: TraceParent) -> TraceParent:
    """The value the next hop sends: same trace and flags, a new parent (span) id."""
    match = _FUTURE_RE.fullmatch(parent)
    if match is None:  # pragma: no cover - TraceParent values are validated
        raise ValueError("not a W3C traceparent")
    return TraceParent(f"00-{match['trace']}-{_new_parent_id()}-{match['flags']}")


def trace_id_of(value: str) -> str:
    """The 32-hex-digit trace id of a traceparent (log lines and audit events): the one
    place that knows where it sits in the header."""
    return value[3:35]


def _new_parent_id() -> str:
    parent = os.urandom(8).hex()
    while parent == _ZERO_PARENT:  # pragma: no cover - 2**-64
        parent = os.urandom(8).hex()
    return parent
