"""The audit trail through the real gateway, broker and index; the verifier against it.

* completeness: 2,000 requests (found, not found, provider errors, timeouts, consent
  denials): every exchange has exactly REQUESTED plus the one terminal event its outcome
  requires, every denial its DENIED event, and every 200 its COMPLETED event;
* a trail that fails: the caller gets a 503 problem, never the data;
* the audit API (JSON, CSV, the citizen's accesses) and ``interop audit verify``, which
  detects and names an altered row, a deleted event, two reordered events and a replaced
  checkpoint.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bus.audit.checkpoint import sign_checkpoint
from bus.audit.errors import AuditWriteError
from bus.audit.index import EventFilter
from bus.audit.index import tables as t
from bus.audit.note_keys import NoteSigner
from bus.audit.trail import AuditRecord
from interop.audit_cmd import run_verify
from tests.integration.audit.support import ORIGIN, SIGNER, audited_gateway, wait_for_size
from tests.integration.gateway.support import http, start_gateway

VKEY = SIGNER.verifier.key_string()
SUBJECT = "12345678Z"
OPPOSED = "87654321X"


def _ident(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def _verify(base_url: str, key: str, **kw: Any) -> tuple[int, str]:
    out = io.StringIO()
    code = await run_verify(gateway=base_url, api_key=key, key=VKEY, origin=ORIGIN, out=out, **kw)
    return code, out.getvalue()


async def test_every_exchange_has_exactly_its_events_and_the_log_verifies(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """2,000 requests through the gateway - found, not found, provider errors, timeouts and
    consent denials - and the index holds exactly the events each outcome requires."""
    async with audited_gateway(
        kafka_bootstrap,
        tmp_path,
        unique_name,
        exchanges={"max_wait_s": 20.0, "expiry_interval_s": 0.2, "max_deadline_s": 4.0},
        rate_limit={"rate_per_s": 100_000.0, "burst": 100_000},
    ) as (gw, extra, parts):
        status, _, opposition = await http(
            "POST",
            f"{gw.base_url}/v1/oppositions",
            headers={"Authorization": f"Bearer {extra['portal']}"},
            json={"subject": OPPOSED, "services": [gw.cat.residence]},
        )
        assert status == 201, opposition
        kinds = ["FOUND"] * 1500 + ["MISSING"] * 200 + ["BROKEN"] * 160 + ["DENIED"] * 100
        kinds += ["SLOW"] * 40  # last: their batch waits for the deadline
        outcomes: list[tuple[str, int]] = []
        ok_ids: list[str] = []

        async def one(kind: str) -> None:
            # Denied: a request about the opposed citizen (the data names the subject too).
            body = gw.body(OPPOSED) if kind == "DENIED" else gw.body(_ident(kind))
            status, _, answer = await http(
                "POST",
                f"{gw.base_url}/v1/exchanges",
                headers=gw.headers(Prefer="wait=10"),
                json=body,
            )
            outcomes.append((kind, status))
            if status == 200:
                ok_ids.append(answer["id"])

        for start in range(0, len(kinds), 50):
            await asyncio.gather(*(one(k) for k in kinds[start : start + 50]))
        by_status = Counter(status for _, status in outcomes)
        # Providers that answer are answered 200/502; only the silent one times out.
        assert Counter(kind for kind, status in outcomes if status == 504) == {"SLOW": 40}
        assert by_status == {200: 1700, 502: 160, 403: 100, 504: 40}, by_status

        total = 2 * 1900 + 100 + 1  # two per exchange, the denials, the opposition
        await wait_for_size(parts.index, total)
        events = await parts.index.events(EventFilter(), limit=10_000)
        assert len(events) == total
        per_exchange: dict[str, list[str]] = defaultdict(list)
        others: list[tuple[str, str | None]] = []
        for event in events:
            if event.row.exchange_id is None:
                others.append((event.row.type, event.row.reason))
            else:
                per_exchange[str(event.row.exchange_id)].append(event.row.type)
        assert len(per_exchange) == 1900
        shapes = Counter(tuple(types) for types in per_exchange.values())
        assert shapes == {
            ("REQUESTED", "COMPLETED"): 1700,
            ("REQUESTED", "FAILED"): 160,
            ("REQUESTED", "TIMED_OUT"): 40,
        }, shapes
        assert all(per_exchange[i] == ["REQUESTED", "COMPLETED"] for i in ok_ids)
        assert Counter(others) == {
            ("DENIED", "OPPOSITION_ACTIVE"): 100,
            ("OPPOSITION_REGISTERED", others[0][1]): 1,
        }, Counter(others)
        raw = (SUBJECT, OPPOSED)
        assert all(not any(s in str(e.row.to_json()) for s in raw) for e in events)

        code, output = await _verify(gw.base_url, extra["auditor"], sample=200)
        assert code == 0, output
        assert f"checkpoint: {ORIGIN}" in output


class _FailingTrail:
    """A trail whose broker never acknowledges."""

    def __init__(self) -> None:
        self.calls = 0

    async def record(self, event: AuditRecord) -> None:
        self.calls += 1
        raise AuditWriteError(f"{event.type} event not acknowledged within 1s")


async def test_a_failing_audit_write_gives_an_error_not_data(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """REQUESTED cannot be written: 503 problem, no data, and nothing reached the provider."""
    async with start_gateway(kafka_bootstrap, tmp_path, unique_name) as gw:
        trail = _FailingTrail()
        # The seam where REQUESTED is written: the exchange state machine's trail.
        gw.gateway.service._states._trail = trail
        status, headers, body = await http(
            "POST",
            f"{gw.base_url}/v1/exchanges",
            headers=gw.headers(Prefer="wait=5"),
            json=gw.body(SUBJECT),
        )
        assert status == 503, body
        assert headers["Content-Type"].startswith("application/problem+json")
        assert "result" not in body
        assert "audit" in body["detail"]
        assert trail.calls == 1
        assert gw.provider.requests == []


async def test_audit_api_and_verify_detect_each_kind_of_tampering(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """Query as JSON, CSV and as the citizen portal; then tamper four ways, each named."""
    async with audited_gateway(kafka_bootstrap, tmp_path, unique_name) as (gw, extra, parts):
        for _ in range(6):
            status, _, body = await http(
                "POST",
                f"{gw.base_url}/v1/exchanges",
                headers=gw.headers(Prefer="wait=5"),
                json=gw.body(SUBJECT),
            )
            assert status == 200, body
        await wait_for_size(parts.index, 12)
        auditor = {"Authorization": f"Bearer {extra['auditor']}"}
        status, _, page = await http(
            "GET",
            f"{gw.base_url}/v1/audit/events?subject={SUBJECT}&type=COMPLETED&limit=4",
            headers=auditor,
        )
        assert status == 200
        assert len(page["events"]) == 4
        assert page["next_cursor"]
        status, _, rest = await http(
            "GET",
            f"{gw.base_url}/v1/audit/events?subject={SUBJECT}&type=COMPLETED"
            f"&cursor={page['next_cursor']}",
            headers=auditor,
        )
        assert status == 200
        assert len(rest["events"]) == 2
        assert rest["next_cursor"] is None
        status, headers, csv_text = await http(
            "GET",
            f"{gw.base_url}/v1/audit/events?type=REQUESTED",
            headers={**auditor, "Accept": "text/csv"},
        )
        assert status == 200
        assert headers["Content-Type"].startswith("text/csv")
        assert csv_text.splitlines()[0].startswith("leaf_index,event_id,type")
        assert len(csv_text.splitlines()) == 7
        status, _, problem = await http(
            "GET", f"{gw.base_url}/v1/audit/events?type=NOPE", headers=auditor
        )
        assert status == 400
        assert problem["status"] == 400
        status, _, problem = await http(
            "GET", f"{gw.base_url}/v1/audit/events", headers=gw.headers()
        )
        assert status == 403
        portal = {"Authorization": f"Bearer {extra['portal']}"}
        status, _, accesses = await http(
            "POST", f"{gw.base_url}/v1/subjects/accesses", headers=portal, json={"subject": SUBJECT}
        )
        assert status == 200
        assert len(accesses["accesses"]) == 6
        assert {a["administration"] for a in accesses["accesses"]} == {"it.town"}

        saved = tmp_path / "checkpoint.txt"
        code, output = await _verify(gw.base_url, extra["auditor"], save=saved)
        assert code == 0, output
        assert "verified: 12 event(s)" in output, output
        events = (await http("GET", f"{gw.base_url}/v1/audit/events", headers=auditor))[2]
        target = events["events"][5]

        # 1. an altered row: the event as served no longer hashes to its leaf.
        async with parts.index.connection() as conn:
            await conn.execute(
                t.events.update().where(t.events.c.seq == 5).values(requester="es.someone")
            )
        code, output = await _verify(gw.base_url, extra["auditor"])
        assert code == 1
        assert f"FAILED inclusion (event {target['event_id']}, leaf 5)" in output
        code, output = await _verify(gw.base_url, extra["auditor"], event_ids=[target["event_id"]])
        assert code == 1
        assert target["event_id"] in output
        async with parts.index.connection() as conn:
            await conn.execute(
                t.events.update().where(t.events.c.seq == 5).values(requester=target["requester"])
            )

        # 2. two events reordered: each sits at the other's leaf.
        async with parts.index.connection() as conn:
            await conn.execute(t.events.update().where(t.events.c.seq == 3).values(seq=-1))
            await conn.execute(t.events.update().where(t.events.c.seq == 4).values(seq=3))
            await conn.execute(t.events.update().where(t.events.c.seq == -1).values(seq=4))
        code, output = await _verify(gw.base_url, extra["auditor"])
        assert code == 1, output
        assert "FAILED inclusion" in output, output
        assert "leaf 3" in output, output
        async with parts.index.connection() as conn:
            await conn.execute(t.events.update().where(t.events.c.seq == 3).values(seq=-1))
            await conn.execute(t.events.update().where(t.events.c.seq == 4).values(seq=3))
            await conn.execute(t.events.update().where(t.events.c.seq == -1).values(seq=4))
        assert (await _verify(gw.base_url, extra["auditor"]))[0] == 0

        # 3. a deleted event: its leaf is missing from the log as served.
        async with parts.index.connection() as conn:
            deleted = (await conn.execute(sa.select(t.events).where(t.events.c.seq == 7))).one()
            await conn.execute(t.events.delete().where(t.events.c.seq == 7))
        code, output = await _verify(gw.base_url, extra["auditor"])
        assert code == 1, output
        assert "FAILED missing (leaf 7)" in output, output
        async with parts.index.connection() as conn:
            await conn.execute(t.events.insert().values(**deleted._mapping))

        # 4. a replaced checkpoint: signed by another key, or rewinding the saved one.
        forger = NoteSigner.generate(ORIGIN)
        forged = sign_checkpoint(ORIGIN, 12, b"\x01" * 32, forger)
        async with parts.index.connection() as conn:
            await conn.execute(
                t.checkpoints.insert().values(
                    tree_size=10**9, root_hash=b"\x01" * 32, note=forged, created_at="x"
                )
            )
        code, output = await _verify(gw.base_url, extra["auditor"], since=saved)
        assert code == 1
        assert "FAILED checkpoint" in output
        assert "BUS_AUDIT_NOTE_UNVERIFIED" in output
        async with parts.index.connection() as conn:
            await conn.execute(t.checkpoints.delete().where(t.checkpoints.c.tree_size == 10**9))
        code, output = await _verify(gw.base_url, extra["auditor"], since=saved)
        assert code == 0, output
