"""The audit index: events, Merkle nodes, the consumed offset and checkpoints in one database.

SQLite by default, PostgreSQL when several gateway replicas share state; one SQLAlchemy
Core implementation serves both (``sqlite+aiosqlite`` and ``postgresql+asyncpg``).

The one writer is the indexer. ``append`` writes a batch's rows, the tree nodes they
complete and the next topic offset in ONE transaction, and only if the stored offset is
still the one the batch starts from (read under a write lock: ``BEGIN IMMEDIATE`` in
SQLite, ``SELECT ... FOR UPDATE`` in PostgreSQL). A crash therefore never appends an
event twice, and a second indexer that raced this one gets ``IndexConflictError`` and
re-reads the state instead of forking the log.

Everything the database raises is translated here, and only here, into
``AuditIndexUnavailableError`` (retriable).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bus.audit.errors import AuditIndexUnavailableError, IndexConflictError, InvalidCursorError
from bus.audit.event import EVENT_FIELDS, EventRow, format_time
from bus.audit.event_signing import EventSignature
from bus.audit.index import tables as t
from bus.audit.index.proofs import (
    NodeKey,
    consistency_nodes,
    fold_proof,
    fold_root,
    inclusion_nodes,
    root_nodes,
)
from bus.audit.merkle_store import Node, compact_range
from storage import MIGRATION_LOCK_KEY, create_private

__all__ = [
    "AuditIndex",
    "AuditIndexUnavailableError",
    "EventFilter",
    "IndexConflictError",
    "IndexState",
    "IndexedEvent",
    "InvalidCursorError",
    "QuarantinedEvent",
    "StoredCheckpoint",
    "decode_cursor",
    "encode_cursor",
]

_NODE_BATCH: Final = 400


@dataclass(frozen=True, slots=True)
class IndexState:
    """Where the indexer is: next topic offset to read, leaves in the tree, records skipped."""

    next_offset: int
    tree_size: int
    skipped: int


@dataclass(frozen=True, slots=True)
class IndexedEvent:
    """An event with its place in the log and its actor's signature (None: unsigned)."""

    leaf_index: int
    topic_offset: int
    row: EventRow
    signature: EventSignature | None = None


@dataclass(frozen=True, slots=True)
class QuarantinedEvent:
    """A refused audit record: where it was, what it claimed, why (never in the tree)."""

    topic_offset: int
    event_id: str | None
    type: str | None
    actor: str | None
    key_id: str | None
    reason: str
    quarantined_at: str


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A signed checkpoint as stored: the note text and what it commits to."""

    tree_size: int
    root_hash: bytes
    note: str
    created_at: str


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Query filters; every given one must match (``since`` inclusive, ``until`` exclusive)."""

    subject_ref: str | None = None
    requester: str | None = None
    provider: str | None = None
    service: str | None = None
    purpose: str | None = None
    outcome: str | None = None
    types: tuple[str, ...] = ()
    exchange_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    from_index: int | None = None
    below_size: int | None = None


def encode_cursor(after_seq: int) -> str:
    """An opaque cursor for the page after leaf ``after_seq``."""
    return base64.urlsafe_b64encode(json.dumps({"a": after_seq}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The leaf index a cursor continues after (``InvalidCursorError`` if not ours)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)["a"]
    except (ValueError, KeyError, TypeError):
        raise InvalidCursorError("the cursor is not one this API handed out") from None
    if not isinstance(value, int) or isinstance(value, bool) or value < -1:
        raise InvalidCursorError("the cursor is not one this API handed out")
    return value


def _engine_url(url: str) -> tuple[str, dict[str, Any]]:
    """The SQLAlchemy URL for a store URL (``sqlite:///path`` or ``postgresql://...``)."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if not path or path == ":memory:":
            raise ValueError("the audit index needs a SQLite file path, not :memory:")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # unopenable: the engine reports it precisely
            create_private(Path(path))
        return f"sqlite+aiosqlite:///{path}", {"timeout": 30}
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+asyncpg://" + url.removeprefix(scheme), {}
    raise ValueError("the audit index URL is sqlite:///<path> or postgresql://...")


class AuditIndex:
    """The audit index over one database (same URL as the gateway's exchange store)."""

    def __init__(self, url: str) -> None:
        engine_url, connect_args = _engine_url(url)
        self._sqlite = engine_url.startswith("sqlite")
        self._engine: AsyncEngine = create_async_engine(
            engine_url, connect_args=connect_args, pool_pre_ping=not self._sqlite
        )
        if self._sqlite:
            _sqlite_immediate_transactions(self._engine)

    @property
    def backend(self) -> str:
        return "sqlite" if self._sqlite else "postgresql"

    # -- lifecycle -------------------------------------------------------------------
    async def open(self) -> None:
        """Create or migrate the tables (idempotent; replicas starting together migrate once)."""
        with _translate("create the audit tables"):
            async with self._engine.begin() as conn:
                if not self._sqlite:
                    # Transaction-scoped: released at commit. The key every component's
                    # migration holds: they share ``schema_version``, and a gateway and an
                    # ``interop audit index`` process starting together would both create
                    # it (a duplicate-key error in PostgreSQL's catalogue).
                    await conn.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                await conn.execute(
                    sa.text(
                        "CREATE TABLE IF NOT EXISTS schema_version "
                        "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
                    )
                )
                found = (
                    await conn.execute(
                        sa.text("SELECT version FROM schema_version WHERE component = :c"),
                        {"c": t.COMPONENT},
                    )
                ).scalar()
                current = int(found or 0)
                if current > t.SCHEMA_VERSION:
                    raise AuditIndexUnavailableError(
                        f"the audit index has schema version {current}, newer than this "
                        f"gateway knows ({t.SCHEMA_VERSION}): upgrade the gateway"
                    )
                if current == 1:
                    # create_all adds missing tables only: the new columns need ALTER.
                    for column in t.V2_COLUMNS:
                        await conn.execute(
                            sa.text(f"ALTER TABLE audit_events ADD COLUMN {column} TEXT")
                        )
                if current < t.SCHEMA_VERSION:
                    await conn.run_sync(t.metadata.create_all)
                    await conn.execute(
                        sa.text(
                            "INSERT INTO schema_version (component, version) VALUES (:c, :v) "
                            "ON CONFLICT (component) DO UPDATE SET version = excluded.version"
                        ),
                        {"c": t.COMPONENT, "v": t.SCHEMA_VERSION},
                    )
                if current == 0:
                    await conn.execute(
                        t.state.insert().values(id=1, next_offset=0, tree_size=0, skipped=0)
                    )

    async def close(self) -> None:
        """Release the connections; safe to call twice."""
        await self._engine.dispose()

    async def ping(self) -> None:
        """``AuditIndexUnavailableError`` unless the database answers."""
        with _translate("answer a ping"):
            async with self._engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))

    # -- the writer ------------------------------------------------------------------
    async def state(self) -> IndexState:
        """The indexer's position."""
        with _translate("read the index state"):
            async with self._engine.connect() as conn:
                row = (await conn.execute(sa.select(t.state).where(t.state.c.id == 1))).one()
        return IndexState(row.next_offset, row.tree_size, row.skipped)

    async def border(self, size: int) -> dict[NodeKey, bytes]:
        """The right-border nodes of the tree at ``size`` (what appends merge with)."""
        with _translate("read the tree border"):
            async with self._engine.connect() as conn:
                return await self._nodes(conn, set(compact_range(0, size)))

    async def append(
        self,
        *,
        start_offset: int,
        next_offset: int,
        first_leaf: int,
        items: Sequence[tuple[int, EventRow]],
        new_nodes: Sequence[Node],
        skipped: int,
        signatures: Mapping[int, EventSignature] | None = None,
        quarantined: Sequence[QuarantinedEvent] = (),
    ) -> IndexState:
        """Append ``items`` ((topic offset, event), in topic order) as leaves
        ``first_leaf...`` with their ``new_nodes``, and move the offset to ``next_offset``.

        ``signatures``: topic offset -> the event's key id and signature (stored with it);
        ``quarantined``: the refused events of the batch, stored apart, never leaves.
        One transaction; ``IndexConflictError`` if the stored state is not
        (``start_offset``, ``first_leaf``), i.e. another indexer got there first.
        """
        with _translate("append to the audit index"):
            async with self._engine.begin() as conn:
                query = sa.select(t.state).where(t.state.c.id == 1)
                if not self._sqlite:
                    query = query.with_for_update()
                row = (await conn.execute(query)).one()
                if (row.next_offset, row.tree_size) != (start_offset, first_leaf):
                    raise IndexConflictError(
                        f"the index is at offset {row.next_offset} with {row.tree_size} leaves,"
                        f" not at offset {start_offset} with {first_leaf}: another indexer"
                        " appended"
                    )
                if items:
                    await conn.execute(
                        t.events.insert(),
                        [
                            {
                                "seq": first_leaf + i,
                                "topic_offset": offset,
                                **_row_values(event),
                                **_signature_values((signatures or {}).get(offset)),
                            }
                            for i, (offset, event) in enumerate(items)
                        ],
                    )
                if quarantined:
                    await conn.execute(
                        t.quarantine.insert(), [dataclasses.asdict(q) for q in quarantined]
                    )
                for chunk in _chunks(new_nodes, _NODE_BATCH):
                    await conn.execute(
                        t.nodes.insert(),
                        [{"level": n.level, "idx": n.index, "hash": n.hash} for n in chunk],
                    )
                new_state = IndexState(next_offset, first_leaf + len(items), row.skipped + skipped)
                await conn.execute(
                    t.state.update()
                    .where(t.state.c.id == 1)
                    .values(
                        next_offset=new_state.next_offset,
                        tree_size=new_state.tree_size,
                        skipped=new_state.skipped,
                    )
                )
        return new_state

    async def known_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        """Which of ``event_ids`` are already indexed (a writer's retry may repeat one)."""
        if not event_ids:
            return set()
        with _translate("look up event ids"):
            async with self._engine.connect() as conn:
                rows = await conn.execute(
                    sa.select(t.events.c.event_id).where(t.events.c.event_id.in_(event_ids))
                )
                return {r.event_id for r in rows}

    async def requested_events(self, exchange_ids: Sequence[str]) -> dict[str, EventRow]:
        """The REQUESTED event of each of ``exchange_ids`` that has one in the index (the
        first, should a gateway's retry have written two)."""
        if not exchange_ids:
            return {}
        c = t.events.c
        query = (
            sa.select(t.events)
            .where(c.type == "REQUESTED", c.exchange_id.in_(exchange_ids))
            .order_by(c.seq)
        )
        with _translate("look up REQUESTED events"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        found: dict[str, EventRow] = {}
        for r in rows:
            row = _indexed(r._mapping).row
            found.setdefault(row.exchange_id or "", row)
        return found

    async def save_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        """Store a signed checkpoint (a second one for the same size is ignored)."""
        with _translate("store a checkpoint"):
            async with self._engine.begin() as conn:
                exists = (
                    await conn.execute(
                        sa.select(t.checkpoints.c.tree_size).where(
                            t.checkpoints.c.tree_size == checkpoint.tree_size
                        )
                    )
                ).first()
                if exists is None:
                    await conn.execute(
                        t.checkpoints.insert().values(
                            tree_size=checkpoint.tree_size,
                            root_hash=checkpoint.root_hash,
                            note=checkpoint.note,
                            created_at=checkpoint.created_at,
                        )
                    )

    # -- readers ---------------------------------------------------------------------
    async def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint with the largest tree size, or None before the first."""
        with _translate("read the latest checkpoint"):
            async with self._engine.connect() as conn:
                row = (
                    await conn.execute(
                        sa.select(t.checkpoints).order_by(t.checkpoints.c.tree_size.desc()).limit(1)
                    )
                ).first()
        if row is None:
            return None
        return StoredCheckpoint(row.tree_size, bytes(row.root_hash), row.note, row.created_at)

    async def root(self, size: int) -> bytes:
        """The root hash of the tree at ``size`` (from O(log n) stored nodes)."""
        with _translate("read tree nodes"):
            async with self._engine.connect() as conn:
                found = await self._nodes(conn, root_nodes(size))
        return fold_root(found, size)

    async def inclusion_proof(self, leaf_index: int, size: int) -> list[bytes]:
        """The inclusion proof of ``leaf_index`` in the tree at ``size``."""
        ranges, keys = inclusion_nodes(leaf_index, size)
        with _translate("read tree nodes"):
            async with self._engine.connect() as conn:
                found = await self._nodes(conn, keys)
        return fold_proof(found, ranges)

    async def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """The consistency proof from the tree at ``old_size`` to the one at ``new_size``."""
        ranges, keys = consistency_nodes(old_size, new_size)
        with _translate("read tree nodes"):
            async with self._engine.connect() as conn:
                found = await self._nodes(conn, keys)
        return fold_proof(found, ranges)

    async def event(self, event_id: str) -> IndexedEvent | None:
        """One event by id, or None."""
        with _translate("read an event"):
            async with self._engine.connect() as conn:
                row = (
                    await conn.execute(sa.select(t.events).where(t.events.c.event_id == event_id))
                ).first()
        return None if row is None else _indexed(row._mapping)

    async def quarantined(self, *, limit: int = 100) -> list[QuarantinedEvent]:
        """The refused audit records, in topic order (operators, tests)."""
        query = sa.select(t.quarantine).order_by(t.quarantine.c.topic_offset).limit(limit)
        with _translate("read the audit quarantine"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        return [QuarantinedEvent(**r._mapping) for r in rows]

    async def events(
        self, where: EventFilter, *, after_seq: int = -1, limit: int = 100
    ) -> list[IndexedEvent]:
        """Events matching ``where`` in log order, after leaf ``after_seq``, at most ``limit``."""
        c = t.events.c
        clauses: list[sa.ColumnElement[bool]] = [c.seq > after_seq]
        for name in ("subject_ref", "requester", "provider", "service", "purpose", "outcome"):
            value = getattr(where, name)
            if value is not None:
                clauses.append(c[name] == value)
        if where.exchange_id is not None:
            clauses.append(c.exchange_id == where.exchange_id)
        if where.types:
            clauses.append(c.type.in_(where.types))
        if where.since is not None:
            clauses.append(c.time >= format_time(where.since))
        if where.until is not None:
            clauses.append(c.time < format_time(where.until))
        if where.from_index is not None:
            clauses.append(c.seq >= where.from_index)
        if where.below_size is not None:
            clauses.append(c.seq < where.below_size)
        query = sa.select(t.events).where(*clauses).order_by(c.seq).limit(limit)
        with _translate("query events"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        return [_indexed(r._mapping) for r in rows]

    async def _nodes(self, conn: AsyncConnection, keys: set[NodeKey]) -> dict[NodeKey, bytes]:
        found: dict[NodeKey, bytes] = {}
        ordered = sorted(keys)
        for chunk in _chunks(ordered, _NODE_BATCH):
            rows = await conn.execute(
                sa.select(t.nodes).where(sa.tuple_(t.nodes.c.level, t.nodes.c.idx).in_(chunk))
            )
            found.update(((r.level, r.idx), bytes(r.hash)) for r in rows)
        return found

    # -- for tests and operators --------------------------------------------------------
    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A raw transaction on the index (tamper tests; repairs by an operator)."""
        async with self._engine.begin() as conn:
            yield conn


def _row_values(event: EventRow) -> dict[str, Any]:
    values = {name: getattr(event, name) for name in EVENT_FIELDS}
    values["time"] = format_time(event.time)
    return values


def _signature_values(signature: EventSignature | None) -> dict[str, str | None]:
    if signature is None:
        return {"key_id": None, "signature": None}
    return {"key_id": signature.key_id, "signature": signature.signature}


def _indexed(mapping: Any) -> IndexedEvent:
    values = {name: mapping[name] for name in EVENT_FIELDS}
    values["time"] = datetime.strptime(values["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    key_id, signature = mapping["key_id"], mapping["signature"]
    signed = None if key_id is None or signature is None else EventSignature(key_id, signature)
    return IndexedEvent(mapping["seq"], mapping["topic_offset"], EventRow(**values), signed)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _sqlite_immediate_transactions(engine: AsyncEngine) -> None:
    """Every transaction starts with BEGIN IMMEDIATE (SQLAlchemy's documented recipe).

    pysqlite's deferred BEGIN takes the write lock only at the first write; if another
    connection (the exchange store) committed in between, SQLite fails at once with
    "database is locked" whatever the busy timeout. IMMEDIATE waits for the lock instead.
    """

    @sa_event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @sa_event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextlib.contextmanager
def _translate(action: str) -> Iterator[None]:
    """The one place where the database's errors become ``AuditIndexUnavailableError``."""
    try:
        yield
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        raise AuditIndexUnavailableError(
            f"the audit index could not {action}: {type(exc).__name__}"
        ) from exc
