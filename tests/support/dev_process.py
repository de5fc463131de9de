"""``interop dev`` as a child process, for the tests that drive the whole system:
its command line, reading its output up to a marker, and finding one of its children."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

__all__ = ["dev_argv", "pid_of", "read_until"]


def dev_argv(tmp_path: Path, kafka_port: int, http_port: int, *, people: int) -> list[str]:
    """``interop dev``'s arguments with every path under ``tmp_path`` and the given ports."""
    return [
        "dev",
        "--port",
        str(kafka_port),
        "--data-dir",
        str(tmp_path / "kafka"),
        "--state-dir",
        str(tmp_path / "state"),
        "--http-port",
        str(http_port),
        "--health-port",
        "0",
        "--people",
        str(people),
    ]


def read_until(process: subprocess.Popen[str], marker: str, *, timeout_s: float) -> str:
    """The output up to and including the line holding ``marker`` (AssertionError after
    ``timeout_s`` or when the process exits first)."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return "".join(lines)
    raise AssertionError(f"no {marker!r} in the output: {''.join(lines)[-3000:]}")


def pid_of(*words: str) -> int:
    """The one process whose command line holds every word (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if all(word in cmdline for word in words):
            found.append(int(entry.name))
    assert len(found) == 1, (words, found)
    return found[0]
