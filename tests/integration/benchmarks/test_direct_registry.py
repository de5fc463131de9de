"""The direct registry (life without the bus) over real HTTP: answers and refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from benchmarks.direct_registry import RESIDENCE_PATH, registry_app
from benchmarks.registry_data import document_numbers
from tests.integration.conftest import free_port


@pytest.fixture
async def registry_url() -> AsyncIterator[str]:
    runner = web.AppRunner(registry_app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}{RESIDENCE_PATH}"
    finally:
        await runner.cleanup()


async def test_known_unknown_and_bad_bodies(registry_url: str) -> None:
    """A known document is 200 with its row as JSON; unknown 404; a bad body 400."""
    known = document_numbers()[0]
    async with aiohttp.ClientSession() as session:
        async with session.post(registry_url, json={"document_number": known}) as found:
            row = await found.json()
        async with session.post(registry_url, json={"document_number": "0Z"}) as missing:
            missing_status = missing.status
        async with session.post(registry_url, data=b"{not json") as garbled:
            garbled_body = await garbled.json()
        async with session.post(registry_url, json=["document_number"]) as wrong:
            wrong_body = await wrong.json()
    assert found.status == 200
    assert row["data"]["registered_since"] == "2019-03-01"
    assert row["data"]["municipality_name"] == "Alcalá de Henares"
    assert missing_status == 404
    assert garbled.status == 400
    assert "not JSON" in garbled_body["error"]
    assert wrong.status == 400
    assert "document_number" in wrong_body["error"]
