"""The connector handler the bench names in ``connector.yaml``: the registry in memory.

``interop connector run`` does everything else as in production (signature check,
decode, dedupe through the reply store, deadline, retry and circuit breaker, encode,
reply, audit, commit); only the legacy call is replaced by a dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmarks.registry_data import lookup
from connectors import Found, HandlerContext, NotFound
from connectors.sdk import Answer

__all__ = ["residence"]


async def residence(request: Mapping[str, Any], _ctx: HandlerContext) -> Answer:
    """The residence row of the requested document, or not found."""
    row = lookup(str(request.get("document_number")))
    return NotFound() if row is None else Found(row)
