"""The audit index's tables (SQLAlchemy Core, one definition for SQLite and PostgreSQL).

* ``audit_events``: one row per event, ``seq`` = its leaf index in the Merkle log (topic
  order), with the event's fields and the topic offset it was read from. Times are
  fixed-width UTC text (``bus.audit.event.format_time``): text order is time order in
  both backends, and the row holds exactly the text the leaf entry hashed.
* ``audit_nodes``: the Merkle tree's perfect-subtree hashes (``bus.audit.merkle_store``).
* ``audit_state``: one row: the next topic offset to read and the tree size, moved in the
  same transaction as the rows and nodes they account for.
* ``audit_checkpoints``: every signed checkpoint, by tree size.
* ``audit_quarantine``: events the indexer refused (unsigned, forged, not the actor's to
  write, oversized), by topic offset, with the reason: never leaves of the tree.

Version 2 adds each event's ``key_id`` and ``signature`` (served with it, so an auditor
can check offline who wrote it) and the quarantine table.

The schema version is the ``audit`` row of the ``schema_version`` table that the
exchange store also uses (one row per component).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    Table,
    Text,
)

__all__ = [
    "COMPONENT",
    "SCHEMA_VERSION",
    "checkpoints",
    "events",
    "metadata",
    "nodes",
    "quarantine",
    "state",
]

COMPONENT: Final = "audit"
SCHEMA_VERSION: Final = 2
V2_COLUMNS: Final = ("key_id", "signature")
"""Columns version 2 adds to ``audit_events`` (``ALTER TABLE`` on a version-1 index)."""

metadata = MetaData()

events = Table(
    "audit_events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", Text, nullable=False, unique=True),
    Column("topic_offset", BigInteger, nullable=False),
    Column("type", Text, nullable=False),
    Column("time", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("exchange_id", Text),
    Column("requester", Text),
    Column("official", Text),
    Column("provider", Text),
    Column("service", Text),
    Column("version", Text),
    Column("purpose", Text),
    Column("procedure", Text),
    Column("legal_basis", Text),
    Column("consent_ref", Text),
    Column("subject_ref", Text),
    Column("request_digest", Text),
    Column("response_digest", Text),
    Column("outcome", Text),
    Column("reason", Text),
    Column("latency_ms", BigInteger),
    Column("trace_id", Text),
    Column("key_id", Text),
    Column("signature", Text),
)
# The filters auditors and the citizen portal use, each ending in seq for log order.
Index("audit_events_subject", events.c.subject_ref, events.c.seq)
Index("audit_events_requester", events.c.requester, events.c.seq)
Index("audit_events_provider", events.c.provider, events.c.seq)
Index("audit_events_service", events.c.service, events.c.seq)
Index("audit_events_exchange", events.c.exchange_id)
Index("audit_events_time", events.c.time)

nodes = Table(
    "audit_nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
)

state = Table(
    "audit_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("next_offset", BigInteger, nullable=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("skipped", BigInteger, nullable=False),
)

checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary, nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", Text, nullable=False),
)

quarantine = Table(
    "audit_quarantine",
    metadata,
    Column("topic_offset", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", Text),
    Column("type", Text),
    Column("actor", Text),
    Column("key_id", Text),
    Column("reason", Text, nullable=False),
    Column("quarantined_at", Text, nullable=False),
)
