"""THE KILL TEST: ``interop connector run`` killed with SIGKILL in the middle of 2,000
requests and restarted. Every request gets a reply (counted as distinct exchange ids on
the requester's side), and after the restart the handler is called at most once per
exchange id: what was answered before the kill is replayed from the reply store."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from bus import BusProducer, ReplyStatus
from connectors import settings_file_document
from tests.integration.bus.kafka_helpers import wait_for
from tests.integration.connectors.support import (
    DIGEST_KEY,
    KEY_ID,
    PROVIDER,
    make_world,
    terminate,
)

REQUESTS = 2000
ROOT = Path(__file__).resolve().parents[3]


def _start(config: Path, calls_db: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "INTEROP_TEST_CALLS_DB": str(calls_db), "PYTHONPATH": str(ROOT)}
    with log.open("ab") as sink:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "interop",
                "--log-format",
                "json",
                "connector",
                "run",
                str(config),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )


def _alive(process: subprocess.Popen[bytes], log: Path) -> bool:
    """True while ``process`` runs; fails the test with its log when it died on its own."""
    if process.poll() is not None:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise AssertionError(f"the connector exited with {process.returncode}:\n{tail}")
    return True


def _calls(calls_db: Path) -> list[tuple[str, int]]:
    if not calls_db.exists():
        return []
    with sqlite3.connect(calls_db, timeout=30) as db:
        try:
            return list(db.execute("SELECT exchange_id, pid FROM calls"))
        except sqlite3.OperationalError:  # the table is not created yet
            return []


async def test_sigkill_mid_load_loses_no_reply_and_calls_at_most_once_after_restart(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """2,000 signed requests; SIGKILL after a quarter are answered; restart; all answered,
    each exactly once as seen by the requester, none called twice by the new process."""
    world = await make_world(kafka_bootstrap, tmp_path, unique_name, partitions=3)
    calls_db = tmp_path / "calls.db"
    log = tmp_path / "connector.log"
    config = tmp_path / "connector.yaml"
    config.write_text(
        yaml.safe_dump(
            settings_file_document(
                {
                    "member_id": PROVIDER,
                    "kafka": {"bootstrap_servers": kafka_bootstrap},
                    "catalogue_dir": str(world.cat.root),
                    "reply_store_url": f"sqlite:///{tmp_path / 'replies.db'}",
                    "gateway_keys": {KEY_ID: world.public_key_text()},
                    "audit_digest_key": DIGEST_KEY,
                    "health": {"enabled": False},
                    "services": [
                        {
                            "service": world.service,
                            "version": "1.1",
                            "handler": "tests.integration.connectors.handlers:counting",
                            "concurrency": 32,
                            "group_id": f"{world.group}-connector",
                        }
                    ],
                }
            )
        ),
        encoding="utf-8",
    )
    first = _start(config, calls_db, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        async with BusProducer(world.kafka) as producer, world.requester(producer) as requester:
            sent: list[str] = []
            for start in range(0, REQUESTS, 200):
                envelopes = [world.envelope(requester, deadline_s=120) for _ in range(200)]
                await asyncio.gather(
                    *(
                        requester.send(
                            world.outbound(), env, world.request_value(f"FOUND-{start + i}")
                        )
                        for i, env in enumerate(envelopes)
                    )
                )
                sent += [env.exchange_id for env in envelopes]
            await wait_for(
                lambda: _alive(first, log) and len(world.replies) >= REQUESTS // 4,
                timeout_s=60,
                what="a quarter of the replies before the kill",
            )
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            answered_before = len(world.replies)
            assert answered_before < REQUESTS, "the kill came too late to test anything"
            second = _start(config, calls_db, log)
            await wait_for(
                lambda: _alive(second, log) and len(world.replies) >= REQUESTS,
                timeout_s=90,
                what="every reply after the restart",
            )
        assert set(world.replies) == set(sent)
        statuses = {r.envelope.status for replies in world.replies.values() for r in replies}
        assert statuses == {ReplyStatus.OK}
        # Replies delivered twice (answered before the kill, uncommitted, replayed) carry
        # the same bytes: the requester sees one answer per exchange.
        assert all(len({r.value for r in rs}) == 1 for rs in world.replies.values())
        after = [eid for eid, pid in _calls(calls_db) if pid == second.pid]
        assert len(after) == len(set(after)), "the handler ran twice for an exchange"
        before = {eid for eid, pid in _calls(calls_db) if pid == first.pid}
        assert len(before) >= answered_before  # every answered exchange was a real call
    finally:
        for process in (first, second):
            terminate(process)
    assert second is not None
    assert second.returncode == 0, log.read_text(encoding="utf-8")[-3000:]
