"""Helpers of the batch tests: a batch body for the test provider's identities, oppositions,
results read over HTTP, waiting for a batch to finish."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import aiohttp

from gateway.consent import OppositionGrant
from gateway.members import Member, Role
from tests.integration.gateway.support import RunningGateway, poll_until

__all__ = ["batch_body", "get_batch", "oppose", "read_results", "wait_finished"]

PORTAL = Member(id="it.portal", name="Citizen portal", roles=frozenset({Role.CITIZEN_PORTAL}))


def batch_body(gw: RunningGateway, subjects: Sequence[str], **changes: Any) -> dict[str, Any]:
    """A residence-certificate batch asking about ``subjects`` (item_ref ``ref-N``)."""
    body: dict[str, Any] = {
        "service": gw.cat.residence,
        "version": "1",
        "purpose": "social-benefits",
        "official": "official-42",
        "items": [
            {
                "subject": subject,
                "item_ref": f"ref-{index}",
                "data": {"document_type": "DNI", "document_number": subject},
            }
            for index, subject in enumerate(subjects)
        ],
    }
    body.update(changes)
    return body


async def oppose(gw: RunningGateway, subjects: Sequence[str]) -> None:
    """Record each subject's opposition to ``it.town`` reading the residence service."""
    for subject in subjects:
        await gw.gateway.consents.register_opposition(
            PORTAL,
            OppositionGrant(subject=subject, services=(gw.cat.residence,), requesters=("it.town",)),
        )


async def read_results(
    gw: RunningGateway, batch_id: str, *, cursor: str | None = None, member: str = "town"
) -> list[dict[str, Any]]:
    """The NDJSON results after ``cursor``, parsed."""
    params = {"cursor": cursor} if cursor else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{gw.base_url}/v1/batches/{batch_id}/results",
            headers=gw.headers(member),
            params=params,
        ) as response,
    ):
        assert response.status == 200, await response.text()
        assert response.content_type == "application/x-ndjson"
        text = await response.text()
    return [json.loads(line) for line in text.splitlines()]


async def get_batch(gw: RunningGateway, batch_id: str, member: str = "town") -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{gw.base_url}/v1/batches/{batch_id}", headers=gw.headers(member)) as r,
    ):
        return r.status, await r.json(content_type=None)


async def wait_finished(gw: RunningGateway, batch_id: str, timeout_s: float) -> dict[str, Any]:
    """The batch once its state is ``finished``."""

    async def probe() -> dict[str, Any]:
        status, body = await get_batch(gw, batch_id)
        assert status == 200, body
        return dict(body)

    result: dict[str, Any] = await poll_until(
        probe, lambda b: b["state"] == "finished", timeout_s=timeout_s, what="the batch to finish"
    )
    return result


async def wait_sent(gw: RunningGateway, batch_id: str, items: int, timeout_s: float) -> None:
    """Until at least ``items`` of the batch have left ``pending``."""

    async def probe() -> dict[str, Any]:
        status, body = await get_batch(gw, batch_id)
        assert status == 200, body
        return dict(body)

    await poll_until(
        probe,
        lambda b: b["item_count"] - b["counts"]["pending"] >= items,
        timeout_s=timeout_s,
        what=f"{items} items of the batch to be sent",
    )
