"""The audit pieces of one gateway replica, shared by the audit and accesses APIs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from aiohttp import web

from bus.audit import AuditIndex, AuditIndexer

__all__ = ["AUDIT_KEY", "AuditParts"]


@dataclass
class AuditParts:
    """The audit index of this replica and its indexer (None when run elsewhere)."""

    index: AuditIndex
    indexer: AuditIndexer | None
    subject_key: bytes


AUDIT_KEY: Final = web.AppKey("interop.audit", AuditParts)
