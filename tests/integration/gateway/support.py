"""Shared pieces of the gateway integration tests: a real gateway on a free port, a real
broker, a per-test catalogue (so request topics are unique), members with API keys, and a
minimal provider built on ``bus.Responder`` that answers from a table.

Use the ``running_gateway`` fixture (in ``conftest.py``: no import needed) for a started
gateway with the default members, or ``start_gateway(...)`` for other settings.

The provider answers by the request's identity document number / NIF:

* ``FOUND-...``: ok, with data;   * ``MISSING-...``: not found;
* ``BROKEN-...``: error ``REGISTRY_DOWN``;   * ``GARBAGE-...``: ok, with bytes that do not
  decode;   * ``SLOW-...``: answers only once ``release_slow`` is set.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from prometheus_client import CollectorRegistry

from bus import (
    BusProducer,
    Envelope,
    KafkaSettings,
    ReplyOutcome,
    ReplyStatus,
    Responder,
    catalogue_topic_specs,
    ensure_topics,
    parse_gateway_group_id,
    parse_member_id,
    parse_service_id,
)
from bus.topics import RequestTopic
from contracts import (
    DEFAULT_CATALOGUE_DIR,
    Catalogue,
    Codec,
    LockFile,
    json_to_avro,
    load_catalogue,
)
from gateway.app import GATEWAY_KEY, Gateway, create_app
from gateway.http_server import gateway_runner
from gateway.members import new_api_key
from gateway.settings import GatewaySettings
from tests.integration.bus.kafka_helpers import settings_for
from tests.integration.conftest import free_port
from tests.integration.member_signing import (
    gateway_signing_settings,
    members_file_entries,
    signer_of,
)

__all__ = [
    "DIGEST_KEY",
    "HMAC_KEY",
    "Provider",
    "RunningGateway",
    "gateway_settings",
    "make_catalogue",
    "poll_until",
    "running_gateway",
    "start_gateway",
    "write_members",
]

HMAC_KEY = "test-subject-key-0123456789abcdef"
DIGEST_KEY = "connector-test-digest-key-0123456789"
"""The payload-digest key that test gateways share with test connectors (it also keys the
subject binding that connectors re-check, ``bus/subject_binding.py``)."""
SLOW_TIMEOUT_MS = 1500
RESIDENCE_DATA: dict[str, Any] = {
    "registered": True,
    "municipality_code": "28005",
    "municipality_name": "Alcalá de Henares",
    "registered_since": "2019-03-01",
    "certified_at": "2026-05-09T10:00:00.000Z",
    "household_size": 3,
}
INCOME_DATA: dict[str, Any] = {
    "fiscal_year": 2024,
    "return_filed": True,
    "band": "FROM_1_TO_2_IPREM",
    "joint_return": None,
}


@dataclass(frozen=True)
class TestCatalogue:
    """A copy of two demo services under a unique domain, with its own lock file."""

    __test__ = False
    root: Path
    domain: str
    catalogue: Catalogue
    lock: LockFile

    @property
    def residence(self) -> str:
        return f"{self.domain}.residence-certificate"

    @property
    def income(self) -> str:
        """The income-band copy: its timeout is short (SLOW_TIMEOUT_MS), for deadline tests."""
        return f"{self.domain}.income-band"


def make_catalogue(folder: Path, domain: str) -> TestCatalogue:
    """Copy residence-certificate and income-band under ``domain``; lock their schemas."""
    root = folder / "services"
    shutil.copytree(
        DEFAULT_CATALOGUE_DIR / "register" / "residence-certificate",
        root / domain / "residence-certificate",
    )
    income = root / domain / "income-band"
    shutil.copytree(DEFAULT_CATALOGUE_DIR / "tax" / "income-band", income)
    meta = yaml.safe_load((income / "service.yaml").read_text(encoding="utf-8"))
    meta["timeout_ms"] = SLOW_TIMEOUT_MS
    # Presumed here: these tests are about the exchange lifecycle; consent enforcement
    # (explicit mode included) is tested in tests/integration/consent.
    meta["consent_mode"] = "presumed"
    (income / "service.yaml").write_text(yaml.safe_dump(meta), encoding="utf-8")
    catalogue = load_catalogue(root)
    lock, _ = LockFile().with_new(catalogue.schema_refs())
    lock.save(catalogue.lock_path())
    return TestCatalogue(root, domain, catalogue, lock)


def write_members(
    path: Path,
    cat: TestCatalogue,
    *,
    extra_keys: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    encrypt_for: Sequence[str] = (),
) -> dict[str, str]:
    """Members file: ``town`` (rights on both services), ``other`` (same rights), ``norights``.

    Returns the API key of each member by short name.
    """
    keys: dict[str, str] = {}
    rights = [
        {"service": cat.residence, "purposes": ["social-benefits", "school-admission"]},
        {"service": cat.income, "purposes": ["social-benefits"]},
    ]
    # The gateway and the providers, with their signing keys (replies and audit events
    # are verified, as in production).
    members: list[dict[str, Any]] = members_file_entries(
        extra_keys=extra_keys, encrypt_for=encrypt_for
    )
    for name, member_rights in (("town", rights), ("other", rights), ("norights", [])):
        key, digest = new_api_key()
        keys[name] = key
        members.append(
            {
                "id": f"it.{name}",
                "name": f"Test member {name}",
                "roles": ["consumer"],
                "api_keys": [{"sha256": digest}],
                "rights": member_rights,
            }
        )
    path.write_text(yaml.safe_dump({"members": members}), encoding="utf-8")
    return keys


class Provider:
    """A minimal provider on ``bus.Responder``: decodes the Avro request, answers by table."""

    def __init__(self, settings: KafkaSettings, cat: TestCatalogue) -> None:
        self._settings = settings
        self._cat = cat
        self._codec = Codec({int(k): v for k, v in cat.catalogue.schemas_by_id(cat.lock).items()})
        self.release_slow = asyncio.Event()
        self.requests: list[Envelope] = []
        self._responders: list[Responder] = []

    async def _answer(self, envelope: Envelope, value: bytes | None) -> ReplyOutcome:
        self.requests.append(envelope)
        datum = self._codec.decode(value or b"").datum
        ident = str(datum.get("document_number") or datum.get("nif"))
        if ident.startswith("SLOW"):
            await self.release_slow.wait()
        if ident.startswith("MISSING"):
            return ReplyOutcome(b"", ReplyStatus.NOT_FOUND)
        if ident.startswith("BROKEN"):
            return ReplyOutcome(b"", ReplyStatus.ERROR, "REGISTRY_DOWN")
        if ident.startswith("GARBAGE"):
            return ReplyOutcome(b"\x00\x00\x00\x00\x01garbage")
        # The provider writes with its own minor (1.1); the gateway reads with the requested one.
        data = INCOME_DATA if envelope.service == self._cat.income else RESIDENCE_DATA
        version = self._cat.catalogue.services[envelope.service].version("1.1")
        entry = self._cat.lock.entry(envelope.service, "1.1", "response")
        assert version is not None
        assert entry is not None
        return ReplyOutcome(
            self._codec.encode(entry.schema_id, json_to_avro(version.response, data))
        )

    async def start(self, producer: BusProducer, group: str) -> None:
        for service in (self._cat.residence, self._cat.income):
            # Each service is answered as its catalogue provider, signed with its key.
            provider = self._cat.catalogue.services[service].meta.providers[0]
            responder = Responder(
                self._settings,
                member=parse_member_id(provider),
                signer=signer_of(provider),
                topic=RequestTopic(parse_service_id(service), 1),
                group_id=f"{group}-{service}",
                handler=self._answer,
                producer=producer,
                drain_timeout_s=5,
            )
            await responder.start()
            self._responders.append(responder)
        for responder in self._responders:
            await responder.consumer.wait_assigned(timeout_s=30)

    async def stop(self) -> None:
        self.release_slow.set()
        for responder in self._responders:
            await responder.stop()


@dataclass
class RunningGateway:
    """A started gateway: its base URL, members' API keys, the catalogue copy, its parts."""

    base_url: str
    keys: dict[str, str]
    cat: TestCatalogue
    gateway: Gateway
    provider: Provider
    kafka: KafkaSettings
    settings: GatewaySettings

    @property
    def api_key(self) -> str:
        """The key of ``it.town``, the member with rights on both services."""
        return self.keys["town"]

    def headers(self, member: str = "town", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[member]}", **extra}

    def body(self, ident: str = "FOUND-1", **overrides: Any) -> dict[str, Any]:
        """A valid residence-certificate request for document ``ident`` (also its subject:
        the data must name the subject, ``gateway/subject_check.py``)."""
        body: dict[str, Any] = {
            "service": self.cat.residence,
            "version": "1",
            "subject": ident,
            "purpose": "social-benefits",
            "official": "official-42",
            "data": {"document_type": "DNI", "document_number": ident},
        }
        body.update(overrides)
        data = body["data"]
        if "subject" not in overrides and isinstance(data, dict):
            named = data.get("nif", data.get("document_number"))
            body["subject"] = named if isinstance(named, str) and named else ident
        return body


def gateway_settings(
    tmp_path: Path, cat: TestCatalogue, group: str, **overrides: Any
) -> GatewaySettings:
    """Settings for a test gateway (SQLite in ``tmp_path``, port chosen by the caller)."""
    values: dict[str, Any] = {
        "http": {"host": "127.0.0.1", "port": free_port()},
        "gateway_group": group,
        "reply_partitions": (0, 1),
        "store_url": f"sqlite:///{tmp_path / 'gateway.db'}",
        "members_file": tmp_path / "members.yaml",
        "catalogue_dir": cat.root,
        "subject_hmac_key": HMAC_KEY,
        "rate_limit": {"rate_per_s": 100.0, "burst": 1000},
        "exchanges": {"max_wait_s": 20.0, "expiry_interval_s": 0.2},
        "signing": gateway_signing_settings(),
    }
    values.update(overrides)
    values["audit"] = {"digest_key": DIGEST_KEY, **overrides.get("audit", {})}
    return GatewaySettings.model_validate(values)


async def setup_started(runner: web.AppRunner, app: web.Application, timeout_s: float = 60) -> None:
    """``runner.setup()``, then until the gateway's Kafka side has started. Start-up waits
    5 s for its first attempt (``gateway/bus_startup.py``); on a loaded machine it may take
    longer, and the replica would answer 503 ``GATEWAY_STARTING`` until it has."""
    await runner.setup()
    await asyncio.wait_for(app[GATEWAY_KEY].startup.ready.wait(), timeout=timeout_s)


@asynccontextmanager
async def start_gateway(
    kafka_bootstrap: str,
    tmp_path: Path,
    unique: Callable[[str], str],
    *,
    with_provider: bool = True,
    extra_keys: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    encrypt_for: Sequence[str] = (),
    **overrides: Any,
) -> AsyncIterator[RunningGateway]:
    """Provision topics, start the provider and a gateway; stop both afterwards."""
    kafka = settings_for(kafka_bootstrap, client_id="interop-gateway-it")
    domain = "it" + unique("d").rsplit("-", 1)[-1]
    cat = make_catalogue(tmp_path / "catalogue", domain)
    keys = write_members(
        tmp_path / "members.yaml", cat, extra_keys=extra_keys, encrypt_for=encrypt_for
    )
    group = unique("gw")
    settings = gateway_settings(tmp_path, cat, group, **overrides)
    specs = catalogue_topic_specs(
        cat.catalogue,
        gateway_groups=[parse_gateway_group_id(group)],
        request_partitions=2,
        reply_partitions=2,
        replication_factor=1,
    )
    await ensure_topics(kafka, specs)
    provider = Provider(kafka, cat)
    async with BusProducer(kafka) as producer:
        if with_provider:
            await provider.start(producer, unique("provider"))
        app = create_app(kafka, settings, registry=CollectorRegistry())
        runner = gateway_runner(app, shutdown_timeout=5)
        await setup_started(runner, app)
        try:
            await web.TCPSite(runner, settings.http.host, settings.http.port).start()
            yield RunningGateway(
                base_url=f"http://{settings.http.host}:{settings.http.port}",
                keys=keys,
                cat=cat,
                gateway=app[GATEWAY_KEY],
                provider=provider,
                kafka=kafka,
                settings=settings,
            )
        finally:
            provider.release_slow.set()
            await runner.cleanup()
            await provider.stop()


@pytest.fixture
async def running_gateway(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> AsyncIterator[RunningGateway]:
    """A started gateway with a provider: ``.base_url`` and ``.api_key`` are what most need."""
    async with start_gateway(kafka_bootstrap, tmp_path, unique_name) as running:
        yield running


async def poll_until(
    probe: Callable[[], Awaitable[Any]],
    done: Callable[[Any], bool],
    *,
    timeout_s: float,
    what: str,
) -> Any:
    """Call ``probe`` until ``done(result)``; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}: {result}")
        await asyncio.sleep(0.05)


async def http(
    method: str, url: str, *, headers: dict[str, str] | None = None, **kw: Any
) -> tuple[int, dict[str, str], Any]:
    """One request; (status, headers, JSON body or text)."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, headers=headers, **kw) as response,
    ):
        text = await response.text()
        try:
            body: Any = await response.json(content_type=None)
        except ValueError:
            body = text
        return response.status, dict(response.headers), body
