"""What the batch store keeps: a batch, its items, their statuses, and the store's interface.

A batch row holds the envelope every item shares (service, purpose, official...), the
caller's idempotency key with the digest of the body, and the lease of the replica that
works on it (``owner``, ``lease_until``). An item row holds what its exchange needs until
it is created: the subject and the data. Both are erased in the statement that records
the item's exchange (or its cancellation): from then on the exchange store holds what
there is to hold (a pseudonym, never the identifier), and the batch only the link.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

__all__ = [
    "FINAL_ITEM_STATUSES",
    "BatchItem",
    "BatchRecord",
    "BatchStore",
    "ItemStatus",
    "NewItem",
    "item_from_row",
]


class ItemStatus(StrEnum):
    """Where one item of a batch is. ``pending`` and ``sent`` move on; the rest are final."""

    PENDING = "pending"  # not sent yet
    SENT = "sent"  # its exchange exists and waits for the provider
    FOUND = "found"  # completed, the provider holds data about the subject
    NOT_FOUND = "not_found"  # completed, the provider holds nothing about the subject
    DENIED = "denied"  # refused by the consent decision (no consent, an opposition)
    FAILED = "failed"  # the provider answered with an error, or the item was refused
    TIMED_OUT = "timed_out"  # the deadline passed without a reply
    CANCELLED = "cancelled"  # cancelled before it was sent


FINAL_ITEM_STATUSES = frozenset(ItemStatus) - {ItemStatus.PENDING, ItemStatus.SENT}


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """One batch as stored. Times are timezone-aware UTC."""

    id: str
    requester: str
    request_digest: str
    envelope: Mapping[str, Any]
    """The fields every item shares (service, version, provider, purpose, procedure,
    case_file, official, legal_basis), as the caller sent them."""
    provider: str
    """The resolved provider: the per-provider rate applies to it."""
    item_count: int
    created_at: datetime
    idempotency_key: str | None = None
    traceparent: str | None = None
    cancelled_at: datetime | None = None
    finished_at: datetime | None = None
    owner: str | None = None
    lease_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewItem:
    """An item as accepted: its subject and data stay only until its exchange exists."""

    index: int
    subject: str
    data: Mapping[str, Any]
    item_ref: str | None = None
    consent_ref: str | None = None


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One item as stored (``subject``/``data`` are None once it was sent or cancelled)."""

    batch_id: str
    index: int
    status: ItemStatus
    item_ref: str | None = None
    consent_ref: str | None = None
    subject: str | None = None
    data: Mapping[str, Any] | None = None
    exchange_id: str | None = None
    error_code: str | None = None


class BatchStore(Protocol):
    """Async store of batches. Backend failures raise ``StoreUnavailableError`` (a 503)."""

    async def open(self) -> None:
        """Connect and create or migrate the schema."""

    async def close(self) -> None:
        """Release connections; safe to call twice."""

    async def ping(self) -> None:
        """Raise ``StoreUnavailableError`` unless the backend answers."""

    async def create(
        self, batch: BatchRecord, items: Sequence[NewItem]
    ) -> tuple[BatchRecord, bool]:
        """Insert the batch and all its items in one transaction, or, when its requester
        already used its idempotency key, nothing: then the earlier batch and False."""

    async def get(self, batch_id: str) -> BatchRecord | None:
        """The batch, or None."""

    async def counts(self, batch_id: str) -> dict[ItemStatus, int]:
        """How many items of the batch are in each status (absent statuses: none)."""

    async def claim(
        self, owner: str, *, now: datetime, lease_until: datetime, limit: int
    ) -> list[BatchRecord]:
        """Take or renew the lease of up to ``limit`` unfinished batches: those ``owner``
        holds, nobody holds, or whose lease expired before ``now`` (each batch goes to
        one owner, even across replicas)."""

    async def release(self, batch_id: str, owner: str) -> None:
        """Give the lease up (on shutdown), so another replica takes the batch at once."""

    async def pending_items(self, batch_id: str, *, limit: int) -> list[BatchItem]:
        """Up to ``limit`` items still pending, in index order."""

    async def sent_items(self, batch_id: str) -> list[BatchItem]:
        """The items sent whose outcome is not recorded yet."""

    async def mark_sent(self, batch_id: str, index: int, exchange_id: str) -> None:
        """The item's exchange exists: link it, erase the subject and the data."""

    async def mark_final(
        self, batch_id: str, index: int, status: ItemStatus, error_code: str | None = None
    ) -> bool:
        """Record the item's outcome (from ``pending`` or ``sent``); False if it had one."""

    async def cancel(self, batch_id: str, now: datetime) -> int:
        """Cancel every item still pending (erasing its subject and data); how many."""

    async def finish_if_done(self, batch_id: str, now: datetime) -> bool:
        """Mark the batch finished when no item is pending or sent; True if it is now."""

    async def items_page(self, batch_id: str, *, after: int, limit: int) -> list[BatchItem]:
        """Up to ``limit`` items with an index above ``after``, in index order."""

    async def count_active(self) -> int:
        """How many batches are not finished (a gauge for operators)."""

    async def purge_finished(self, before: datetime, *, limit: int) -> int:
        """Delete up to ``limit`` batches finished before ``before``, with their items;
        how many batches."""


def item_from_row(row: Any) -> BatchItem:
    """An item from a ``batch_items`` row of either store (``sqlite3.Row`` or
    ``asyncpg.Record``: both are read by column name, and keep ``data`` as JSON text)."""
    return BatchItem(
        batch_id=row["batch_id"],
        index=int(row["idx"]),
        status=ItemStatus(row["status"]),
        item_ref=row["item_ref"],
        consent_ref=row["consent_ref"],
        subject=row["subject"],
        data=None if row["data"] is None else json.loads(row["data"]),
        exchange_id=row["exchange_id"],
        error_code=row["error_code"],
    )
