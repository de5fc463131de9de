"""The connectors family of errors, and the typed errors a handler may answer with.

::

    InteropError
    └── ConnectorError                     connectors: configuration, handlers, reply store
        ├── ConnectorConfigError           connector.yaml or the environment is invalid
        ├── ReplyStoreError                the reply store cannot be reached (retriable)
        └── HandlerError                   a handler's typed answer other than found/not found
            ├── ProviderUnavailableError   the registry cannot answer now (status error)
            ├── ProviderTimeoutError       no answer before the exchange's deadline (error)
            ├── ProviderFailedError        the registry answered something unusable (error)
            ├── RequestRefusedError        the registry refuses this request (status rejected)
            ├── ProviderMisconfiguredError the connector's adapter or mapping is wrong (error)
            ├── HandlerFailedError         the handler raised or returned something unknown
            ├── ResponseInvalidError       the mapped answer does not fit the response schema
            └── connectors.adapters.base.LegacyError   a legacy adapter's failure, one of
                the first five by its ``kind`` (LegacyTimeoutError is a ProviderTimeoutError...)

A handler *returns* ``Found``/``NotFound`` and *raises* (or returns) a ``HandlerError`` for
anything else; the runtime turns each into the reply status the gateway understands
(``ReplyStatus``) and the ``interop_error_code`` header. ``code`` values are stable: they
travel to the requester and into audit records. Messages must not contain personal data.
"""

from __future__ import annotations

import re
from typing import ClassVar, Final

from bus import ReplyStatus
from contracts.errors import InteropError

__all__ = [
    "ConnectorConfigError",
    "ConnectorError",
    "HandlerError",
    "HandlerFailedError",
    "ProviderFailedError",
    "ProviderMisconfiguredError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "ReplyStoreError",
    "RequestRefusedError",
    "ResponseInvalidError",
]

_CODE_RE: Final = re.compile(r"[A-Z][A-Z0-9_]{1,63}")


class ConnectorError(InteropError):
    """Root of the connectors family."""

    code = "CONNECTOR_ERROR"


class ConnectorConfigError(ConnectorError):
    """The connector's configuration is invalid (the message names the file and field)."""

    code = "CONNECTOR_CONFIG_INVALID"


class ReplyStoreError(ConnectorError):
    """The reply store failed; the request is retried, never answered twice differently."""

    code = "CONNECTOR_REPLY_STORE_FAILED"
    retriable = True


class HandlerError(ConnectorError):
    """A handler's answer that is neither found nor not found.

    ``reply_code`` overrides the class's ``code`` in the reply (a registry's own stable
    code, e.g. ``PADRON_MUNICIPALITY_CLOSED``): upper-case letters, digits and ``_``.
    """

    code = "PROVIDER_HANDLER_ERROR"
    status: ClassVar[ReplyStatus] = ReplyStatus.ERROR

    def __init__(self, message: str, *, reply_code: str | None = None) -> None:
        super().__init__(message)
        if reply_code is not None and _CODE_RE.fullmatch(reply_code) is None:
            raise ValueError("reply_code must be 2-64 characters of A-Z, 0-9 and _")
        self.reply_code = reply_code or self.code


class ProviderUnavailableError(HandlerError):
    """The legacy registry is down or refuses connections; the caller may retry later."""

    code = "PROVIDER_UNAVAILABLE"
    retriable = True


class ProviderTimeoutError(HandlerError):
    """The registry did not answer before the exchange's deadline."""

    code = "PROVIDER_TIMEOUT"
    retriable = True


class ProviderFailedError(HandlerError):
    """The registry answered something the connector cannot turn into a response."""

    code = "PROVIDER_FAILED"


class RequestRefusedError(HandlerError):
    """The registry refuses this request (it is not allowed or makes no sense to it)."""

    code = "PROVIDER_REFUSED"
    status = ReplyStatus.REJECTED


class ProviderMisconfiguredError(HandlerError):
    """The connector's side is wrong (an adapter setting, a mapping naming a missing
    column): the registry was not at fault, the operator must fix the configuration."""

    code = "PROVIDER_MISCONFIGURED"


class HandlerFailedError(HandlerError):
    """The handler raised an unexpected exception or returned something that is no answer
    (a bug in the handler: an error reply, never a crash)."""

    code = "PROVIDER_HANDLER_FAILED"


class ResponseInvalidError(HandlerError):
    """The (mapped) answer does not fit the service's response schema."""

    code = "PROVIDER_RESPONSE_INVALID"
