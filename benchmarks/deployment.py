"""What the bench deploys on the broker before it measures: catalogue, members, topics.

Everything is unique to one bench run (a random token in every name), so the bench can
share a broker with a developer's ``interop dev`` or with the test suite:

* a copy of the residence-certificate service under two domains, one per end-to-end
  scenario (1 gateway + 1 provider, 2 + 2), so both can stay up side by side and be
  measured in turns without answering each other's requests;
* a members file with one consumer member (an API key) holding rights on both copies;
* the gateways' request-signing key (connectors trust its public half), the audit
  checkpoint signer and the HMAC key, fresh for every run;
* the request, reply and audit topics (``catalogue_topic_specs``) and the floor's two
  topics, with the same partition counts, replicated as the target's brokers allow;
* on an authenticated broker, the ACLs ``interop acls apply`` would give the gateways and
  the provider (``bus.derive_acl_bindings``) plus the floor's, and each part's login.

Where each part keeps its state (SQLite files or the run's PostgreSQL databases) is the
``StoreLayout`` (``benchmarks.databases``).
"""

from __future__ import annotations

import base64
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks.databases import StoreLayout
from benchmarks.registry_data import document_numbers
from benchmarks.target import FLOOR_USER, GATEWAY_USER, PROVIDER_USER, BenchTarget
from bus import (
    AclBinding,
    AclOperation,
    AclResource,
    PatternType,
    ReplyTopic,
    RequestTopic,
    TopicSpec,
    apply_acls,
    catalogue_topic_specs,
    derive_acl_bindings,
    ensure_topics,
    kafka_principal,
    parse_gateway_group_id,
    parse_service_id,
    private_key_text,
    public_key_text,
)
from bus.audit import NoteSigner
from connectors import settings_file_document
from contracts import DEFAULT_CATALOGUE_DIR, LockFile, load_catalogue
from gateway.members import new_api_key

__all__ = ["PARTITIONS", "Deployment", "GatewaySpec", "prepare"]

PARTITIONS: Final = 4
"""Partitions of every request and reply topic (end to end and floor alike)."""
_SERVICE: Final = "residence-certificate"
_PURPOSE: Final = "social-benefits"
_MEMBER: Final = "bench.townhall"
_PROVIDER: Final = PROVIDER_USER
_HANDLER: Final = "benchmarks.connector_handler:residence"
_LOG_ORIGIN: Final = "bench.interop-bus.local/audit"


@dataclass(frozen=True, slots=True)
class GatewaySpec:
    """One gateway replica of a scenario."""

    name: str
    port: int
    group: str
    reply_partitions: tuple[int, ...]
    scenario: int = 1
    """1: the 1+1 scenario, 2: the 2+2 one (they keep apart stores)."""
    batches: Mapping[str, Any] | None = None
    """``gateway.batches`` settings of this replica (None: the defaults)."""


@dataclass(frozen=True, slots=True)
class Deployment:
    """Names and files of one bench run."""

    work_dir: Path
    target: BenchTarget
    stores: StoreLayout
    token: str
    catalogue_dir: Path
    members_file: Path
    api_key: str
    services: tuple[str, str]
    """The service copy of the 1+1 scenario and the one of the 2+2 scenario."""
    floor_request: str
    floor_reply: str
    signing_key_id: str
    signing_private: str = field(repr=False)
    signing_public: str
    checkpoint_signer: str = field(repr=False)
    secret: str = field(repr=False)
    provider_private: str = field(repr=False, default="")
    """The connectors' signing key (replies and audit events; its public key is in the
    members file, as the gateway's is)."""
    """HMAC key of subject pseudonyms and payload digests (one per run)."""

    def gateway_group(self, scenario: int) -> str:
        return f"bench{self.token}s{scenario}"

    def connector_group(self, scenario: int) -> str:
        """Under ``interop.connector.<provider>.``: the prefix its ACLs allow."""
        return f"interop.connector.{_PROVIDER}.bench{self.token}s{scenario}"

    @property
    def floor_group(self) -> str:
        return f"floor{self.token}"

    def _kafka(self, client_id: str, user_name: str) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.target.bootstrap,
            "client_id": client_id,
            **self.target.login(user_name),
        }

    def floor_kafka(self) -> dict[str, Any]:
        """The floor processes' ``KafkaSettings`` fields."""
        return self._kafka("interop-bench-floor", FLOOR_USER)

    def exchange_bodies(self, service: str) -> list[dict[str, Any]]:
        """One valid exchange request per subject the registry knows."""
        return [
            {
                "service": service,
                "version": "1",
                "subject": number,
                "purpose": _PURPOSE,
                "official": "official-bench",
                "data": {"document_type": "DNI", "document_number": number},
            }
            for number in document_numbers()
        ]

    def connector_config(self, name: str, scenario: int, health_port: int) -> Path:
        """Write the ``connector.yaml`` of one connector process of ``scenario``."""
        settings = {
            "member_id": _PROVIDER,
            "kafka": self._kafka(name, PROVIDER_USER),
            "catalogue_dir": str(self.catalogue_dir),
            "reply_store_url": self.stores.connector(scenario, name),
            "gateway_keys": {self.signing_key_id: self.signing_public},
            "signing": {
                "key_id": f"{_PROVIDER}-{self.token}",
                "private_key": self.provider_private,
            },
            "audit_digest_key": self.secret,
            "health": {"host": "127.0.0.1", "port": health_port},
            "services": [
                {
                    "service": self.services[scenario - 1],
                    "version": "1.1",
                    "handler": _HANDLER,
                    "group_id": self.connector_group(scenario),
                    # The registry is a dictionary: the bound that protects a fragile
                    # legacy system (default 8) would only measure itself here.
                    "concurrency": 64,
                }
            ],
        }
        path = self.work_dir / f"{name}.yaml"
        document = settings_file_document(settings)
        path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
        return path

    def gateway_config(self, spec: GatewaySpec) -> Path:
        """Write the YAML settings of one replica (as ``interop gateway --config`` reads)."""
        settings: dict[str, Any] = {
            "kafka": self._kafka(spec.name, GATEWAY_USER),
            "gateway": {
                "http": {"host": "127.0.0.1", "port": spec.port},
                "gateway_group": spec.group,
                "reply_partitions": list(spec.reply_partitions),
                # SQLite: one file per replica (with ``Prefer: wait`` a reply returns to the
                # replica that sent the request). PostgreSQL: one database per scenario,
                # shared by its replicas and its audit indexer, as in production.
                "store_url": self.stores.gateway(spec.scenario, spec.name),
                "members_file": str(self.members_file),
                "catalogue_dir": str(self.catalogue_dir),
                "subject_hmac_key": self.secret,
                "signing": {"key_id": self.signing_key_id, "private_key": self.signing_private},
                "audit": {
                    # The connectors' digest key: gateway and provider digests match.
                    "digest_key": self.secret,
                    # The indexer runs as its own process (`interop audit index`), as
                    # deployed in production: its signature checks stay off this loop.
                    "indexer": {
                        "enabled": False,
                        "origin": _LOG_ORIGIN,
                        "signing_key": self.checkpoint_signer,
                    },
                },
                # On, as in production, but far above what one member sends here.
                "rate_limit": {"enabled": True, "rate_per_s": 1e9, "burst": 1_000_000_000},
            },
        }
        if spec.batches is not None:
            settings["gateway"]["batches"] = dict(spec.batches)
        path = self.work_dir / f"{spec.name}.yaml"
        path.write_text(yaml.safe_dump(settings), encoding="utf-8")
        return path


def _copy_catalogue(root: Path, domains: tuple[str, str]) -> tuple[str, str]:
    for domain in domains:
        shutil.copytree(DEFAULT_CATALOGUE_DIR / "register" / _SERVICE, root / domain / _SERVICE)
    catalogue = load_catalogue(root)
    lock, _ = LockFile().with_new(catalogue.schema_refs())
    lock.save(catalogue.lock_path())
    return (f"{domains[0]}.{_SERVICE}", f"{domains[1]}.{_SERVICE}")


def _signing_member(member: str, role: str, key_id: str, public: str) -> dict[str, Any]:
    return {
        "id": member,
        "name": f"Bench {role}",
        "roles": [role],
        "signing_keys": [{"key_id": key_id, "public_key": public}],
    }


def _write_members(path: Path, services: tuple[str, ...], signers: list[dict[str, Any]]) -> str:
    key, digest = new_api_key()
    members = [
        *signers,
        {
            "id": _MEMBER,
            "name": "Bench town hall",
            "roles": ["consumer"],
            "api_keys": [{"sha256": digest}],
            "rights": [{"service": s, "purposes": [_PURPOSE]} for s in services],
        },
    ]
    path.write_text(yaml.safe_dump({"members": members}), encoding="utf-8")
    return key


def _floor_acls(request: str, reply: str, group: str) -> list[AclBinding]:
    """The floor's user may use its two topics and its group, nothing else."""
    floor = kafka_principal(FLOOR_USER)
    topics = [
        AclBinding(floor, AclResource.TOPIC, name, PatternType.LITERAL, operation)
        for name in (request, reply)
        for operation in (AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE)
    ]
    group_read = AclBinding(floor, AclResource.GROUP, group, PatternType.LITERAL, AclOperation.READ)
    return [*topics, group_read]


async def prepare(work_dir: Path, target: BenchTarget, stores: StoreLayout) -> Deployment:
    """Write the catalogue copy and members file; create every topic of the run and, on
    an authenticated broker, the ACLs of every part."""
    token = secrets.token_hex(4)
    catalogue_dir = work_dir / "catalogue"
    services = _copy_catalogue(catalogue_dir, (f"bench{token}a", f"bench{token}b"))
    members_file = work_dir / "members.yaml"
    signing = Ed25519PrivateKey.generate()
    provider = Ed25519PrivateKey.generate()
    # Gateway and connectors sign as members; the gateway verifies replies and events.
    api_key = _write_members(
        members_file,
        services,
        [
            _signing_member(
                "interop.gateway",
                "gateway",
                f"bench-{token}",
                public_key_text(signing.public_key()),
            ),
            _signing_member(
                _PROVIDER,
                "provider",
                f"{_PROVIDER}-{token}",
                public_key_text(provider.public_key()),
            ),
        ],
    )
    deployment = Deployment(
        work_dir=work_dir,
        target=target,
        stores=stores,
        token=token,
        catalogue_dir=catalogue_dir,
        members_file=members_file,
        api_key=api_key,
        services=services,
        floor_request=RequestTopic(parse_service_id(f"floor{token}.floor"), 1).name,
        floor_reply=ReplyTopic(parse_gateway_group_id(f"floor{token}")).name,
        signing_key_id=f"bench-{token}",
        signing_private=base64.b64encode(signing.private_bytes_raw()).decode(),
        signing_public=base64.b64encode(signing.public_key().public_bytes_raw()).decode(),
        checkpoint_signer=NoteSigner.generate(_LOG_ORIGIN).private_key_string(),
        secret=secrets.token_urlsafe(32),
        provider_private=private_key_text(provider),
    )
    groups = [parse_gateway_group_id(deployment.gateway_group(i)) for i in (1, 2)]
    catalogue = load_catalogue(catalogue_dir)
    replication = target.replication_factor
    specs = catalogue_topic_specs(
        catalogue,
        gateway_groups=[*groups, parse_gateway_group_id(f"floor{token}")],
        request_partitions=PARTITIONS,
        reply_partitions=PARTITIONS,
        replication_factor=replication,
    )
    floor_request = RequestTopic(parse_service_id(f"floor{token}.floor"), 1)
    specs.append(TopicSpec(floor_request, PARTITIONS, replication))
    admin = target.admin()
    await ensure_topics(admin, specs)
    if target.auth is not None:
        # The broker is the run's own: its ACLs are exactly this run's.
        desired = derive_acl_bindings(
            catalogue, gateway_identity=GATEWAY_USER, gateway_groups=groups, providers=[_PROVIDER]
        )
        floor = _floor_acls(
            deployment.floor_request, deployment.floor_reply, deployment.floor_group
        )
        await apply_acls(admin, [*desired, *floor])
    return deployment
