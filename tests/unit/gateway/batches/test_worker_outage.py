"""The batch worker through an outage: items stay pending, nothing is failed for the
gateway's trouble, the batch resumes and finishes; outcomes follow the exchanges.

The store is the real SQLite batch store (a file, no network); the exchange service and
the exchange store are small fakes with the two methods the worker calls.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from prometheus_client import CollectorRegistry

from gateway.batches import BatchMetrics, BatchWorker
from gateway.batches.records import BatchRecord, ItemStatus, NewItem
from gateway.batches.store_sqlite import SqliteBatchStore
from gateway.errors import ConsentRequiredError, StoreUnavailableError
from gateway.exchanges import ExchangeService
from gateway.members import Member, MemberDirectory, Role
from gateway.settings import BatchSettings
from gateway.store.base import ExchangeRecord, ExchangeStatus, ExchangeStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MEMBER = Member(id="it.town", name="Town", roles=frozenset({Role.CONSUMER}))


class _Submitted:
    def __init__(self, record: ExchangeRecord, created: bool) -> None:
        self.record = record
        self.created = created


class _Exchanges:
    """Fails the first ``outage`` calls with a 503; then ends each exchange at once:
    found, except subjects starting ``NO-`` (denied by consent)."""

    def __init__(self, outage: int) -> None:
        self.outage = outage
        self.calls: list[str] = []
        self.records: dict[str, ExchangeRecord] = {}

    async def submit(self, member: Member, request: Any, document: Any, **kw: Any) -> Any:
        key = kw["idempotency_key"]
        self.calls.append(key)
        if len(self.calls) <= self.outage:
            raise StoreUnavailableError("the store is down")
        if request.subject.startswith("NO-"):
            raise ConsentRequiredError("no consent")
        if key in self.records:
            return _Submitted(self.records[key], created=False)
        record = ExchangeRecord(
            id=f"ex-{len(self.records)}",
            requester=member.id,
            service="s",
            version="1.0",
            provider="p",
            purpose="x",
            official="o",
            subject_ref="ref",
            request_digest="d",
            created_at=T0,
            deadline=T0 + timedelta(seconds=5),
            status=ExchangeStatus.COMPLETED,
            reply_status="ok",
        )
        self.records[key] = record
        return _Submitted(record, created=True)

    async def get(self, exchange_id: str) -> ExchangeRecord | None:
        return next((r for r in self.records.values() if r.id == exchange_id), None)


class _Directory:
    def get(self, member_id: str) -> Member | None:
        return MEMBER if member_id == MEMBER.id else None


async def _finished(store: SqliteBatchStore) -> bool:
    batch = await store.get("b-1")
    return batch is not None and batch.finished_at is not None


async def test_an_outage_pauses_the_batch_and_it_finishes_after(tmp_path: Path) -> None:
    """Five 503s in a row: no item fails, the pause is counted; then every item ends,
    found or denied, each submitted once it got through (one key per item)."""
    store = SqliteBatchStore(tmp_path / "gateway.db")
    await store.open()
    try:
        batch = BatchRecord(
            id="b-1",
            requester=MEMBER.id,
            request_digest="d",
            envelope={"service": "s", "version": "1", "purpose": "x", "official": "o-1"},
            provider="p",
            item_count=8,
            created_at=T0,
        )
        subjects = [f"{'NO' if i % 4 == 3 else 'OK'}-{i}" for i in range(8)]
        await store.create(
            batch, [NewItem(index=i, subject=s, data={}) for i, s in enumerate(subjects)]
        )
        exchanges = _Exchanges(outage=5)
        registry = CollectorRegistry()
        worker = BatchWorker(
            store=store,
            exchanges=cast(ExchangeService, exchanges),
            exchange_store=cast(ExchangeStore, exchanges),
            directory=cast(MemberDirectory, _Directory()),
            settings=BatchSettings(rate_per_provider=1000.0, poll_interval_s=0.05),
            metrics=BatchMetrics(registry),
            owner="r1",
        )
        worker.start()
        try:
            async with asyncio.timeout(30):  # a deadline, polled (no fixed sleep)
                while True:
                    if await _finished(store):
                        break
                    await asyncio.sleep(0.05)
        finally:
            await worker.stop()
        counts = await store.counts("b-1")
        assert counts == {ItemStatus.FOUND: 6, ItemStatus.DENIED: 2}
        assert registry.get_sample_value("interop_gateway_batch_pauses_total") == 1
        assert len(exchanges.records) == 6
        # After the outage each item went through exactly once.
        through = exchanges.calls[exchanges.outage :]
        assert sorted(through) == sorted(f"batch:b-1:{i}" for i in range(8))
        page = await store.items_page("b-1", after=-1, limit=10)
        assert [i.error_code for i in page if i.status is ItemStatus.DENIED] == [
            "CONSENT_REQUIRED",
            "CONSENT_REQUIRED",
        ]
        assert all(i.subject is None and i.data is None for i in page)
    finally:
        await store.close()
