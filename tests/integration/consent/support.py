"""A real gateway for the consent tests: the three demo services (one per consent mode)
under a unique domain, members with API keys (two consumers and a citizen portal), a
signing key, and an in-memory audit trail the tests read (the trail is a seam of
``create_app``; the Kafka trail is the audit issue's)."""

from __future__ import annotations

import base64
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from prometheus_client import CollectorRegistry

from bus import catalogue_topic_specs, ensure_topics, parse_gateway_group_id
from bus.audit.trail import AuditRecord, MemoryAuditTrail
from connectors import ConnectorSettings
from contracts import DEFAULT_CATALOGUE_DIR, Catalogue, LockFile, load_catalogue
from gateway.app import GATEWAY_KEY, Gateway, create_app
from gateway.http_server import gateway_runner
from gateway.members import new_api_key
from gateway.settings import GatewaySettings
from tests.integration.bus.kafka_helpers import settings_for
from tests.integration.conftest import free_port
from tests.integration.gateway.support import DIGEST_KEY as CONNECTOR_DIGEST_KEY
from tests.integration.gateway.support import HMAC_KEY, http, setup_started
from tests.integration.member_signing import key_id_of, members_file_entries, private_key_of

__all__ = ["ConsentGateway", "start_consent_gateway"]

SIGNING_KEY = Ed25519PrivateKey.generate()
PROVIDER = "es.ine.padron"
"""The demo register's provider id: its connector answers the presumed-consent service."""
DIGEST = "sha256:" + "5e" * 32
_SOURCES = {
    "presumed": ("register", "residence-certificate"),
    "explicit": ("tax", "income-band"),
    "legal": ("socialsecurity", "employment-status"),
}
RIGHTS = {
    "presumed": ["social-benefits", "school-admission"],
    "explicit": ["social-benefits", "scholarship"],
    "legal": ["unemployment-benefit-check", "minimum-income-check"],
}


@dataclass
class ConsentGateway:
    """A started gateway: services by mode, API keys by member, the audit trail."""

    base_url: str
    domain: str
    keys: dict[str, str]
    gateway: Gateway
    trail: MemoryAuditTrail
    catalogue: Catalogue
    root: Path

    def service(self, mode: str) -> str:
        return f"{self.domain}.{_SOURCES[mode][1]}"

    def headers(self, member: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[member]}"}

    def records(self, subject_ref: str) -> list[AuditRecord]:
        return [r for r in self.trail.records if r.subject_ref == subject_ref]

    def exchange(self, mode: str, subject: str, purpose: str, **extra: Any) -> dict[str, Any]:
        """A valid exchange request body for the mode's service."""
        data_by_mode: dict[str, dict[str, Any]] = {
            "presumed": {"document_type": "DNI", "document_number": subject},
            "explicit": {"nif": subject, "fiscal_year": 2024},
            "legal": {
                "document_number": subject,
                "reference_date": "2026-05-01",
                "social_security_number": None,
            },
        }
        data = data_by_mode[mode]
        body: dict[str, Any] = {
            "service": self.service(mode),
            "version": "1",
            "subject": subject,
            "purpose": purpose,
            "official": "official-7",
            "data": data,
        }
        if mode == "legal":
            body["legal_basis"] = self.catalogue.services[self.service(mode)].meta.legal_bases[0]
        body.update(extra)
        return body

    async def call(
        self,
        method: str,
        path: str,
        member: str = "portal",
        *,
        prefer: str | None = None,
        **kw: Any,
    ) -> tuple[int, dict[str, str], Any]:
        headers = self.headers(member) | ({"Prefer": prefer} if prefer else {})
        return await http(method, f"{self.base_url}{path}", headers=headers, **kw)


def new_subject() -> str:
    """A fresh, valid DNI (so cases never see each other's consents)."""
    number = uuid.uuid4().int % 100_000_000
    return f"{number:08d}{'TRWAGMYFPDXBNJZSQVHLCKE'[number % 23]}"


def _catalogue(folder: Path, domain: str) -> tuple[Path, Catalogue]:
    root = folder / "services"
    for source_domain, name in _SOURCES.values():
        shutil.copytree(DEFAULT_CATALOGUE_DIR / source_domain / name, root / domain / name)
    catalogue = load_catalogue(root)
    lock, _ = LockFile().with_new(catalogue.schema_refs())
    lock.save(catalogue.lock_path())
    return root, catalogue


def _members(path: Path, domain: str) -> dict[str, str]:
    rights = [
        {"service": f"{domain}.{_SOURCES[mode][1]}", "purposes": purposes}
        for mode, purposes in RIGHTS.items()
    ]
    # The town conducts inspections (an opposition does not apply in them); the other
    # consumer does not, so its "inspection" sets no opposition aside.
    inspector = [
        right | {"exempt_procedures": ["inspection"]} if mode == "presumed" else right
        for mode, right in zip(RIGHTS, rights, strict=True)
    ]
    keys: dict[str, str] = {}
    # The providers' signing keys: the gateway accepts only their signed replies.
    members: list[dict[str, Any]] = members_file_entries()
    for name, roles, member_rights in (
        ("town", ["consumer"], inspector),
        ("other", ["consumer"], rights),
        ("portal", ["citizen-portal"], []),
        ("auditor", ["auditor"], []),
    ):
        key, digest = new_api_key()
        keys[name] = key
        members.append(
            {
                "id": f"it.{name}",
                "name": f"Consent test member {name}",
                "roles": roles,
                "api_keys": [{"sha256": digest}],
                "rights": member_rights,
            }
        )
    path.write_text(yaml.safe_dump({"members": members}), encoding="utf-8")
    return keys


@asynccontextmanager
async def start_consent_gateway(
    kafka_bootstrap: str, folder: Path, *, store_url: str | None = None
) -> AsyncIterator[ConsentGateway]:
    """Provision the topics, start a gateway (no provider: allowed requests stay pending)."""
    kafka = settings_for(kafka_bootstrap, client_id="interop-consent-it")
    domain = "ct" + uuid.uuid4().hex[:10]
    root, catalogue = _catalogue(folder / "catalogue", domain)
    keys = _members(folder / "members.yaml", domain)
    group = "consent-" + uuid.uuid4().hex[:10]
    raw = SIGNING_KEY.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    settings = GatewaySettings.model_validate(
        {
            "http": {"host": "127.0.0.1", "port": free_port()},
            "gateway_group": group,
            "reply_partitions": (0,),
            "store_url": store_url or f"sqlite:///{folder / 'gateway.db'}",
            "members_file": folder / "members.yaml",
            "catalogue_dir": root,
            "subject_hmac_key": HMAC_KEY,
            # Shared with the test connectors: it keys the subject binding they re-check.
            "audit": {"digest_key": CONNECTOR_DIGEST_KEY},
            "rate_limit": {"enabled": False},
            "signing": {"key_id": "gw-consent-it", "private_key": base64.b64encode(raw).decode()},
        }
    )
    specs = catalogue_topic_specs(
        catalogue,
        gateway_groups=[parse_gateway_group_id(group)],
        request_partitions=1,
        reply_partitions=1,
        replication_factor=1,
    )
    await ensure_topics(kafka, specs)
    trail = MemoryAuditTrail()
    app = create_app(kafka, settings, registry=CollectorRegistry(), trail=trail)
    runner = gateway_runner(app, shutdown_timeout=5)
    await setup_started(runner, app)
    try:
        await web.TCPSite(runner, settings.http.host, settings.http.port).start()
        yield ConsentGateway(
            base_url=f"http://{settings.http.host}:{settings.http.port}",
            domain=domain,
            keys=keys,
            gateway=app[GATEWAY_KEY],
            trail=trail,
            catalogue=catalogue,
            root=root,
        )
    finally:
        await runner.cleanup()


def provider_connector_settings(
    gw: ConsentGateway, kafka_bootstrap: str, folder: Path, *, group_prefix: str
) -> ConnectorSettings:
    """The provider's connector for the gateway's presumed-consent service: trusts the
    gateway's signing key, signs its replies as the provider, one fresh consumer group."""
    public = SIGNING_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return ConnectorSettings.model_validate(
        {
            "member_id": PROVIDER,
            "kafka": {"bootstrap_servers": kafka_bootstrap},
            "catalogue_dir": str(gw.catalogue.root),
            "reply_store_url": f"sqlite:///{folder / 'replies.db'}",
            "gateway_keys": {"gw-consent-it": base64.b64encode(public).decode()},
            "audit_digest_key": CONNECTOR_DIGEST_KEY,
            # The gateway accepts only replies signed by the exchange's provider.
            "signing": {"key_id": key_id_of(PROVIDER), "private_key": private_key_of(PROVIDER)},
            "health": {"port": 0},
            "services": [
                {
                    "service": gw.service("presumed"),
                    "version": "1",
                    "handler": "tests.integration.consent.handlers:residence",
                    "group_id": f"{group_prefix}-{uuid.uuid4().hex[:10]}",
                }
            ],
        }
    )
