"""Reading a process's CPU time from /proc, and the READY line children print."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import textwrap

import pytest

from benchmarks.errors import BenchError
from benchmarks.processes import READY, announce_ready, cpu_ms_of, cpu_ms_of_tree


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


_ROUNDS = 300_000
_BURN = f"import hashlib\nd = b''\nfor _ in range({_ROUNDS}): d = hashlib.sha256(d).digest()\n"


_BURN_THEN_WAIT = _BURN + "print('burnt', flush=True)\nimport sys\nsys.stdin.read()\n"


def _burn() -> None:
    digest = b""
    for _ in range(_ROUNDS):
        digest = hashlib.sha256(digest).digest()


def test_cpu_time_of_a_tree_counts_reaped_and_live_descendants() -> None:
    """PostgreSQL's work is done in the postmaster's children: a process's tree time holds
    a child it waited for (its reaped-children time) and one still running, which its own
    time does not."""
    parent_code = textwrap.dedent(
        f"""
        import subprocess, sys
        subprocess.run([sys.executable, "-c", {_BURN!r}], check=True)
        live = subprocess.Popen([sys.executable, "-c", {_BURN_THEN_WAIT!r}], stdin=subprocess.PIPE)
        print("ready", flush=True)
        sys.stdin.read()
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        assert sorted(parent.stdout.readline().strip() for _ in range(2)) == ["burnt", "ready"]
        own = cpu_ms_of(parent.pid)
        tree = cpu_ms_of_tree(parent.pid)
        burn_started = cpu_ms_of(os.getpid())
        _burn()  # what one child's burn costs, for scale
        one_burn = cpu_ms_of(os.getpid()) - burn_started
        assert tree - own > 1.5 * one_burn
    finally:
        parent.communicate(timeout=30)


def test_ready_line_carries_json() -> None:
    """The orchestrator reads ``READY`` and a JSON object on one line."""
    out = io.StringIO()
    announce_ready({"port": 8080}, out=out)
    assert out.getvalue() == f'{READY} {{"port": 8080}}\n'
