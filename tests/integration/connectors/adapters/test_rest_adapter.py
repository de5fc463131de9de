"""The rest adapter against a real aiohttp server speaking JSON."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from connectors.adapters.base import Found, LegacyError, LegacyErrorKind, NotFound
from connectors.adapters.rest import RestAdapter, RestSettings
from tests.integration.conftest import free_port
from tests.integration.connectors.adapters.http_servers import serve

PEOPLE = {"12345678Z": {"nombre": "Ana", "situacion": "A", "alta": "03/02/2011"}}
TOKEN = "Bearer s3cret"


@dataclass
class LegacyApi:
    """A running legacy API and what it saw."""

    app: web.Application
    seen: list[dict[str, Any]]
    release: asyncio.Event
    url: str = ""


def legacy_api() -> LegacyApi:
    """A legacy registry API: auth, one path segment per document, odd statuses on demand."""
    seen: list[dict[str, Any]] = []
    release = asyncio.Event()

    async def person(request: web.Request) -> web.StreamResponse:  # noqa: PLR0911 - scenarios
        if request.headers.get("Authorization") != TOKEN:
            return web.json_response({"error": "auth"}, status=401)
        doc = request.match_info["doc"]
        seen.append({"doc": doc, "query": dict(request.query), "raw_path": request.raw_path})
        if doc == "BOOM":
            return web.json_response({"error": "db down"}, status=503)
        if doc == "NOTJSON":
            return web.Response(text="<html>oops</html>", content_type="text/html")
        if doc == "LIST":
            return web.json_response({"data": {"persona": [1, 2]}})
        if doc == "HUGE":
            return web.json_response({"data": {"persona": {"x": "y" * 3_000_000}}})
        if doc == "SLOW":
            await release.wait()
        if doc == "GONE":
            return web.Response(status=410)
        if doc not in PEOPLE:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response({"data": {"persona": PEOPLE[doc]}, "meta": {}})

    async def search(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        seen.append({"json": body, "content_type": request.content_type})
        person = PEOPLE.get(body.get("documento", ""))
        if person is None:
            return web.json_response({"resultados": []})
        return web.json_response({"resultados": [person]})

    app = web.Application()
    app.router.add_get("/api/v1/personas/{doc}", person)
    app.router.add_post("/api/v1/busquedas", search)
    return LegacyApi(app, seen, release)


def settings(base_url: str, **overrides: Any) -> RestSettings:
    values: dict[str, Any] = {
        "base_url": base_url + "/api/v1",
        "path": "/personas/{document_number}",
        "query": {"fecha": "{reference_date}", "origen": "interop bus"},
        "auth_header": "Authorization",
        "auth_value": SecretStr(TOKEN),
        "record_pointer": "/data/persona",
        "timeout_s": 5,
        **overrides,
    }
    return RestSettings.model_validate(values)


@pytest.fixture
async def api() -> AsyncIterator[LegacyApi]:
    """The legacy API, running."""
    legacy = legacy_api()
    async with serve(legacy.app) as url:
        legacy.url = url
        yield legacy
        legacy.release.set()


@pytest.fixture
async def adapter(api: LegacyApi) -> AsyncIterator[RestAdapter]:
    """An opened adapter over the API."""
    opened = RestAdapter(settings(api.url))
    await opened.open()
    yield opened
    await opened.close()


def ask(document: str) -> dict[str, Any]:
    return {"document_number": document, "reference_date": "2026-03-01"}


async def test_found_record_at_the_pointer_with_auth_and_encoded_query(
    adapter: RestAdapter, api: LegacyApi
) -> None:
    """The record is the object at the pointer; the query is templated and encoded."""
    result = await adapter.lookup(ask("12345678Z"))
    assert isinstance(result, Found)
    assert result.record == PEOPLE["12345678Z"]
    assert api.seen[-1]["query"] == {"fecha": "2026-03-01", "origen": "interop bus"}


async def test_404_is_not_found(adapter: RestAdapter) -> None:
    """The API's 404 means the registry holds nothing for the subject."""
    assert isinstance(await adapter.lookup(ask("00000000T")), NotFound)


async def test_path_values_cannot_climb_segments(adapter: RestAdapter, api: LegacyApi) -> None:
    """A slash-laden value stays one percent-encoded segment."""
    assert isinstance(await adapter.lookup(ask("../../admin?x=1")), NotFound)
    assert api.seen[-1]["doc"] == "../../admin?x=1"
    assert api.seen[-1]["raw_path"].startswith("/api/v1/personas/..%2F..%2Fadmin%3Fx")


@pytest.mark.parametrize(
    ("document", "kind", "retriable"),
    [
        ("BOOM", LegacyErrorKind.UNAVAILABLE, True),
        ("NOTJSON", LegacyErrorKind.PROTOCOL, False),
        ("LIST", LegacyErrorKind.PROTOCOL, False),
        ("HUGE", LegacyErrorKind.PROTOCOL, False),
    ],
)
async def test_bad_answers_are_typed_errors(
    adapter: RestAdapter, document: str, kind: LegacyErrorKind, retriable: bool
) -> None:
    """5xx is retriable; non-JSON, a non-object record and an oversized body are not."""
    with pytest.raises(LegacyError) as caught:
        await adapter.lookup(ask(document))
    assert caught.value.kind is kind
    assert caught.value.retriable is retriable


async def test_wrong_credentials_are_rejected(api: LegacyApi) -> None:
    """A 401 is REJECTED, not retried, and the secret never appears in the error."""
    adapter = RestAdapter(settings(api.url, auth_value=SecretStr("Bearer wrong")))
    await adapter.open()
    try:
        with pytest.raises(LegacyError) as caught:
            await adapter.lookup(ask("12345678Z"))
    finally:
        await adapter.close()
    assert caught.value.kind is LegacyErrorKind.REJECTED
    assert "401" in caught.value.detail
    assert "wrong" not in repr(adapter._settings)


async def test_status_map_overrides(api: LegacyApi) -> None:
    """`status_map` turns the API's 410 into not found."""
    adapter = RestAdapter(settings(api.url, status_map={410: "not_found"}))
    await adapter.open()
    try:
        assert isinstance(await adapter.lookup(ask("GONE")), NotFound)
    finally:
        await adapter.close()


async def test_a_hung_api_times_out_retriably(api: LegacyApi) -> None:
    """No answer within timeout_s is a TIMEOUT the runtime may retry."""
    adapter = RestAdapter(settings(api.url, timeout_s=0.3))
    await adapter.open()
    try:
        with pytest.raises(LegacyError) as caught:
            await adapter.lookup(ask("SLOW"))
    finally:
        await adapter.close()
    assert caught.value.kind is LegacyErrorKind.TIMEOUT
    assert caught.value.retriable


async def test_nothing_listening_is_unavailable() -> None:
    """Connection refused is UNAVAILABLE and retriable."""
    adapter = RestAdapter(settings(f"http://127.0.0.1:{free_port()}"))
    await adapter.open()
    try:
        with pytest.raises(LegacyError) as caught:
            await adapter.lookup(ask("12345678Z"))
    finally:
        await adapter.close()
    assert caught.value.kind is LegacyErrorKind.UNAVAILABLE
    assert caught.value.retriable


async def test_missing_pointer_can_mean_not_found(api: LegacyApi) -> None:
    """With not_found_when_pointer_missing, an answer without the record is not found."""
    adapter = RestAdapter(
        settings(api.url, record_pointer="/data/otra", not_found_when_pointer_missing=True)
    )
    await adapter.open()
    try:
        assert isinstance(await adapter.lookup(ask("12345678Z")), NotFound)
    finally:
        await adapter.close()


async def test_post_with_a_json_body_and_an_array_pointer(api: LegacyApi) -> None:
    """POST sends request fields as typed JSON; the pointer may index an array."""
    adapter = RestAdapter(
        settings(
            api.url,
            method="POST",
            path="/busquedas",
            query={},
            json_body={"documento": "document_number", "fecha": "reference_date"},
            record_pointer="/resultados/0",
            not_found_when_pointer_missing=True,
        )
    )
    await adapter.open()
    try:
        found = await adapter.lookup(ask("12345678Z"))
        missing = await adapter.lookup(ask("00000000T"))
    finally:
        await adapter.close()
    assert isinstance(found, Found)
    assert found.record["nombre"] == "Ana"
    assert isinstance(missing, NotFound)
    assert api.seen[-1] == {
        "json": {"documento": "00000000T", "fecha": "2026-03-01"},
        "content_type": "application/json",
    }
