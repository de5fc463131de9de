"""The system under fault, the load, and the reconciliation every case ends with.

* ``start_system``: ``interop dev`` as a child process on ports below the ephemeral range;
  its printed summary gives the API keys, the example requests and the audit-verify
  command.
* ``Load``: a bounded number of exchanges at a bounded concurrency, each with its own
  ``Idempotency-Key``; every answer's status and code is kept.
* ``reconcile``: every accepted exchange (200/202) ends exactly once with the registry's
  data (GET until final), none lost, none duplicated (one exchange per key), every
  REQUESTED audit event has exactly one closing event, and ``interop audit verify``
  passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.integration.conftest import free_port
from tests.support.dev_process import dev_argv, pid_of, read_until

__all__ = ["REPORT", "Load", "System", "reconcile", "start_system"]

REPORT: list[str] = []
_READY_TIMEOUT_S = 240.0
_CLOSING = {"COMPLETED", "FAILED", "TIMED_OUT"}


@dataclass
class System:
    """A running ``interop dev``: its process, URL, keys, example body and state."""

    process: subprocess.Popen[str]
    url: str
    keys: dict[str, str]
    residence: dict[str, Any]
    verify: list[str]
    state_dir: Path
    kafka_dir: Path
    kafka_port: int

    def pid_of(self, *words: str) -> int:
        """The one child of this system whose command line holds every word."""
        return pid_of(str(self.state_dir), *words)

    def kafka(self, *command: str) -> None:
        """``interop kafka <command>`` on the system's broker, as an operator would."""
        args = [sys.executable, "-m", "interop", "kafka", *command, "--data-dir"]
        args.append(str(self.kafka_dir))
        if command[0] == "start":
            args += ["--port", str(self.kafka_port)]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


@contextlib.contextmanager
def start_system(tmp_path: Path) -> Iterator[System]:
    kafka_port, http_port = free_port(), free_port()
    argv = dev_argv(tmp_path, kafka_port, http_port, people=300)
    process = subprocess.Popen(
        [sys.executable, "-m", "interop", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        summary = read_until(process, "Press Ctrl-C", timeout_s=_READY_TIMEOUT_S)
        keys = dict(re.findall(r"^\s+(TOWN|PORTAL|AUDITOR)=(\S+)", summary, re.MULTILINE))
        post = next(line for line in summary.splitlines() if line.startswith("curl -s -X POST"))
        words = shlex.split(post)
        residence = json.loads(words[words.index("-d") + 1])
        verify_line = next(line for line in summary.splitlines() if "audit verify" in line)
        verify = shlex.split(verify_line.replace("$AUDITOR", keys["AUDITOR"]))[1:]
        yield System(
            process=process,
            url=f"http://127.0.0.1:{http_port}",
            keys=keys,
            residence=residence,
            verify=verify,
            state_dir=tmp_path / "state",
            kafka_dir=tmp_path / "kafka",
            kafka_port=kafka_port,
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


@dataclass
class Load:
    """Bounded load against the gateway; what every request was answered."""

    system: System
    wait_s: int = 8
    answers: list[tuple[str, int, str]] = field(default_factory=list)
    """(Idempotency-Key, status, exchange id or error code) per POST."""
    answered_at: list[float] = field(default_factory=list)
    """When each answer came (``time.monotonic``), in the order of ``answers``."""
    started: float = field(default_factory=time.monotonic)

    async def run(self, count: int, concurrency: int, *, keys: list[str] | None = None) -> None:
        todo = list(keys) if keys is not None else [uuid.uuid4().hex for _ in range(count)]
        slots = asyncio.Semaphore(concurrency)
        timeout = aiohttp.ClientTimeout(total=self.wait_s + 20)
        async with aiohttp.ClientSession(timeout=timeout) as session:

            async def one(key: str) -> None:
                async with slots:
                    await self.post(session, key)

            await asyncio.gather(*(one(k) for k in todo))

    async def post(self, session: aiohttp.ClientSession, key: str) -> tuple[int, str]:
        headers = {
            "Authorization": f"Bearer {self.system.keys['TOWN']}",
            "Idempotency-Key": key,
            "Prefer": f"wait={self.wait_s}",
        }
        try:
            async with session.post(
                f"{self.system.url}/v1/exchanges", json=self.system.residence, headers=headers
            ) as response:
                body = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            status, body = 0, {"code": type(exc).__name__}
        ident = body.get("id") if status in (200, 202) else body.get("code", "?")
        if status == 503 and "sent" in str(body.get("detail", "")):
            # Refused before anything reached a provider ("nothing was sent", "could not
            # be sent"): the key was released, and a retry must start a new exchange.
            # Other 503s name an exchange that was sent; it ends on its own (GET).
            ident = "SERVICE_UNAVAILABLE_UNSENT"
        self.answers.append((key, status, str(ident)))
        self.answered_at.append(time.monotonic())
        return status, str(ident)

    def first_success_after(self, moment: float) -> float | None:
        """Seconds from ``moment`` to the first 200/202 answered after it."""
        times = [
            t - moment
            for (_, status, _), t in zip(self.answers, self.answered_at, strict=True)
            if status in (200, 202) and t > moment
        ]
        return min(times) if times else None

    def accepted(self) -> dict[str, str]:
        """Idempotency-Key -> exchange id of every accepted POST (200/202)."""
        return {key: ident for key, status, ident in self.answers if status in (200, 202)}

    def refused_keys(self) -> list[str]:
        """Keys refused before sending (503) or rate-limited, and never accepted since."""
        accepted = self.accepted()
        refused = {
            k
            for k, status, ident in self.answers
            if (status == 503 and ident == "SERVICE_UNAVAILABLE_UNSENT") or status == 429
        }
        return sorted(refused - set(accepted))


async def _get(session: aiohttp.ClientSession, system: System, path: str) -> Any:
    """GET as the town (or the auditor for audit paths); (0, None) while the gateway is
    down (it may be restarting: the caller retries)."""
    member = "AUDITOR" if "audit" in path else "TOWN"
    headers = {"Authorization": f"Bearer {system.keys[member]}"}
    try:
        async with session.get(f"{system.url}{path}", headers=headers) as response:
            return response.status, await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError):
        return 0, None


async def reconcile(system: System, load: Load, *, name: str, recovery_s: float | None) -> None:
    """Every accepted exchange ends completed once; audit closed and verified; report."""
    accepted = load.accepted()
    ids = list(accepted.values())
    duplicated = len(ids) - len(set(ids))
    finals: dict[str, Any] = {}
    deadline = time.monotonic() + 90
    async with aiohttp.ClientSession() as session:
        for exchange_id in set(ids):
            while True:
                status, body = await _get(session, system, f"/v1/exchanges/{exchange_id}")
                if status == 200 and body["status"] != "pending":
                    finals[exchange_id] = body
                    break
                assert time.monotonic() < deadline, f"{exchange_id} never ended: {body}"
                await asyncio.sleep(0.2)
        events = await _events_of(session, system, set(ids))
    lost = [i for i, b in finals.items() if b["status"] != "completed" or b["found"] is not True]
    statuses = Counter(status for _, status, _ in load.answers)
    errors = Counter(ident for _, status, ident in load.answers if status not in (200, 202))
    recovery = f"{recovery_s:.1f}s" if recovery_s is not None else "n/a"
    REPORT.append(
        f"{name}: sent {len(load.answers)} / 200 {statuses[200]} / 202 {statuses[202]} / "
        f"errors {dict(errors) or 0} / lost {len(lost)} / duplicated {duplicated} / "
        f"recovery {recovery}"
    )
    assert duplicated == 0
    assert lost == [], [finals[i] for i in lost[:3]]
    repeated_closings = 0
    for exchange_id in set(ids):
        kinds = Counter(e["type"] for e in events.get(exchange_id, []))
        assert kinds["REQUESTED"] == 1, (exchange_id, kinds)
        closings = {k: kinds[k] for k in _CLOSING if kinds[k]}
        # Closed, and closed one way. A gateway killed between writing COMPLETED and
        # storing the result writes COMPLETED again when it re-reads the reply: the same
        # step twice (counted in the report), never two different endings.
        assert list(closings) == [finals[exchange_id]["status"].upper()], (exchange_id, kinds)
        repeated_closings += sum(closings.values()) - 1
    REPORT[-1] += f" / closing events repeated after a crash {repeated_closings}"
    verified = await asyncio.to_thread(_verify, system)
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def _events_of(
    session: aiohttp.ClientSession, system: System, ids: set[str]
) -> dict[str, list[Any]]:
    """The indexed audit events of ``ids``, once each has its closing event (bounded)."""
    deadline = time.monotonic() + 60
    while True:
        found: dict[str, list[Any]] = {}
        cursor = None
        while True:
            query = "limit=1000" + (f"&cursor={cursor}" if cursor else "")
            status, page = await _get(session, system, f"/v1/audit/events?{query}")
            if status != 200:
                break
            for event in page["events"]:
                if event["exchange_id"] in ids:
                    found.setdefault(event["exchange_id"], []).append(event)
            cursor = page["next_cursor"]
            if cursor is None:
                break
        closed = {i for i, evs in found.items() if {e["type"] for e in evs} & _CLOSING}
        if closed >= ids or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.5)


def _verify(system: System) -> subprocess.CompletedProcess[str]:
    deadline = time.monotonic() + 60
    while True:
        done = subprocess.run(
            [sys.executable, "-m", "interop", *system.verify],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if done.returncode == 0 or time.monotonic() > deadline:
            return done
        time.sleep(1.0)
