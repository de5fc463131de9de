"""A legacy-registry stand-in for the connector refusal test: it counts its calls, so the
test can show a refused request never reaches the registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors import Found, HandlerContext
from connectors.sdk import Answer
from tests.integration.connectors.handlers import FOUND_RECORD

CALLS: list[str] = []
"""The exchange id of every call (the runtime imports this module in the test process)."""


async def residence(_request: Mapping[str, Any], ctx: HandlerContext) -> Answer:
    """Always found; records the call."""
    CALLS.append(ctx.exchange_id)
    return Found(FOUND_RECORD)
