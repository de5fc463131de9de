"""The exchange store's interface: what the gateway keeps about every exchange.

One interface, two backends (SQLite by default, PostgreSQL for several gateway replicas),
both run through the same behavioural test suite. The store holds what async callers,
idempotency and other replicas need: status, the provider's result, and the metadata an
auditor asks about. It never holds the raw subject identifier (only its pseudonym) nor
the request payload (only its digest, for idempotency).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

__all__ = ["CreateOutcome", "ExchangeRecord", "ExchangeStatus", "ExchangeStore"]


class ExchangeStatus(StrEnum):
    """Where an exchange is. Only ``PENDING`` moves on; the others are final."""

    PENDING = "pending"
    COMPLETED = "completed"  # the provider answered (found or not found)
    FAILED = "failed"  # the provider answered with an error or refused the request
    TIMED_OUT = "timed_out"  # the deadline passed without a reply


@dataclass(frozen=True, slots=True)
class ExchangeRecord:
    """One exchange as stored. Times are timezone-aware UTC."""

    id: str
    requester: str
    service: str
    version: str  # the MAJOR.MINOR the gateway encoded the request with
    provider: str
    purpose: str
    official: str
    subject_ref: str  # keyed pseudonym, never the raw identifier
    request_digest: str  # hex SHA-256 of the canonical request body (idempotency)
    created_at: datetime
    deadline: datetime
    status: ExchangeStatus = ExchangeStatus.PENDING
    procedure: str | None = None
    case_file: str | None = None
    legal_basis: str | None = None
    consent_ref: str | None = None
    idempotency_key: str | None = None
    traceparent: str | None = None
    reply_status: str | None = None  # the provider's: ok | not_found | error | rejected
    result: Mapping[str, Any] | None = None  # the provider's data as JSON (when found)
    error_code: str | None = None
    error_detail: str | None = None
    completed_at: datetime | None = None
    sent_digest: str | None = None
    """SHA-256 (hex) of the signed bytes of the request record sent to the provider
    (``bus.record_signing.request_digest``): the provider's signed reply must name it."""
    owner: str | None = None
    """The replica that sent it and alone reads its reply (``<reply topic>:<its
    partitions>``); None for exchanges stored before owners were recorded. The other
    replicas time it out only well past its deadline (``ExchangeStates``)."""


@dataclass(frozen=True, slots=True)
class CreateOutcome:
    """``created`` is False when the idempotency key was already used by this requester:
    ``record`` is then the earlier exchange (the caller compares ``request_digest``)."""

    record: ExchangeRecord
    created: bool


class ExchangeStore(Protocol):
    """Async store of exchanges. Backend failures raise ``StoreUnavailableError`` (a 503)."""

    async def open(self) -> None:
        """Connect and create or migrate the schema (idempotent, safe for concurrent replicas)."""

    async def close(self) -> None:
        """Release connections; safe to call twice."""

    async def ping(self) -> None:
        """Raise ``StoreUnavailableError`` unless the backend answers (for /readyz)."""

    async def create(self, record: ExchangeRecord) -> CreateOutcome:
        """Insert ``record``; with an idempotency key already used by the same requester,
        insert nothing and return the existing exchange (atomically, even across replicas)."""

    async def get(self, exchange_id: str) -> ExchangeRecord | None:
        """The exchange, or None."""

    async def get_by_idempotency_key(
        self, requester: str, idempotency_key: str
    ) -> ExchangeRecord | None:
        """The exchange ``requester`` created with ``idempotency_key``, or None."""

    async def complete(
        self,
        exchange_id: str,
        *,
        status: ExchangeStatus,
        completed_at: datetime,
        reply_status: str | None = None,
        result: Mapping[str, Any] | None = None,
        error_code: str | None = None,
        error_detail: str | None = None,
        closing_owed: bool = False,
    ) -> ExchangeRecord | None:
        """Move a PENDING exchange to a final ``status``; return the updated record, or None
        when it is unknown or already final (a duplicate reply changes nothing).
        ``closing_owed``: its closing audit event is not written yet (the outbox writes it);
        set in the same statement, so a crash cannot separate the two."""

    async def expire_overdue(
        self,
        now: datetime,
        *,
        limit: int = 1000,
        sparing: Collection[str] = (),
        owner: str | None = None,
        others_before: datetime | None = None,
    ) -> list[ExchangeRecord]:
        """Mark up to ``limit`` PENDING exchanges whose deadline is before ``now`` as
        TIMED_OUT, their closing event owed, and return them (each exactly once, even
        across replicas). Exchanges in ``sparing`` stay PENDING (their reply's ending is
        being written). With ``others_before``, an exchange whose ``owner`` is not
        ``owner`` (or None) is marked only if its deadline is before ``others_before``
        too."""

    async def owed_closings(self, *, limit: int = 500) -> list[ExchangeRecord]:
        """Up to ``limit`` ended exchanges whose closing audit event is owed (timed out,
        or failed on the gateway's side), the longest-ended first."""

    async def count_owed_closings(self) -> int:
        """How many closing audit events are owed (a gauge for operators)."""

    async def settle_closings(self, exchange_ids: Sequence[str]) -> None:
        """The trail holds these exchanges' closing events: owe them no more."""

    async def release_idempotency_key(self, exchange_id: str) -> None:
        """Forget the idempotency key of an exchange that failed on the gateway's side before
        anything reached a provider, so a retry with that key starts a new exchange."""

    async def erase_results(self, ended_before: datetime, *, limit: int = 1000) -> int:
        """Erase the provider's data (``result``) of up to ``limit`` exchanges that ended
        before ``ended_before``; keep status and metadata. How many were erased."""
