"""The handler API a registry owner writes against.

A handler answers one request of one service's major version::

    from connectors import Found, HandlerContext, HandlerRegistry, NotFound

    registry = HandlerRegistry()

    @registry.handler("register.residence-certificate", major=1)
    async def residence(request: Mapping[str, Any], ctx: HandlerContext) -> Answer:
        row = await my_registry.find(request["document_number"])
        if row is None:
            return NotFound()
        return Found({"registered": True, "certified_at": ctx.now_text(), ...})

``request`` is the decoded request, read with the provider's own request schema and
given in the gateway's JSON mapping (dates ``YYYY-MM-DD``, timestamps RFC 3339, enums
as symbols). ``Found.record`` is the response in the same mapping; the runtime checks it
against the provider's response schema, so a handler cannot send what the contract does
not allow. Anything else is a ``HandlerError`` (raised or returned): it becomes a reply
with status ``error`` or ``rejected`` and the error's code. The runtime does the rest:
verify, decode, dedupe, deadline, retries, circuit breaker, encode, reply, audit, commit.

A plain ``async def`` with this signature named in ``connector.yaml``
(``handler: "package.module:function"``) needs no registry at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias

from connectors.adapters.base import Found, NotFound
from connectors.errors import HandlerError

__all__ = ["Answer", "Handler", "HandlerContext", "HandlerRegistry", "ServiceKey"]

Answer: TypeAlias = Found | NotFound | HandlerError
"""What a handler returns (it may also raise the ``HandlerError``)."""


@dataclass(frozen=True, slots=True)
class HandlerContext:
    """What a handler may know about the exchange besides the request data.

    Only ids, codes and the pseudonymous ``subject_ref``: the envelope never carries a
    raw subject identifier. ``deadline`` is when the requester stops waiting; the
    runtime cancels the handler then, so a handler need not watch it, but it may pass
    ``remaining_s()`` on to a legacy client's own timeout.
    """

    exchange_id: str
    service: str
    major: int
    requester: str
    provider: str
    purpose: str
    deadline: datetime
    trace_id: str
    procedure: str | None = None
    legal_basis: str | None = None
    consent_ref: str | None = None
    subject_ref: str | None = None

    def remaining_s(self, now: datetime | None = None) -> float:
        """Seconds until the deadline (0 when it has passed)."""
        moment = now or datetime.now(UTC)
        return max(0.0, (self.deadline - moment).total_seconds())

    @staticmethod
    def now_text() -> str:
        """The current UTC time as an RFC 3339 timestamp with milliseconds (for responses)."""
        return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Handler: TypeAlias = Callable[[Mapping[str, Any], HandlerContext], Awaitable[Answer]]
"""An async function answering one request."""


@dataclass(frozen=True, slots=True, order=True)
class ServiceKey:
    """A service id and a major version: what a handler serves."""

    service: str
    major: int

    def __str__(self) -> str:
        return f"{self.service}.v{self.major}"


class HandlerRegistry:
    """Handlers by service and major version, filled by ``@handler`` or ``register``."""

    def __init__(self) -> None:
        self._handlers: dict[ServiceKey, Handler] = {}

    def register(self, service: str, major: int, handler: Handler) -> None:
        """Serve ``service`` major ``major`` with ``handler``; twice is a programming error."""
        key = ServiceKey(service, major)
        if key in self._handlers:
            raise ValueError(f"{key} already has a handler")
        if major < 0:
            raise ValueError("the major version must be >= 0")
        self._handlers[key] = handler

    def handler(self, service: str, *, major: int) -> Callable[[Handler], Handler]:
        """Decorator form of ``register``; returns the function unchanged."""

        def decorate(function: Handler) -> Handler:
            self.register(service, major, function)
            return function

        return decorate

    def get(self, service: str, major: int) -> Handler | None:
        return self._handlers.get(ServiceKey(service, major))

    def keys(self) -> list[ServiceKey]:
        return sorted(self._handlers)
