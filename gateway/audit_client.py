"""A client of one gateway's audit API: the ``LogSource`` that ``interop audit verify``
checks offline (``bus.audit.verify``), and the query behind ``interop audit query``.

It lives next to the API it calls (``gateway/audit_api.py``) rather than in the command
line, so the two change together; it needs only aiohttp and an auditor's API key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from contracts.errors import InteropError

__all__ = ["AuditClientError", "GatewayLog"]


class AuditClientError(InteropError):
    """The gateway's audit API did not answer usefully (network, auth, server error)."""

    code = "AUDIT_CLIENT_GATEWAY_FAILED"


class GatewayLog:
    """The audit API of one gateway as a ``LogSource``."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, api_key: str) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}

    async def _get(
        self, path: str, params: Mapping[str, Any], accept: str
    ) -> aiohttp.ClientResponse:
        try:
            response = await self._session.get(
                self._base + path,
                params={k: str(v) for k, v in params.items()},
                headers={**self._headers, "Accept": accept},
                timeout=aiohttp.ClientTimeout(total=30),
            )
            await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AuditClientError(f"{self._base}{path}: {type(exc).__name__}: {exc}") from exc
        if response.status >= 400:
            detail = (await response.text())[:300]
            raise AuditClientError(f"{path}: HTTP {response.status}: {detail}")
        return response

    async def _json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        response = await self._get(path, params or {}, "application/json")
        try:
            return await response.json()
        except (ValueError, aiohttp.ContentTypeError) as exc:
            raise AuditClientError(f"{path}: not JSON") from exc

    async def checkpoint(self) -> str:
        response = await self._get("/v1/audit/checkpoint", {}, "text/plain")
        return await response.text()

    async def consistency(self, old_size: int, new_size: int) -> list[str]:
        body = await self._json("/v1/audit/consistency", {"from": old_size, "to": new_size})
        return list(body.get("proof", []))

    async def proof(self, event_id: str, tree_size: int) -> Mapping[str, Any]:
        answer: Mapping[str, Any] = await self._json(
            f"/v1/audit/events/{event_id}/proof", {"tree_size": tree_size}
        )
        return answer

    async def events_from(self, leaf_index: int, limit: int) -> list[Mapping[str, Any]]:
        body = await self._json("/v1/audit/events", {"from_index": leaf_index, "limit": limit})
        return list(body.get("events", []))

    async def query(self, params: Mapping[str, Any], accept: str) -> str:
        response = await self._get("/v1/audit/events", params, accept)
        return await response.text()
