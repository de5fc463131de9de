"""The provider side: handler SDK, runtime and adapters.

A registry owner writes a handler (``connectors.sdk``) or configures an adapter, and runs
``interop connector run connector.yaml``; the runtime (``ConnectorRuntime``) does the rest.
"""

from connectors.adapters.base import (
    Found,
    LegacyConfigurationError,
    LegacyError,
    LegacyErrorKind,
    LegacyProtocolError,
    LegacyRejectedError,
    LegacyTimeoutError,
    LegacyUnavailableError,
    NotFound,
)
from connectors.circuit import CircuitBreaker, CircuitPolicy, CircuitState
from connectors.config import ConnectorSettings, ServiceConfig, settings_file_document
from connectors.errors import (
    ConnectorConfigError,
    ConnectorError,
    HandlerError,
    ProviderFailedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    ReplyStoreError,
    RequestRefusedError,
)
from connectors.retry import RetryPolicy
from connectors.runtime import ConnectorRuntime, open_reply_store
from connectors.sdk import Answer, Handler, HandlerContext, HandlerRegistry, ServiceKey

__all__ = [
    "Answer",
    "CircuitBreaker",
    "CircuitPolicy",
    "CircuitState",
    "ConnectorConfigError",
    "ConnectorError",
    "ConnectorRuntime",
    "ConnectorSettings",
    "Found",
    "Handler",
    "HandlerContext",
    "HandlerError",
    "HandlerRegistry",
    "LegacyConfigurationError",
    "LegacyError",
    "LegacyErrorKind",
    "LegacyProtocolError",
    "LegacyRejectedError",
    "LegacyTimeoutError",
    "LegacyUnavailableError",
    "NotFound",
    "ProviderFailedError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "ReplyStoreError",
    "RequestRefusedError",
    "RetryPolicy",
    "ServiceConfig",
    "ServiceKey",
    "open_reply_store",
    "settings_file_document",
]
