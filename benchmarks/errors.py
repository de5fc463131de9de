"""The bench's errors: one family under ``InteropError``.

::

    InteropError
    └── BenchError            BENCH_FAILED: a part did not start, answer or stop
        └── BenchConfigError  BENCH_CONFIG_INVALID: options that cannot make a run
"""

from __future__ import annotations

from contracts.errors import InteropError

__all__ = ["BenchConfigError", "BenchError"]


class BenchError(InteropError):
    """A part of the bench did not start, answer or stop; the message names its log."""

    code = "BENCH_FAILED"


class BenchConfigError(BenchError):
    """The options cannot make a run (a size out of range, a broker that does not answer)."""

    code = "BENCH_CONFIG_INVALID"
