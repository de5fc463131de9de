"""A demo batch and how to read it back, for the fault cases that run one."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from tests.faults.reconcile import get_json
from tests.faults.system import System


def residence_batch(system: System, count: int | None = None) -> dict[str, Any]:
    """A residence-certificate batch of the first ``count`` demo people (all by default)."""
    people = system.people if count is None else system.people[:count]
    return {
        "service": "register.residence-certificate",
        "version": "1",
        "purpose": "social-benefits",
        "official": "funcionaria-0042",
        "items": [
            {
                "subject": person.document_number,
                "item_ref": f"person-{index}",
                "data": {
                    "document_type": person.document_type,
                    "document_number": person.document_number,
                },
            }
            for index, person in enumerate(people)
        ],
    }


async def submit_batch(system: System, body: dict[str, Any], key: str) -> str:
    """POST the batch as the town hall; its id."""
    headers = {"Authorization": f"Bearer {system.keys['TOWN']}", "Idempotency-Key": key}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{system.url}/v1/batches", json=body, headers=headers) as r,
    ):
        assert r.status == 202, await r.text()
        return str((await r.json())["id"])


async def batch_state(system: System, batch_id: str) -> dict[str, Any] | None:
    """The batch as GET /v1/batches/{id} shows it; None while the gateway does not answer."""
    status, body = await get_json(system, f"/v1/batches/{batch_id}")
    return body if status == 200 else None


async def wait_batch(
    system: System,
    batch_id: str,
    done: Callable[[dict[str, Any]], bool],
    *,
    timeout_s: float,
    poll_s: float = 0.2,
) -> dict[str, Any]:
    """Poll the batch until ``done`` says so (the gateway may be down meanwhile)."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = await batch_state(system, batch_id)
        if state is not None and done(state):
            return state
        assert time.monotonic() < deadline, state
        await asyncio.sleep(poll_s)


def sent_at_least(count: int) -> Callable[[dict[str, Any]], bool]:
    """Done once ``count`` items were sent (answered or not)."""
    return lambda state: state["counts"]["found"] + state["counts"]["sent"] >= count


def finished(state: dict[str, Any]) -> bool:
    """Done once the batch has no item left to send or wait for."""
    return bool(state["state"] == "finished")


async def batch_results(system: System, batch_id: str) -> list[dict[str, Any]]:
    """Every results line (NDJSON), in index order."""
    headers = {"Authorization": f"Bearer {system.keys['TOWN']}"}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
        session.get(f"{system.url}/v1/batches/{batch_id}/results", headers=headers) as r,
    ):
        assert r.status == 200
        return [json.loads(line) for line in (await r.text()).splitlines()]
