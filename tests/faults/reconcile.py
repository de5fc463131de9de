"""The reconciliation every fault case ends with (issue #14, "Tests").

* Every accepted exchange (200/202) ends exactly once: its final state (GET) is
  ``completed`` with the municipal register's data for its subject (the demo registries
  are deterministic: ``connectors.demo.population``), unless the case allows the
  provider to fail (a hung or corrupted registry), where it may end ``failed`` or
  ``timed_out`` but must still end.
* None duplicated: one exchange per Idempotency-Key, one REQUESTED per exchange, and
  exactly one *kind* of closing event per exchange.
* Every REQUESTED audit event written during the case has its closing event (COMPLETED,
  FAILED or TIMED_OUT) matching the exchange's final state, and ``interop audit
  verify`` (the real CLI) exits 0.

The figures go into the case's ``CaseReport`` before anything is asserted, so a failing
case still reports what it saw.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter, defaultdict
from typing import Any, Final

import aiohttp

from connectors.demo.population import Person
from tests.faults.load import Load
from tests.faults.report import CaseReport
from tests.faults.system import System

__all__ = ["audit_events", "audit_mark", "final_states", "reconcile", "tally"]

CLOSING: Final = frozenset({"COMPLETED", "FAILED", "TIMED_OUT"})
_FINAL_TIMEOUT_S: Final = 90.0
_AUDIT_TIMEOUT_S: Final = 30.0
_VERIFY_TIMEOUT_S: Final = 60.0


async def get_json(system: System, path: str, *, member: str = "TOWN") -> tuple[int, Any]:
    """GET as ``member``; (0, None) while the gateway does not answer (the caller retries)."""
    headers = {"Authorization": f"Bearer {system.keys[member]}"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.get(f"{system.url}{path}", headers=headers) as response,
        ):
            return response.status, await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return 0, None


async def audit_mark(system: System) -> int:
    """The audit log's size now (from its latest checkpoint; 0 before the first one):
    a case audits the events from here on."""
    headers = {"Authorization": f"Bearer {system.keys['AUDITOR']}"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.get(f"{system.url}/v1/audit/checkpoint", headers=headers) as response,
        ):
            if response.status != 200:
                return 0
            lines = (await response.text()).splitlines()
    except (aiohttp.ClientError, TimeoutError):
        return 0
    return int(lines[1]) if len(lines) > 1 and lines[1].isdigit() else 0


async def audit_events(system: System, from_index: int, **query: str) -> list[dict[str, Any]]:
    """Every indexed audit event from ``from_index`` on (all pages) matching ``query``."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    base = "&".join(f"{k}={v}" for k, v in {"from_index": str(from_index), **query}.items())
    while True:
        path = f"/v1/audit/events?limit=1000&{base}" + (f"&cursor={cursor}" if cursor else "")
        status, page = await get_json(system, path, member="AUDITOR")
        assert status == 200, (status, page)
        found.extend(page["events"])
        cursor = page["next_cursor"]
        if cursor is None:
            return found


async def audit_events_once_requested(
    system: System, from_index: int, exchange_ids: set[str], *, timeout_s: float = 60.0
) -> tuple[list[dict[str, Any]], float]:
    """``audit_events`` from ``from_index`` once every one of ``exchange_ids`` has its
    REQUESTED indexed, or after ``timeout_s`` (the caller's assertions then say what is
    missing); and the seconds waited. The audit indexer runs apart and gathers its reads,
    so the last exchanges' events may not be indexed when their batch says it finished."""
    started = time.monotonic()
    while True:
        events = await audit_events(system, from_index)
        requested = {e["exchange_id"] for e in events if e["type"] == "REQUESTED"}
        if exchange_ids <= requested or time.monotonic() - started > timeout_s:
            return events, time.monotonic() - started
        await asyncio.sleep(0.5)


async def final_states(system: System, ids: set[str]) -> dict[str, dict[str, Any]]:
    """GET each exchange until it is no longer pending (bounded)."""
    finals: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + _FINAL_TIMEOUT_S
    for exchange_id in sorted(ids):
        while True:
            status, body = await get_json(system, f"/v1/exchanges/{exchange_id}")
            if status == 200 and body["status"] != "pending":
                finals[exchange_id] = body
                break
            assert time.monotonic() < deadline, f"{exchange_id} never ended: {status} {body}"
            await asyncio.sleep(0.25)
    return finals


def tally(report: CaseReport, load: Load) -> None:
    """What clients saw (counts, codes, slowest answer) into ``report``."""
    statuses = load.by_status()
    report.sent, report.ok, report.accepted_later = len(load.answers), statuses[200], statuses[202]
    report.errors = load.errors_by_code()
    report.too_slow = len(load.too_slow())
    report.slowest_s = max((a.latency_s for a in load.answers), default=None)


def registry_mismatch(person: Person, final: dict[str, Any]) -> str | None:
    """Why ``final`` is not the register's answer for ``person`` (None if it is)."""
    if final["status"] != "completed" or final["found"] is not True:
        return f"ended {final['status']} (found={final['found']}, error={final.get('error')})"
    data = final["data"] or {}
    expected = {
        "registered": True,
        "municipality_code": person.municipality.code,
        "municipality_name": person.municipality.name,
        "registered_since": person.registered_since.isoformat(),
        "household_size": person.household_size,
    }
    wrong = {k: (data.get(k), v) for k, v in expected.items() if data.get(k) != v}
    return f"data differs from the register: {sorted(wrong)}" if wrong else None


async def reconcile(
    system: System,
    load: Load,
    report: CaseReport,
    *,
    mark: int,
    provider_may_fail: bool = False,
) -> None:
    """Reconcile ``load`` with the gateway's store and the audit log since ``mark``;
    fill ``report``; assert what issue #14 demands."""
    tally(report, load)
    late = load.too_slow()

    twice = _twice(load)
    person_of = {a.exchange_id: a.person for a in load.answers if a.exchange_id}
    accepted = {a.exchange_id for a in load.answers if a.accepted and a.exchange_id}
    known = set(person_of)  # errors that name their exchange (502, 504, 503 after sending)
    finals = await final_states(system, known)

    lost: dict[str, str] = {}
    for exchange_id in accepted:
        why = registry_mismatch(system.people[person_of[exchange_id]], finals[exchange_id])
        ended_by_provider = finals[exchange_id]["status"] in ("failed", "timed_out")
        if why is not None and not (provider_may_fail and ended_by_provider):
            lost[exchange_id] = why
    # A 200 must have carried the register's data already, not only the later GET.
    for answer in load.answers:
        polled = answer.final if answer.status == 202 and answer.exchange_id else None
        if polled is not None and polled["status"] != finals[str(answer.exchange_id)]["status"]:
            lost[str(answer.exchange_id)] = "the polled final state changed afterwards"

    events = await _closed_events(system, mark, accepted)
    requested: Counter[str] = Counter()
    closings: dict[str, Counter[str]] = defaultdict(Counter)
    for event in events:
        exchange_id = event["exchange_id"]
        if exchange_id is None:
            continue
        if event["type"] == "REQUESTED":
            requested[exchange_id] += 1
        elif event["type"] in CLOSING:
            closings[exchange_id][event["type"]] += 1
    unclosed = [i for i in requested if not closings.get(i)]
    two_endings = {i: dict(c) for i, c in closings.items() if len(c) > 1}
    repeated = sum(sum(c.values()) - 1 for c in closings.values() if len(c) == 1)
    twice += [i for i, n in requested.items() if n > 1]
    wrong_ending = {
        i: (finals[i]["status"], dict(closings.get(i, {})))
        for i in known
        if (requested[i] or closings.get(i))
        and set(closings.get(i, {})) != {finals[i]["status"].upper()}
    }
    report.lost = len(lost)
    report.duplicated = len(set(twice)) + len(two_endings)
    if repeated:
        report.notes.append(f"{repeated} closing event(s) written twice (same kind)")
    if unclosed:
        report.notes.append(f"{len(unclosed)} REQUESTED without a closing event")

    assert not twice, f"duplicated keys/exchanges: {twice[:5]}"
    assert not lost, f"{len(lost)} accepted exchanges lost: {list(lost.items())[:5]}"
    assert not unclosed, f"{len(unclosed)} REQUESTED never closed: {unclosed[:5]}"
    assert not two_endings, f"exchanges closed two ways: {list(two_endings.items())[:5]}"
    assert not wrong_ending, f"audit disagrees with the store: {list(wrong_ending.items())[:5]}"
    verified = await asyncio.to_thread(_verify, system)
    assert verified.returncode == 0, verified.stdout[-2000:] + verified.stderr[-2000:]
    assert not late, (
        f"{len(late)} answers past the deadline + bound, slowest {report.slowest_s:.1f}s: "
        f"{[(a.status, a.code, round(a.latency_s, 1)) for a in late[:5]]}"
    )


def _twice(load: Load) -> list[str]:
    """Keys accepted under two exchange ids, and exchange ids answered for two keys."""
    ids_of_key: dict[str, set[str]] = defaultdict(set)
    for answer in load.answers:
        if answer.accepted and answer.exchange_id:
            ids_of_key[answer.key].add(answer.exchange_id)
    keys_of_id = Counter(i for ids in ids_of_key.values() for i in ids)
    twice = [k for k, ids in ids_of_key.items() if len(ids) > 1]
    return twice + [i for i, n in keys_of_id.items() if n > 1]


async def _closed_events(system: System, mark: int, accepted: set[str]) -> list[dict[str, Any]]:
    """The audit events since ``mark``, once every REQUESTED among them (and every
    ``accepted`` exchange) has a closing event indexed, or the bound passes."""
    deadline = time.monotonic() + _AUDIT_TIMEOUT_S
    while True:
        events = await audit_events(system, mark)
        requested = {e["exchange_id"] for e in events if e["type"] == "REQUESTED"}
        closed = {e["exchange_id"] for e in events if e["type"] in CLOSING}
        if (requested | accepted) <= closed or time.monotonic() > deadline:
            return events
        await asyncio.sleep(0.5)


def _verify(system: System) -> subprocess.CompletedProcess[str]:
    """``interop audit verify`` as ``interop dev`` printed it (retried while the index
    catches up, bounded)."""
    deadline = time.monotonic() + _VERIFY_TIMEOUT_S
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
