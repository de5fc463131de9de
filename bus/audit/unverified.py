"""The audit event of a record that failed verification.

A record whose signature, key or envelope does not verify may say anything about itself:
an exchange id, a requester, a subject reference, copied from a real exchange. Audited
under those claims it would put steps that never happened into a real exchange's trail
and a citizen's access list (issue #14, item 10). So it is audited as what it is: an
``UNVERIFIED`` event by the member that consumed it, whose ``reason`` names the stable
reason code and where the record was read (``<CODE> at <topic>/<partition>/<offset>``),
and nothing the record claims. The record itself is dead-lettered with its reason.
"""

from __future__ import annotations

from datetime import datetime

from bus.audit.trail import AuditEventType, AuditRecord

__all__ = ["unverified_record"]


def unverified_record(
    *, actor: str, time: datetime, topic: str, partition: int, offset: int, reason: str
) -> AuditRecord:
    """The UNVERIFIED event of the record at ``topic``/``partition``/``offset``."""
    return AuditRecord(
        type=AuditEventType.UNVERIFIED,
        time=time,
        actor=actor,
        outcome="UNVERIFIED",
        reason=f"{reason} at {topic}/{partition}/{offset}",
    )
