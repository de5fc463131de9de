"""The bus family of errors (rooted at ``contracts.errors.InteropError``).

::

    InteropError
    └── BusError
        └── BrokerUnavailableError   the broker did not answer (retriable)

Errors raised by aiokafka are translated into this family where the bus calls aiokafka,
never further out: callers of the bus see ``BusError``s only.
"""

from __future__ import annotations

from contracts.errors import InteropError

__all__ = ["BrokerUnavailableError", "BusError"]


class BusError(InteropError):
    """A Kafka plumbing problem: topics, envelope, clients, request-reply."""

    code = "BUS_ERROR"


class BrokerUnavailableError(BusError):
    """The Kafka broker did not answer in time; trying again later may succeed."""

    code = "BROKER_UNAVAILABLE"
    retriable = True
