"""What the bench deploys on the broker before it measures: catalogue, members, topics.

Everything is unique to one bench run (a random token in every name), so the bench can
share a broker with a developer's ``interop dev`` or with the test suite:

* a copy of the residence-certificate service under two domains, one per end-to-end
  scenario (1 gateway + 1 provider, 2 + 2), so both can stay up side by side and be
  measured in turns without answering each other's requests;
* a members file with one consumer member (an API key) holding rights on both copies;
* the request, reply and audit topics (``catalogue_topic_specs``) and the floor's two
  topics, with the same partition counts.
"""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from benchmarks.registry_data import SUBJECT_DOCUMENT
from bus import (
    KafkaSettings,
    ReplyTopic,
    RequestTopic,
    TopicSpec,
    catalogue_topic_specs,
    ensure_topics,
    parse_gateway_group_id,
    parse_service_id,
)
from contracts import DEFAULT_CATALOGUE_DIR, LockFile, load_catalogue
from gateway.members import new_api_key

__all__ = ["PARTITIONS", "Deployment", "GatewaySpec", "prepare"]

PARTITIONS: Final = 4
"""Partitions of every request and reply topic (end to end and floor alike)."""
_SERVICE: Final = "residence-certificate"
_PURPOSE: Final = "social-benefits"
_MEMBER: Final = "bench.townhall"


@dataclass(frozen=True, slots=True)
class GatewaySpec:
    """One gateway replica of a scenario."""

    name: str
    port: int
    group: str
    reply_partitions: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Deployment:
    """Names and files of one bench run."""

    work_dir: Path
    kafka: KafkaSettings
    token: str
    catalogue_dir: Path
    members_file: Path
    api_key: str
    services: tuple[str, str]
    """The service copy of the 1+1 scenario and the one of the 2+2 scenario."""
    floor_request: str
    floor_reply: str

    def gateway_group(self, scenario: int) -> str:
        return f"bench{self.token}s{scenario}"

    def exchange_body(self, service: str) -> dict[str, Any]:
        """A valid exchange request for the one subject the registry knows."""
        return {
            "service": service,
            "version": "1",
            "subject": SUBJECT_DOCUMENT,
            "purpose": _PURPOSE,
            "official": "official-bench",
            "data": {"document_type": "DNI", "document_number": SUBJECT_DOCUMENT},
        }

    def gateway_config(self, spec: GatewaySpec) -> Path:
        """Write the YAML settings of one replica (as ``interop gateway --config`` reads)."""
        settings = {
            "kafka": {"bootstrap_servers": self.kafka.bootstrap_servers, "client_id": spec.name},
            "gateway": {
                "http": {"host": "127.0.0.1", "port": spec.port},
                "gateway_group": spec.group,
                "reply_partitions": list(spec.reply_partitions),
                # One store per replica: with ``Prefer: wait`` a reply returns to the replica
                # that sent the request. Shared state across replicas is PostgreSQL's job.
                "store_url": f"sqlite:///{self.work_dir / (spec.name + '.db')}",
                "members_file": str(self.members_file),
                "catalogue_dir": str(self.catalogue_dir),
                "subject_hmac_key": secrets.token_urlsafe(32),
                # On, as in production, but far above what one member sends here.
                "rate_limit": {"enabled": True, "rate_per_s": 1e9, "burst": 1_000_000_000},
            },
        }
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


def _write_members(path: Path, services: tuple[str, ...]) -> str:
    key, digest = new_api_key()
    members = [
        {
            "id": _MEMBER,
            "name": "Bench town hall",
            "roles": ["consumer"],
            "api_keys": [{"sha256": digest}],
            "rights": [{"service": s, "purposes": [_PURPOSE]} for s in services],
        }
    ]
    path.write_text(yaml.safe_dump({"members": members}), encoding="utf-8")
    return key


async def prepare(work_dir: Path, kafka: KafkaSettings) -> Deployment:
    """Write the catalogue copy and members file; create every topic of the run."""
    token = secrets.token_hex(4)
    catalogue_dir = work_dir / "catalogue"
    services = _copy_catalogue(catalogue_dir, (f"bench{token}a", f"bench{token}b"))
    members_file = work_dir / "members.yaml"
    api_key = _write_members(members_file, services)
    deployment = Deployment(
        work_dir=work_dir,
        kafka=kafka,
        token=token,
        catalogue_dir=catalogue_dir,
        members_file=members_file,
        api_key=api_key,
        services=services,
        floor_request=RequestTopic(parse_service_id(f"floor{token}.floor"), 1).name,
        floor_reply=ReplyTopic(parse_gateway_group_id(f"floor{token}")).name,
    )
    groups = [parse_gateway_group_id(deployment.gateway_group(i)) for i in (1, 2)]
    specs = catalogue_topic_specs(
        load_catalogue(catalogue_dir),
        gateway_groups=[*groups, parse_gateway_group_id(f"floor{token}")],
        request_partitions=PARTITIONS,
        reply_partitions=PARTITIONS,
        replication_factor=1,
    )
    specs.append(TopicSpec(RequestTopic(parse_service_id(f"floor{token}.floor"), 1), PARTITIONS, 1))
    await ensure_topics(kafka, specs)
    return deployment
