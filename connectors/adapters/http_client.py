"""HTTP plumbing shared by the ``rest`` and ``soap`` adapters: one session, one translation.

``HttpSettings`` holds what every HTTP legacy endpoint needs (timeout, an auth header
whose value is a secret, TLS trust, a response size bound). ``LegacyHttpClient.send``
returns the status and the whole body, read up to ``max_response_bytes``; every aiohttp
and socket error is translated here, once, into a ``LegacyError`` kind: connection
problems are UNAVAILABLE and timeouts TIMEOUT (both retriable), an oversized or
undecodable answer PROTOCOL.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from connectors.adapters.base import (
    LegacyConfigurationError,
    LegacyError,
    LegacyProtocolError,
    LegacyTimeoutError,
    LegacyUnavailableError,
)

__all__ = ["HttpAnswer", "HttpSettings", "LegacyHttpClient"]


class HttpSettings(BaseModel):
    """Connection settings common to HTTP legacy endpoints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_s: float = Field(default=5.0, gt=0, le=300)
    """Bound on one call, connecting included."""
    auth_header: str | None = None
    """Header carrying the credential (``Authorization``, ``X-API-Key``...)."""
    auth_value: SecretStr | None = None
    """The credential (``Bearer ...``); from the environment or a secret file, never logged."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Fixed extra headers (no secrets here: use auth_header/auth_value)."""
    ca_file: Path | None = None
    """CA bundle to trust for the endpoint's TLS certificate (default: the system's)."""
    pool_size: int = Field(default=10, ge=1, le=1000)
    """Most connections open to the endpoint at once."""
    max_response_bytes: int = Field(default=1_048_576, ge=1024)
    """Larger answers are refused as PROTOCOL errors."""

    @model_validator(mode="after")
    def _auth_pair(self) -> HttpSettings:
        if (self.auth_header is None) != (self.auth_value is None):
            raise ValueError("give auth_header and auth_value together")
        return self


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """A complete HTTP answer."""

    status: int
    content_type: str
    body: bytes


class LegacyHttpClient:
    """An aiohttp session bound to one legacy endpoint's settings."""

    def __init__(self, settings: HttpSettings) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        """Create the session (connection pool, TLS context)."""
        tls: ssl.SSLContext | bool = True
        if self._settings.ca_file is not None:
            try:
                tls = ssl.create_default_context(cafile=str(self._settings.ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise LegacyConfigurationError(
                    f"cannot load ca_file {self._settings.ca_file.name!r} ({type(exc).__name__})",
                ) from exc
        headers = dict(self._settings.headers)
        if self._settings.auth_header and self._settings.auth_value:
            headers[self._settings.auth_header] = self._settings.auth_value.get_secret_value()
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._settings.pool_size, ssl=tls),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self._settings.timeout_s),
            raise_for_status=False,
        )

    async def close(self) -> None:
        """Close the pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self, method: str, url: str, *, body: bytes | None = None, headers: dict[str, str]
    ) -> HttpAnswer:
        """One call; the answer whatever its status, or a translated ``LegacyError``."""
        if self._session is None:
            raise LegacyConfigurationError("the HTTP adapter is not open")
        limit = self._settings.max_response_bytes
        try:
            async with self._session.request(
                method, url, data=body, headers=headers, allow_redirects=False
            ) as response:
                if response.content_length is not None and response.content_length > limit:
                    raise _too_large(limit)
                data = await response.content.read(limit + 1)
                if len(data) > limit:
                    raise _too_large(limit)
                return HttpAnswer(response.status, response.content_type, data)
        except TimeoutError as exc:
            raise LegacyTimeoutError(f"no answer within {self._settings.timeout_s}s") from exc
        except aiohttp.InvalidURL as exc:
            raise LegacyConfigurationError("the endpoint URL is not valid") from exc
        except aiohttp.ClientPayloadError as exc:
            raise LegacyUnavailableError(f"the answer was cut off ({type(exc).__name__})") from exc
        except (aiohttp.ClientError, OSError) as exc:
            # Refused, reset, DNS, TLS handshake, server disconnected: all worth a retry.
            raise LegacyUnavailableError(
                f"cannot reach the endpoint ({type(exc).__name__})"
            ) from exc


def _too_large(limit: int) -> LegacyError:
    return LegacyProtocolError(f"the answer is larger than max_response_bytes ({limit})")
