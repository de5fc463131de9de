"""What a message handler says happened: a value, not an exception.

Exceptions mean the handler itself failed; the consumer turns an escaped exception into a
``DeadLetter`` so that one poisonous record can never crash-loop its partition.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bus.records import InboundRecord

__all__ = ["Ack", "DeadLetter", "Outcome", "RecordHandler", "Retry"]


@dataclass(frozen=True, slots=True)
class Ack:
    """The record is done with: its offset may be committed."""


@dataclass(frozen=True, slots=True)
class Retry:
    """Transient failure: run the handler again after ``delay_s`` (doubling each time).

    After the consumer's ``max_retries`` the record is dead-lettered with ``reason``.
    """

    reason: str
    delay_s: float = 0.2


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """The record can never be handled: park it on the dead-letter topic with a reason.

    ``code`` is a stable machine-readable code (a ``BusError.code`` where one applies).
    ``reason`` must not contain personal data: it is copied into headers and logs.
    """

    reason: str
    code: str = "BUS_HANDLER_DEAD_LETTER"


Outcome = Ack | Retry | DeadLetter

RecordHandler = Callable[[InboundRecord], Awaitable[Outcome]]
"""An async function handling one record and saying how it went."""
