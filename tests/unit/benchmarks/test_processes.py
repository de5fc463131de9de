"""Reading a process's CPU time from /proc, and the READY line children print."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from benchmarks.errors import BenchError
from benchmarks.processes import READY, announce_ready, cpu_ms_of


def test_cpu_time_of_this_process_grows_with_work() -> None:
    """Busy work shows up in /proc/<pid>/stat's user + system time."""
    before = cpu_ms_of(os.getpid())
    digest = b""
    for _ in range(300_000):
        digest = hashlib.sha256(digest).digest()
    assert cpu_ms_of(os.getpid()) > before


def test_cpu_time_of_a_missing_process_is_a_clear_error() -> None:
    """A process that is gone gives a BenchError naming it, not an OSError trace."""
    with pytest.raises(BenchError, match="process 999999999"):
        cpu_ms_of(999_999_999)


def test_ready_line_carries_json() -> None:
    """The orchestrator reads ``READY`` and a JSON object on one line."""
    out = io.StringIO()
    announce_ready({"port": 8080}, out=out)
    assert out.getvalue() == f'{READY} {{"port": 8080}}\n'
