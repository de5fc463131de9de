"""`interop dev` for real: broker, topics, demo registries, gateway and connectors.

The test runs the command as a user would (a child process), waits for its summary, then
runs the exchanges the summary tells the user to paste - parsed from the printed curl
commands, so a wrong command in the summary fails here - and the printed audit
verification. Ctrl-C must stop everything cleanly; a second run reuses the broker's data,
the topics and the keys.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from interop.cli import main
from tests.integration.conftest import free_port
from tests.support.dev_process import dev_argv, pid_of, read_until

_READY_TIMEOUT_S = 240.0


def _dev_argv(tmp_path: Path, kafka_port: int, http_port: int) -> list[str]:
    return dev_argv(tmp_path, kafka_port, http_port, people=400)


def _read_until_ready(process: subprocess.Popen[str]) -> str:
    return read_until(process, "Press Ctrl-C", timeout_s=_READY_TIMEOUT_S)


def _keys(summary: str) -> dict[str, str]:
    return dict(re.findall(r"^\s+(TOWN|PORTAL|AUDITOR)=(\S+)", summary, re.MULTILINE))


async def _run_curl(line: str, keys: dict[str, str]) -> tuple[int, Any]:
    """Do what one printed ``curl -s -X POST URL -H ... -d JSON`` line asks."""
    words = shlex.split(line)
    url = words[words.index("POST") + 1]
    headers: dict[str, str] = {}
    for index, word in enumerate(words):
        if word == "-H":
            name, value = words[index + 1].split(":", 1)
            for var, key in keys.items():
                value = value.replace(f"${var}", key)
            headers[name] = value.strip()
    body = json.loads(words[words.index("-d") + 1])
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None)


async def _exchanges(summary: str, keys: dict[str, str]) -> list[tuple[int, Any]]:
    posts = [line for line in summary.splitlines() if line.startswith("curl -s -X POST")]
    assert len(posts) == 4, summary
    return [await _run_curl(line, keys) for line in posts]


async def _audit_events(summary: str, keys: dict[str, str], exchange_id: str) -> list[Any]:
    url = re.search(r"gateway\s+(http://\S+)", summary)
    assert url is not None
    headers = {"Authorization": f"Bearer {keys['AUDITOR']}"}
    found: list[Any] = []
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            async with session.get(
                f"{url.group(1)}/v1/audit/events", params={"limit": "500"}, headers=headers
            ) as response:
                body = await response.json()
            found = [e for e in body["events"] if e["exchange_id"] == exchange_id]
            if {"REQUESTED", "DELIVERED"} <= {e["type"] for e in found}:
                return found
            await asyncio.sleep(0.2)
    raise AssertionError(f"the exchange's events were not indexed: {found}")


def test_dev_runs_the_whole_system_and_the_printed_commands_work(tmp_path: Path) -> None:
    kafka_port, http_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "interop", *_dev_argv(tmp_path, kafka_port, http_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        summary = _read_until_ready(process)
        keys = _keys(summary)
        assert set(keys) == {"TOWN", "PORTAL", "AUDITOR"}
        assert f"http://127.0.0.1:{http_port}" in summary
        # The console's URL and its demo citizen sign-in (a printed document number).
        console = re.search(r"console\s+(http://\S+/console/)", summary)
        assert console is not None
        assert console.group(1) == f"http://127.0.0.1:{http_port}/console/"
        demo = re.search(r"/console/demo/citizen\s+DEMO: document number (\w+)", summary)
        assert demo is not None
        assert demo.group(1) in summary.split("Try it", 1)[1]  # the income-band subject

        results = asyncio.run(_exchanges(summary, keys))
        (presumed, residence), (denied, problem), (granted, consent), (allowed, income) = results
        assert (presumed, residence["status"], residence["found"]) == (200, "completed", True)
        assert re.fullmatch(r"\d{5}", residence["data"]["municipality_code"])
        assert (denied, problem["code"]) == (403, "CONSENT_REQUIRED")
        assert (granted, consent["state"]) == (201, "active")
        assert (allowed, income["status"], income["found"]) == (200, "completed", True)

        # The gateway and the provider digest the request under one key: an auditor can
        # check that what the provider received is what the gateway sent.
        events = asyncio.run(_audit_events(summary, keys, income["id"]))
        digests = {e["type"]: e["request_digest"] for e in events}
        assert digests["REQUESTED"] is not None
        assert digests["REQUESTED"] == digests["DELIVERED"], events

        # Supervision: SIGKILL the tax agency's connector; interop dev names it, restarts
        # it, and the income-band request (the fourth printed command) is answered again.
        victim = pid_of("connector run", str(tmp_path / "state"), "connector-aeat.yaml")
        os.kill(victim, signal.SIGKILL)
        said = read_until(process, "connector-aeat restarted", timeout_s=60)
        assert "connector-aeat exited with status -9" in said
        posts = [line for line in summary.splitlines() if line.startswith("curl -s -X POST")]
        deadline = time.monotonic() + 60
        while True:
            status, again = asyncio.run(_run_curl(posts[3], keys))
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert (status, again["status"], again["found"]) == (200, "completed", True)

        verify = next(line for line in summary.splitlines() if "audit verify" in line)
        argv = shlex.split(verify.replace("$AUDITOR", keys["AUDITOR"]))
        assert argv[0].endswith("interop")
        # The indexer signs a checkpoint every 2 s: verify once it covers our events.
        deadline = time.monotonic() + 60
        while True:
            done = subprocess.run(
                [sys.executable, "-m", "interop", *argv[1:]],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode == 0 and "signature ok" in done.stdout:
                break
            assert time.monotonic() < deadline, done.stdout + done.stderr
            time.sleep(0.5)
        assert "verified:" in done.stdout

        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
        assert process.returncode == 0, rest
        assert "Stopped the gateway, the connectors and Kafka" in rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    # A second run: same broker data, topics already there, the same keys.
    argv = [*_dev_argv(tmp_path, kafka_port, free_port()), "--exit-when-ready"]
    again = subprocess.run(
        [sys.executable, "-m", "interop", *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=_READY_TIMEOUT_S,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "(0 created" in again.stdout
    assert _keys(again.stdout) == keys

    # Configs hold keys, databases hold results and consents: owner-only, all of them.
    state = tmp_path / "state"
    written = [p for p in state.rglob("*") if not p.is_symlink()]
    assert any(p.name == "gateway.db" for p in written)
    assert any(p.name.startswith("connector-") and p.suffix == ".yaml" for p in written)
    loose = {str(p.relative_to(state)): oct(p.stat().st_mode & 0o777) for p in written}
    loose = {name: mode for name, mode in loose.items() if int(mode, 8) & 0o077}
    assert loose == {}


def test_dev_refuses_a_missing_catalogue_in_one_line(tmp_path: Path, capsys: Any) -> None:
    """Before starting anything: one error line, no traceback."""
    code = main(["dev", "--catalogue", str(tmp_path / "missing"), "--exit-when-ready"])
    assert code == 1
    err = capsys.readouterr().err
    assert "interop: error" in err
    assert "Traceback" not in err
