"""Two gateway processes (``python -m interop gateway --config ...``) sharing one store and
one reply topic, each owning its own reply partitions.

Requests go through either replica; a GET through the other one sees the exchange and its
result, because the replica that receives the reply stores it. The processes' JSON logs
carry exchange ids but never the subject's identifier or payload values, and SIGTERM
shuts a replica down cleanly. Only the replica that sent an exchange times it out at its
deadline (the SQLite variant of that case found the lost-commit bug of
``storage.sqlite.create_private``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from bus import BusProducer, catalogue_topic_specs, ensure_topics, parse_gateway_group_id
from tests.integration.bus.kafka_helpers import settings_for
from tests.integration.conftest import free_port
from tests.integration.gateway.support import (
    HMAC_KEY,
    Provider,
    TestCatalogue,
    http,
    make_catalogue,
    poll_until,
    write_members,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Replica:
    """One gateway process."""

    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    log_file: Path

    def log_text(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The shared store: one SQLite file, or the PostgreSQL database of the test session."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    dsn: str = request.getfixturevalue("postgres_dsn")
    return dsn


def _config(
    folder: Path,
    name: str,
    *,
    bootstrap: str,
    cat: TestCatalogue,
    group: str,
    store: str,
    partitions: tuple[int, ...],
    max_deadline_s: float = 60.0,
) -> tuple[Path, int]:
    port = free_port()
    config = {
        "kafka": {"bootstrap_servers": bootstrap, "client_id": f"it-{name}"},
        "gateway": {
            "http": {"host": "127.0.0.1", "port": port},
            "gateway_group": group,
            "reply_partitions": list(partitions),
            "store_url": store,
            "members_file": str(folder / "members.yaml"),
            "catalogue_dir": str(cat.root),
            "exchanges": {
                "expiry_interval_s": 0.2,
                "shutdown_timeout_s": 5,
                "max_deadline_s": max_deadline_s,
            },
        },
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path, port


@contextmanager
def _replica(name: str, config: Path, port: int, folder: Path) -> Iterator[Replica]:
    log_file = folder / f"{name}.log"
    env = {**os.environ, "INTEROP__GATEWAY__SUBJECT_HMAC_KEY": HMAC_KEY}  # a secret: env
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "interop",
                "--log-format",
                "json",
                "gateway",
                "--config",
                str(config),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Replica(name, f"http://127.0.0.1:{port}", process, log_file)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


async def _group(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> tuple[TestCatalogue, dict[str, str], str]:
    """A catalogue, its members' keys and a gateway group whose topics exist."""
    domain = "it" + unique_name("d").rsplit("-", 1)[-1]
    cat = make_catalogue(tmp_path / "catalogue", domain)
    keys = write_members(tmp_path / "members.yaml", cat)
    group = unique_name("gw")
    await ensure_topics(
        settings_for(kafka_bootstrap),
        catalogue_topic_specs(
            cat.catalogue,
            gateway_groups=[parse_gateway_group_id(group)],
            request_partitions=2,
            reply_partitions=4,
            replication_factor=1,
        ),
    )
    return cat, keys, group


def _residence_request(cat: TestCatalogue, ident: str) -> dict[str, Any]:
    return {
        "service": cat.residence,
        "version": "1",
        "subject": ident,
        "purpose": "social-benefits",
        "official": "official-7",
        "data": {"document_type": "DNI", "document_number": ident},
    }


async def _ready(replica: Replica) -> None:
    async def probe() -> int:
        if replica.process.poll() is not None:
            raise AssertionError(f"{replica.name} exited: {replica.log_text()[-2000:]}")
        try:
            return (await http("GET", f"{replica.base_url}/readyz"))[0]
        except OSError:
            return 0

    await poll_until(probe, lambda s: s == 200, timeout_s=40, what=f"{replica.name} ready")


@pytest.fixture
async def provider_for(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> AsyncIterator[Callable[[TestCatalogue], Any]]:
    """Start the table provider for a catalogue (stopped at the end)."""
    started: list[Provider] = []
    kafka = settings_for(kafka_bootstrap)
    async with BusProducer(kafka) as producer:

        async def start(cat: TestCatalogue) -> Provider:
            provider = Provider(kafka, cat)
            await provider.start(producer, unique_name("provider"))
            started.append(provider)
            return provider

        try:
            yield start
        finally:
            for provider in started:
                await provider.stop()


async def test_two_replicas_share_exchanges_and_replies(
    kafka_bootstrap: str,
    tmp_path: Path,
    unique_name: Callable[[str], str],
    store_url: str,
    provider_for: Callable[[TestCatalogue], Any],
) -> None:
    """Through either replica, and GET through the other: same exchanges, same results."""
    cat, keys, group = await _group(kafka_bootstrap, tmp_path, unique_name)
    await provider_for(cat)
    common = {"bootstrap": kafka_bootstrap, "cat": cat, "group": group, "store": store_url}
    config_a, port_a = _config(tmp_path, "a", partitions=(0, 1), **common)
    config_b, port_b = _config(tmp_path, "b", partitions=(2, 3), **common)
    auth = {"Authorization": f"Bearer {keys['town']}"}

    def body(ident: str) -> dict[str, Any]:
        return _residence_request(cat, ident)

    with (
        _replica("a", config_a, port_a, tmp_path) as a,
        _replica("b", config_b, port_b, tmp_path) as b,
    ):
        await _ready(a)
        await _ready(b)
        ident_a = f"FOUND-{uuid.uuid4().hex[:8]}"
        status, _, sync = await http(
            "POST",
            f"{a.base_url}/v1/exchanges",
            json=body(ident_a),
            headers={**auth, "Prefer": "wait=15"},
        )
        assert status == 200, sync
        status, headers, pending = await http(
            "POST",
            f"{b.base_url}/v1/exchanges",
            json=body(f"FOUND-{uuid.uuid4().hex[:8]}"),
            headers=auth,
        )
        assert status == 202, pending

        status, _, seen_on_b = await http(
            "GET", f"{b.base_url}/v1/exchanges/{sync['id']}", headers=auth
        )
        assert (status, seen_on_b["status"], seen_on_b["data"]) == (200, "completed", sync["data"])
        _, _, seen_on_a = await poll_until(
            lambda: http("GET", f"{a.base_url}{headers['Location']}", headers=auth),
            lambda r: r[2].get("status") != "pending",
            timeout_s=20,
            what="B's exchange to complete, seen through A",
        )
        assert seen_on_a["status"] == "completed"
        assert seen_on_a["data"]["municipality_code"] == "28005"
        status, _, hidden = await http(
            "GET",
            f"{a.base_url}{headers['Location']}",
            headers={"Authorization": f"Bearer {keys['other']}"},
        )
        assert (status, hidden["code"]) == (404, "UNKNOWN_EXCHANGE")

        a.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        exit_code = a.process.wait(timeout=30)
        assert exit_code == 0, a.log_text()[-2000:]
        assert time.monotonic() - started < 15

    for replica in (a, b):
        text = replica.log_text()
        assert ident_a not in text
        assert ident_a.replace("-", "") not in text  # the subject, in its normal form
        assert "Alcalá" not in text
        # The municipality code as a value, not digits inside a timestamp's microseconds.
        assert re.search(r"(?<![\d.])28005(?!\d)", text) is None
    lines = [json.loads(line) for line in a.log_text().splitlines() if line.startswith("{")]
    events = {line["event"] for line in lines}
    assert {"gateway_listening", "exchange_requested", "gateway_stopped"} <= events
    requested = next(line for line in lines if line["event"] == "exchange_requested")
    assert requested["exchange_id"] == sync["id"]
    assert requested["requester"] == "it.town"
    assert len(requested["trace_id"]) == 32


async def test_only_the_replica_that_sent_an_exchange_times_it_out_at_its_deadline(
    kafka_bootstrap: str,
    tmp_path: Path,
    unique_name: Callable[[str], str],
    store_url: str,
) -> None:
    """No provider answers; deadlines are 2 s. Replica A sends an exchange and stops.
    Replica B's expiry (every 0.2 s) times out its own exchange at the deadline but leaves
    A's PENDING well past it: only A reads A's replies, so only A knows whether one is
    being ended. A restarted times its own overdue exchange out at once."""
    cat, keys, group = await _group(kafka_bootstrap, tmp_path, unique_name)
    common = {"bootstrap": kafka_bootstrap, "cat": cat, "group": group, "store": store_url}
    config_a, port_a = _config(tmp_path, "a", partitions=(0, 1), max_deadline_s=2, **common)
    config_b, port_b = _config(tmp_path, "b", partitions=(2, 3), max_deadline_s=2, **common)
    auth = {"Authorization": f"Bearer {keys['town']}"}

    def body() -> dict[str, Any]:
        return _residence_request(cat, f"FOUND-{uuid.uuid4().hex[:8]}")

    async def status_on(replica: Replica, exchange_id: str) -> str:
        code, _, answer = await http(
            "GET", f"{replica.base_url}/v1/exchanges/{exchange_id}", headers=auth
        )
        assert code == 200, answer
        return str(answer["status"])

    with _replica("b", config_b, port_b, tmp_path) as b:
        await _ready(b)
        with _replica("a", config_a, port_a, tmp_path) as a:
            await _ready(a)
            code, _, sent_by_a = await http(
                "POST", f"{a.base_url}/v1/exchanges", json=body(), headers=auth
            )
            assert code == 202, sent_by_a
            a.process.send_signal(signal.SIGTERM)
            assert a.process.wait(timeout=30) == 0, a.log_text()[-2000:]
        code, _, sent_by_b = await http(
            "POST", f"{b.base_url}/v1/exchanges", json=body(), headers=auth
        )
        assert code == 202, sent_by_b
        await poll_until(
            lambda: status_on(b, sent_by_b["id"]),
            lambda status: status == "timed_out",
            timeout_s=20,
            what="B's own exchange to time out at its deadline",
        )
        # B's deadline passed after A's, and B's expiry has run many times since.
        assert await status_on(b, sent_by_a["id"]) == "pending"
        with _replica("a2", config_a, port_a, tmp_path) as a:
            await _ready(a)
            await poll_until(
                lambda: status_on(b, sent_by_a["id"]),
                lambda status: status == "timed_out",
                timeout_s=20,
                what="A's exchange timed out by A, restarted",
            )
    timed_out_by_b = [
        json.loads(line)
        for line in b.log_text().splitlines()
        if line.startswith("{") and "exchange_timed_out" in line
    ]
    assert [line["exchange_id"] for line in timed_out_by_b] == [sent_by_b["id"]]
