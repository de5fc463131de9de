"""The bench's child processes: start, wait until ready, talk to, measure, stop.

Every part under test runs in its own process (broker, gateways, responders, load
generators), as in production, so the CPU time each one spends can be read from
``/proc/<pid>/stat`` without psutil. A child says it is ready with one ``READY <json>``
line on stdout; load processes then take one JSON command per stdin line and answer one
JSON line each. Children's stderr goes to a log file in the bench's work directory, so
a failure can point at it instead of drowning the output.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

from benchmarks.errors import BenchError

__all__ = ["READY", "Child", "SharedServer", "announce_ready", "cpu_ms_of", "cpu_ms_of_tree"]

READY: Final = "READY"
_CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
_STOP_TIMEOUT_S: Final = 20.0


def announce_ready(info: dict[str, Any] | None = None, *, out: TextIO = sys.stdout) -> None:
    """Child side: tell the orchestrator this process serves now."""
    out.write(f"{READY} {json.dumps(info or {})}\n")
    out.flush()


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name, None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its ")".
    return stat[stat.rindex(")") + 2 :].split()


def cpu_ms_of(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far, in milliseconds (Linux ``/proc``)."""
    fields = _stat_fields(pid)
    if fields is None:
        raise BenchError(f"cannot read the CPU time of process {pid}: it is gone")
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) * 1000.0 / _CLOCK_TICKS


def cpu_ms_of_tree(pid: int) -> float:
    """CPU time of ``pid``, of the children it has reaped and of its live descendants, in
    milliseconds: PostgreSQL's work is done by backends the postmaster forks, one per
    connection. A backend that exits between two readings moves from "live descendant"
    to the postmaster's reaped-children time, so a difference of two readings holds."""
    stats: dict[int, list[str]] = {}
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
            stats[int(entry.name)] = fields
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    if pid not in stats:
        raise BenchError(f"cannot read the CPU time of process {pid}: it is gone")
    ticks = 0
    pending = [pid]
    while pending:
        process = pending.pop()
        # utime, stime and the time of the children it reaped (cutime, cstime)
        ticks += sum(int(f) for f in stats[process][11:15])
        pending.extend(children.get(process, []))
    return ticks * 1000.0 / _CLOCK_TICKS


@dataclass(frozen=True, slots=True)
class SharedServer:
    """A server every scenario uses (a Kafka node, PostgreSQL) and the bench started:
    its CPU per exchange is reported too, since on one machine it competes with the
    parts under test. The scenarios run one at a time, so a run's difference is that
    run's (plus the idle polling of the others' consumers)."""

    name: str
    pid: int
    with_descendants: bool = False

    def cpu_ms(self) -> float:
        return cpu_ms_of_tree(self.pid) if self.with_descendants else cpu_ms_of(self.pid)


class Child:
    """One child process with a role name (``gateway-1``, ``floor-responder``...)."""

    def __init__(self, name: str, argv: Sequence[str], *, log_dir: Path) -> None:
        self.name = name
        self._argv = list(argv)
        self.log_path = log_dir / f"{name}.log"
        self._proc: asyncio.subprocess.Process | None = None
        self._log: TextIO | None = None

    @property
    def pid(self) -> int:
        return self._require().pid

    async def start(self, *, env: dict[str, str] | None = None) -> None:
        self._log = self.log_path.open("w", encoding="utf-8")
        self._proc = await asyncio.create_subprocess_exec(
            *self._argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log,
            env={**os.environ, **(env or {})},
        )

    async def wait_ready(self, timeout_s: float) -> dict[str, Any]:
        """The child's ``READY`` info; ``BenchError`` if it exits or is late."""
        stdout = self._require().stdout
        if stdout is None:  # pragma: no cover - start() always pipes it
            raise self._failed("has no stdout pipe")
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    line = (await stdout.readline()).decode("utf-8", "replace")
                    if not line:
                        raise self._failed("exited before it was ready")
                    if line.startswith(READY):
                        info: dict[str, Any] = json.loads(line[len(READY) :] or "{}")
                        return info
        except TimeoutError:
            raise self._failed(f"was not ready after {timeout_s:.0f} s") from None

    async def ask(self, command: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send one JSON command line; return the child's JSON answer line."""
        proc = self._require()
        if proc.stdin is None or proc.stdout is None:  # pragma: no cover - start() pipes both
            raise self._failed("has no stdin/stdout pipes")
        proc.stdin.write((json.dumps(command) + "\n").encode())
        await proc.stdin.drain()
        try:
            async with asyncio.timeout(timeout_s):
                line = await proc.stdout.readline()
        except TimeoutError:
            raise self._failed(f"did not answer within {timeout_s:.0f} s") from None
        if not line:
            raise self._failed("exited while running a command")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def wait_until(self, probe: Callable[[], Awaitable[bool]], timeout_s: float) -> None:
        """For children that print nothing (the gateway): poll ``probe`` until it says yes;
        fail at once if the child exits, and after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            proc = self._require()
            if proc.returncode is not None:
                raise self._failed("exited before it was ready")
            if await probe():
                return
            if time.monotonic() > deadline:
                raise self._failed(f"was not ready after {timeout_s:.0f} s")
            await asyncio.sleep(0.1)

    def cpu_ms(self) -> float:
        return cpu_ms_of(self.pid)

    async def stop(self) -> None:
        """SIGTERM (a graceful stop), SIGKILL if it lingers; safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            if proc.stdin is not None:
                proc.stdin.close()
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(_STOP_TIMEOUT_S):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _require(self) -> asyncio.subprocess.Process:
        if self._proc is None:
            raise BenchError(f"{self.name} is not running")
        return self._proc

    def _failed(self, what: str) -> BenchError:
        return BenchError(f"{self.name} {what}; its log: {self.log_path}")
