"""What ``interop audit verify`` checks, independent of how the data is fetched.

``LogVerifier`` is given a ``LogSource`` (the audit API over HTTP in the CLI, anything in
tests) and the trusted verifier key. It checks, in order, and stops at the first
failure with a ``Finding`` that names what failed:

1. the latest checkpoint is signed by the trusted key (for the expected origin);
2. it is consistent with a saved earlier checkpoint (``--since``): same prefix, never
   smaller (a replaced or rolled-back log fails here);
3. inclusion of events: the ones named (``--event``), a random sample (``--sample N``),
   or every event (the default): events are walked in log order, a missing leaf index is
   named, and each event's leaf is RECOMPUTED from the event as served, so a row altered
   in the index fails its proof. Checking every event needs no proof per event: their
   leaves must rebuild the checkpoint's root; only if they do not, proofs find the first
   event that fails;
4. given the members' public keys, each event checked is signed by its actor, who may
   write its type (``bus.audit.event_signing``, the indexer's own check), so an auditor
   proves offline who wrote each step (``signature``);
5. walking every event: for each exchange, the provider's RESPONDED digests agree with
   the gateway's REQUESTED (request) and COMPLETED (response) digests (``digests``): a
   difference means what the provider answered is not what the requester got;
6. walking every event: every exchange REQUESTED more than ``UNCLOSED_AFTER`` before the
   log's latest event has its closing event, COMPLETED, FAILED or TIMED_OUT
   (``unclosed``). The gateway owes one to every exchange by its deadline (at most
   minutes); one missing an hour later was lost or kept out of the log, and the
   citizen's access list would not show the exchange.
"""

from __future__ import annotations

import base64
import binascii
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from bus.audit.checkpoint import Checkpoint, open_checkpoint
from bus.audit.digest_agreement import DigestAgreement
from bus.audit.errors import MalformedAuditEventError, NoteError
from bus.audit.event import EventRow, leaf_entry, row_from_json
from bus.audit.event_signing import (
    EventSignature,
    check_event,
    is_step_after_the_request,
    request_fingerprint,
)
from bus.audit.merkle import leaf_hash, root, verify_consistency, verify_inclusion
from bus.audit.note_keys import NoteVerifier
from bus.member_keys import MemberKeys
from bus.signed_time import step_time_problem

__all__ = ["Finding", "LogSource", "LogVerifier", "Report"]


class LogSource(Protocol):
    """Where the verifier reads the log (each call may raise the source's own error)."""

    async def checkpoint(self) -> str: ...

    async def consistency(self, old_size: int, new_size: int) -> list[str]: ...

    async def proof(self, event_id: str, tree_size: int) -> Mapping[str, Any]: ...

    async def events_from(self, leaf_index: int, limit: int) -> list[Mapping[str, Any]]: ...


@dataclass(frozen=True)
class Finding:
    """A failed check: ``what`` (checkpoint, consistency, missing, inclusion) and detail."""

    what: str
    detail: str
    event_id: str | None = None
    leaf_index: int | None = None


@dataclass(frozen=True)
class Report:
    """The outcome: the verified checkpoint (if its signature held) and the first finding."""

    checkpoint: Checkpoint | None
    checkpoint_note: str | None
    events_checked: int
    finding: Finding | None

    @property
    def ok(self) -> bool:
        return self.finding is None


def _hashes(values: Sequence[object]) -> list[bytes] | None:
    out: list[bytes] = []
    for value in values:
        if not isinstance(value, str):
            return None
        try:
            out.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            return None
    return out


class LogVerifier:
    """Checks one log against a trusted key (see the module docstring)."""

    def __init__(
        self,
        source: LogSource,
        verifier: NoteVerifier,
        *,
        origin: str | None = None,
        member_keys: MemberKeys | None = None,
    ):
        self._source = source
        self._verifier = verifier
        self._origin = origin
        self._keys = member_keys

    async def run(
        self,
        *,
        since: str | None = None,
        event_ids: Sequence[str] = (),
        sample: int | None = None,
        page: int = 1000,
    ) -> Report:
        note = await self._source.checkpoint()
        try:
            checkpoint = open_checkpoint(note, self._verifier, origin=self._origin)
        except NoteError as exc:
            return Report(None, None, 0, Finding("checkpoint", f"[{exc.code}] {exc.message}"))
        finding = await self._check_since(since, checkpoint)
        if finding is not None:
            return Report(checkpoint, note, 0, finding)
        if event_ids:
            checked, finding = await self._named(event_ids, checkpoint)
        elif sample is not None:
            checked, finding = await self._sampled(sample, checkpoint)
        else:
            checked, finding = await self._all(checkpoint, page)
        return Report(checkpoint, note, checked, finding)

    async def _check_since(self, since: str | None, new: Checkpoint) -> Finding | None:
        if since is None:
            return None
        try:
            old = open_checkpoint(since, self._verifier, origin=self._origin)
        except NoteError as exc:
            return Finding("checkpoint", f"the saved checkpoint does not verify: {exc.message}")
        if old.size > new.size:
            return Finding(
                "consistency",
                f"the log shrank: the saved checkpoint has {old.size} events, the current"
                f" one {new.size}",
            )
        if old.size in (0, new.size):
            same = old.size == 0 or old.root_hash == new.root_hash
            proof: list[bytes] | None = []
        else:
            proof = _hashes(await self._source.consistency(old.size, new.size))
            same = proof is not None and verify_consistency(
                old.size, new.size, old.root_hash, new.root_hash, proof
            )
        if not same:
            return Finding(
                "consistency",
                f"the log at {new.size} events does not extend the saved checkpoint at"
                f" {old.size}: its history was rewritten",
            )
        return None

    async def _inclusion(self, event_id: str, checkpoint: Checkpoint) -> Finding | None:
        answer = await self._source.proof(event_id, checkpoint.size)
        try:
            row = row_from_json(answer.get("event", {}))
        except MalformedAuditEventError as exc:
            return Finding("inclusion", f"event {event_id} as served: {exc.message}", event_id)
        index = answer.get("leaf_index")
        proof = _hashes(answer.get("proof", []))
        leaf = leaf_hash(leaf_entry(row))
        if (
            row.event_id != event_id
            or not isinstance(index, int)
            or proof is None
            or not verify_inclusion(leaf, index, checkpoint.size, proof, checkpoint.root_hash)
        ):
            return Finding(
                "inclusion",
                f"event {event_id} (leaf {index}) is not in the signed log as served: the"
                " event or its place was altered",
                event_id,
                index if isinstance(index, int) else None,
            )
        return self._signed(answer.get("event", {}), row, index)

    def _signed(self, served: Mapping[str, Any], row: EventRow, index: object) -> Finding | None:
        """The event's signature and its actor's right to write it (with the keys)."""
        if self._keys is None:
            return None
        key_id, signature = served.get("key_id"), served.get("signature")
        signed = (
            EventSignature(key_id, signature)
            if isinstance(key_id, str) and isinstance(signature, str)
            else None
        )
        problem = check_event(row, signed, self._keys)
        if problem is None:
            return None
        return Finding(
            "signature",
            f"event {row.event_id} ({row.type} by {row.actor}): {problem.text}",
            row.event_id,
            index if isinstance(index, int) else None,
        )

    async def _named(
        self, event_ids: Sequence[str], checkpoint: Checkpoint
    ) -> tuple[int, Finding | None]:
        for count, event_id in enumerate(event_ids):
            finding = await self._inclusion(event_id, checkpoint)
            if finding is not None:
                return count, finding
        return len(event_ids), None

    async def _sampled(self, sample: int, checkpoint: Checkpoint) -> tuple[int, Finding | None]:
        size = checkpoint.size
        indexes = sorted(random.SystemRandom().sample(range(size), min(sample, size)))
        for count, index in enumerate(indexes):
            found = await self._source.events_from(index, 1)
            if not found or found[0].get("leaf_index") != index:
                return count, Finding("missing", f"no event at leaf {index}", leaf_index=index)
            finding = await self._inclusion(str(found[0].get("event_id")), checkpoint)
            if finding is not None:
                return count, finding
        return len(indexes), None

    async def _all(self, checkpoint: Checkpoint, page: int) -> tuple[int, Finding | None]:
        events: list[Mapping[str, Any]] = []
        leaves: list[bytes] = []
        digests = DigestAgreement()
        closings = _Closings(check_steps=self._keys is not None)
        while len(events) < checkpoint.size:
            batch = await self._source.events_from(len(events), page)
            batch = [e for e in batch if isinstance(e.get("leaf_index"), int)]
            batch = [e for e in batch if e["leaf_index"] < checkpoint.size]
            if not batch:
                return len(events), _missing(len(events), checkpoint.size)
            for event in batch:
                finding = self._walked(
                    event, len(events), checkpoint.size, leaves, digests, closings
                )
                if finding is not None:
                    return len(events), finding
                events.append(event)
        if root(leaves) == checkpoint.root_hash:
            return len(events), _digest_finding(digests.disagreeing()) or closings.finding()
        # Some event differs from what the log committed to: find the first one.
        for count, event in enumerate(events):
            finding = await self._inclusion(str(event.get("event_id")), checkpoint)
            if finding is not None:
                return count, finding
        return len(events), Finding(
            "inclusion", "the events do not rebuild the checkpoint's root hash"
        )

    def _walked(
        self,
        event: Mapping[str, Any],
        index: int,
        size: int,
        leaves: list[bytes],
        digests: DigestAgreement,
        closings: _Closings,
    ) -> Finding | None:
        """One event of the full walk: in its place, well-formed, signed; its leaf kept."""
        if event["leaf_index"] != index:
            return _missing(index, size)
        try:
            row = row_from_json(event)
        except MalformedAuditEventError as exc:
            return Finding(
                "inclusion",
                f"event at leaf {index}: {exc.message}",
                str(event.get("event_id")),
                index,
            )
        leaves.append(leaf_hash(leaf_entry(row)))
        digests.add(row)
        closings.add(row)
        return self._signed(event, row, index)


UNCLOSED_AFTER: Final = timedelta(hours=1)
_CLOSING: Final = frozenset({"COMPLETED", "FAILED", "TIMED_OUT"})


class _Closings:
    """Which exchanges were REQUESTED, when and for what, and which have a closing event.

    ``check_steps`` (with the members' keys, as the indexer checks): a provider's
    DELIVERED, RESPONDED or REJECTED must repeat its exchange's REQUESTED, which the log holds
    before it (``bus.audit.event_signing.as_requested``); a fingerprint of each REQUESTED
    is kept, not the event."""

    def __init__(self, *, check_steps: bool = False) -> None:
        self._requested: dict[str, tuple[datetime, bytes]] = {}
        self._closed: set[str] = set()
        self._latest: datetime | None = None
        self._check_steps = check_steps
        self._not_as_requested: dict[str, None] = {}

    def add(self, row: EventRow) -> None:
        self._latest = row.time if self._latest is None else max(self._latest, row.time)
        if row.exchange_id is None:
            return
        if row.type == "REQUESTED":
            self._requested.setdefault(row.exchange_id, (row.time, request_fingerprint(row)))
        elif row.type in _CLOSING:
            self._closed.add(row.exchange_id)
        elif self._check_steps and is_step_after_the_request(row):
            requested = self._requested.get(row.exchange_id)
            if (
                requested is None
                or requested[1] != request_fingerprint(row)
                or step_time_problem(row.time, requested[0]) is not None
            ):
                self._not_as_requested[row.exchange_id] = None

    def finding(self) -> Finding | None:
        if self._latest is None:
            return None
        lies = _exchanges_finding(
            "not_as_requested",
            "with a provider step that is not what the exchange's REQUESTED says (another"
            " requester, subject, purpose..., or dated before it) or that has no REQUESTED"
            " before it",
            list(self._not_as_requested),
        )
        if lies is not None:
            return lies
        before = self._latest - UNCLOSED_AFTER
        unclosed = sorted(
            exchange_id
            for exchange_id, (at, _) in self._requested.items()
            if at < before and exchange_id not in self._closed
        )
        return _exchanges_finding(
            "unclosed",
            "REQUESTED over an hour before the log's latest event with no COMPLETED, FAILED"
            " or TIMED_OUT",
            unclosed,
        )


def _missing(index: int, size: int) -> Finding:
    return Finding(
        "missing",
        f"no event at leaf {index} of {size}: an event was deleted",
        leaf_index=index,
    )


_SHOWN = 20


def _digest_finding(exchange_ids: list[str]) -> Finding | None:
    """A ``digests`` finding naming the exchanges whose digests disagree, or None."""
    return _exchanges_finding(
        "digests",
        "where the provider's RESPONDED digests differ from the gateway's",
        exchange_ids,
    )


def _exchanges_finding(kind: str, what: str, exchange_ids: list[str]) -> Finding | None:
    """A finding naming the first ``_SHOWN`` of ``exchange_ids``, or None if there are none."""
    if not exchange_ids:
        return None
    shown = ", ".join(exchange_ids[:_SHOWN]) + (" ..." if len(exchange_ids) > _SHOWN else "")
    return Finding(kind, f"{len(exchange_ids)} exchange(s) {what}: {shown}")
