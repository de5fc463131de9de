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
   event that fails.
"""

from __future__ import annotations

import base64
import binascii
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bus.audit.checkpoint import Checkpoint, open_checkpoint
from bus.audit.errors import MalformedAuditEventError, NoteError
from bus.audit.event import leaf_entry, row_from_json
from bus.audit.merkle import leaf_hash, root, verify_consistency, verify_inclusion
from bus.audit.note_keys import NoteVerifier

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

    def __init__(self, source: LogSource, verifier: NoteVerifier, *, origin: str | None = None):
        self._source = source
        self._verifier = verifier
        self._origin = origin

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
        return None

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
        while len(events) < checkpoint.size:
            batch = await self._source.events_from(len(events), page)
            batch = [e for e in batch if isinstance(e.get("leaf_index"), int)]
            batch = [e for e in batch if e["leaf_index"] < checkpoint.size]
            if not batch or batch[0]["leaf_index"] != len(events):
                missing = len(events)
                return missing, Finding(
                    "missing",
                    f"no event at leaf {missing} of {checkpoint.size}: an event was deleted",
                    leaf_index=missing,
                )
            for event in batch:
                if event["leaf_index"] != len(events):
                    missing = len(events)
                    return missing, Finding(
                        "missing",
                        f"no event at leaf {missing} of {checkpoint.size}: an event was deleted",
                        leaf_index=missing,
                    )
                try:
                    leaves.append(leaf_hash(leaf_entry(row_from_json(event))))
                except MalformedAuditEventError as exc:
                    return len(events), Finding(
                        "inclusion",
                        f"event at leaf {len(events)}: {exc.message}",
                        str(event.get("event_id")),
                        len(events),
                    )
                events.append(event)
        if root(leaves) == checkpoint.root_hash:
            return len(events), None
        # Some event differs from what the log committed to: find the first one.
        for count, event in enumerate(events):
            finding = await self._inclusion(str(event.get("event_id")), checkpoint)
            if finding is not None:
                return count, finding
        return len(events), Finding(
            "inclusion", "the events do not rebuild the checkpoint's root hash"
        )
