"""The shape every legacy adapter has, so the runtime treats SQL, REST, SOAP and files alike.

An adapter is built from its own pydantic settings (the ``adapter:`` block of
``connector.yaml``), opened once, asked ``lookup`` once per request and closed at
shutdown. It answers with the *legacy* record (the registry's own field names and value
formats) or ``NotFound``; the field mapping turns the legacy record into the response
schema's shape. Failures are ``LegacyError``s, one class per ``kind`` the runtime's retry
policy, circuit breaker and metrics understand. Each is also the handler error it answers
with (``connectors.errors``): ``LegacyTimeoutError`` is a ``ProviderTimeoutError``, so
its ``code``, reply ``status`` and ``retriable`` (whether the same call may succeed if
repeated: a timeout or a 503 may, a 400 or a SOAP client fault will not) are the class's.

The runtime bounds every ``lookup`` with the exchange's deadline (``asyncio.timeout``);
adapters should still pass their own network timeouts so a hung legacy socket is closed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Protocol

from pydantic import BaseModel

from connectors.errors import (
    HandlerError,
    ProviderFailedError,
    ProviderMisconfiguredError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RequestRefusedError,
)

__all__ = [
    "Adapter",
    "AdapterFactory",
    "Found",
    "LegacyConfigurationError",
    "LegacyError",
    "LegacyErrorKind",
    "LegacyProtocolError",
    "LegacyRejectedError",
    "LegacyTimeoutError",
    "LegacyUnavailableError",
    "LookupResult",
    "NotFound",
    "legacy_error",
]


@dataclass(frozen=True, slots=True)
class Found:
    """The legacy registry's record for the request, in its own field names."""

    record: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class NotFound:
    """The registry answered and holds nothing for this subject."""


LookupResult = Found | NotFound


class LegacyErrorKind(enum.StrEnum):
    """Why a legacy call failed; metrics are labelled with it."""

    TIMEOUT = "timeout"
    """No answer in time (retriable)."""
    UNAVAILABLE = "unavailable"
    """Connection refused, 5xx, database down (retriable)."""
    PROTOCOL = "protocol"
    """An answer that cannot be read: bad XML/JSON/CSV, unexpected shape (not retriable)."""
    REJECTED = "rejected"
    """The registry refused the request: 4xx other than not-found, SOAP client fault."""
    CONFIGURATION = "configuration"
    """The adapter is misconfigured (a mapping names a missing column...)."""


class LegacyError(HandlerError):
    """A legacy call failed; raise one of its five subclasses (or ``legacy_error``).
    ``detail`` must not contain personal data (it is logged)."""

    kind: ClassVar[LegacyErrorKind]

    def __init__(self, detail: str) -> None:
        super().__init__(f"{self.kind.value}: {detail}")
        self.detail = detail


class LegacyTimeoutError(LegacyError, ProviderTimeoutError):
    """No answer in time (retriable)."""

    kind = LegacyErrorKind.TIMEOUT


class LegacyUnavailableError(LegacyError, ProviderUnavailableError):
    """Connection refused, 5xx, database down (retriable)."""

    kind = LegacyErrorKind.UNAVAILABLE


class LegacyProtocolError(LegacyError, ProviderFailedError):
    """An answer that cannot be read: bad XML/JSON/CSV, unexpected shape."""

    kind = LegacyErrorKind.PROTOCOL


class LegacyRejectedError(LegacyError, RequestRefusedError):
    """The registry refused the request: 4xx other than not-found, SOAP client fault."""

    kind = LegacyErrorKind.REJECTED


class LegacyConfigurationError(LegacyError, ProviderMisconfiguredError):
    """The adapter is misconfigured (a mapping names a missing column...)."""

    kind = LegacyErrorKind.CONFIGURATION


_BY_KIND: Final[dict[LegacyErrorKind, type[LegacyError]]] = {
    cls.kind: cls
    for cls in (
        LegacyTimeoutError,
        LegacyUnavailableError,
        LegacyProtocolError,
        LegacyRejectedError,
        LegacyConfigurationError,
    )
}


def legacy_error(kind: LegacyErrorKind, detail: str) -> LegacyError:
    """The ``LegacyError`` of ``kind`` (for adapters that decide the kind at run time)."""
    return _BY_KIND[kind](detail)


class Adapter(Protocol):
    """One legacy registry, opened once per connector process."""

    async def open(self) -> None:
        """Connect, load files, check the settings against the backend; raise to refuse."""
        ...

    async def close(self) -> None: ...

    async def lookup(self, request: Mapping[str, Any]) -> LookupResult:
        """The legacy record for one decoded request (the provider's reader schema)."""
        ...


class AdapterFactory(Protocol):
    """What each adapter package exports as ``FACTORY``: its settings model and a builder."""

    kind: ClassVar[str]
    settings_model: ClassVar[type[BaseModel]]

    def build(self, settings: BaseModel) -> Adapter: ...
