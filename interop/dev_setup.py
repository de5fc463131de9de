"""What ``interop dev`` writes before it starts anything: keys, members, the gateway's config.

Everything lives in one state directory (``.interop/dev`` by default) and is made once:
the second run reads the same keys back, so API keys printed by the first run, consents
recorded and the audit log's checkpoint key all stay valid. The files hold development
secrets in clear (mode 0600); production deployments give these through the environment
or mounted secrets (see ``docs/operations.md``).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bus import (
    encryption_key_text,
    load_encryption_private_key,
    load_private_key,
    public_key_text,
)
from bus.audit import NoteSigner
from devservers.broker_auth import BROKER_USER, BrokerAuth, new_password
from gateway.members import hash_api_key

__all__ = [
    "AUDIT_ORIGIN",
    "DEMO_CITIZEN_PORTAL",
    "DEMO_MEMBERS",
    "GATEWAY_KAFKA_USER",
    "GATEWAY_MEMBER_ID",
    "KAFKA_ADMIN_USER",
    "SIGNING_KEY_ID",
    "DemoMember",
    "DevSecrets",
    "add_connector_signing",
    "kafka_login_settings",
    "load_or_create_secrets",
    "write_gateway_config",
    "write_members_file",
]

SIGNING_KEY_ID: Final = "gateway-dev-1"
DEMO_CITIZEN_PORTAL: Final = "es.carpeta-ciudadana"
"""The citizen-portal member the console's demo citizens act through."""
GATEWAY_MEMBER_ID: Final = "interop.gateway"
"""The gateway's member id on the bus (its default ``member_id``): it signs as this member."""
AUDIT_ORIGIN: Final = "interop-bus.local/dev-audit"
GATEWAY_KAFKA_USER: Final = "interop-gateway"
"""The gateway's Kafka user (``interop acls apply --gateway-user``'s default)."""
KAFKA_ADMIN_USER: Final = "interop-admin"
"""The operator's Kafka user: a super user that provisions topics and ACLs."""
_SECRETS_FILE: Final = "secrets.json"


@dataclass(frozen=True, slots=True)
class DemoMember:
    """One administration of the demo, and what it may ask."""

    id: str
    name: str
    role: str
    rights: tuple[tuple[str, tuple[str, ...]], ...] = ()


DEMO_MEMBERS: Final = (
    DemoMember(
        "es.ayto-alcala",
        "Ayuntamiento de Alcalá de Henares",
        "consumer",
        (
            (
                "register.residence-certificate",
                ("social-benefits", "school-admission", "housing-aid", "municipal-tax-management"),
            ),
            ("tax.income-band", ("social-benefits", "scholarship", "public-housing")),
            (
                "socialsecurity.employment-status",
                ("minimum-income-check", "unemployment-benefit-check"),
            ),
        ),
    ),
    DemoMember("es.carpeta-ciudadana", "Carpeta Ciudadana (citizen portal)", "citizen-portal"),
    DemoMember("es.aepd", "Agencia Española de Protección de Datos", "auditor"),
    DemoMember("es.ine.padron", "INE - Padrón continuo", "provider"),
    DemoMember("es.aeat", "Agencia Estatal de Administración Tributaria", "provider"),
    DemoMember("es.tgss", "Tesorería General de la Seguridad Social", "provider"),
)


@dataclass(frozen=True, slots=True)
class DevSecrets:
    """The development keys, made once per state directory."""

    subject_hmac_key: str
    audit_digest_key: str
    signing_private_key: str
    """Raw 32-byte Ed25519 seed, base64 (the gateway's request-signing key)."""
    checkpoint_signer: str
    """``PRIVATE+KEY+...``: the audit indexer's checkpoint key (Go note format)."""
    api_keys: dict[str, str]
    """Member id -> API key, for the members who call the gateway."""
    member_signing_keys: dict[str, str] = field(default_factory=dict)
    """Provider member id -> its connector's Ed25519 seed (base64): replies and audit
    events are signed with it (made on first use, also for an older state directory)."""
    member_field_keys: dict[str, str] = field(default_factory=dict)
    """Provider member id -> its connector's X25519 private key (base64): the personal
    fields of its requests are sealed for it (made on first use, like the signing keys)."""
    kafka_passwords: dict[str, str] = field(default_factory=dict)
    """Kafka user -> SCRAM password: the brokers, the administrator, the gateway and each
    provider's connector (one identity per member; made on first use)."""

    def broker_auth(self) -> BrokerAuth:
        """The local broker's logins: one SCRAM user per member, the authorizer on."""
        return BrokerAuth(
            broker_password=self.kafka_passwords[BROKER_USER],
            admin_user=KAFKA_ADMIN_USER,
            admin_password=self.kafka_passwords[KAFKA_ADMIN_USER],
            users={user: self.kafka_passwords[user] for user in _member_kafka_users()},
        )

    def field_key_id(self, member: str) -> str:
        """The key id of ``member``'s development encryption key."""
        return f"{member}-enc-dev-1"

    def field_public_key(self, member: str) -> str:
        """The public half of ``member``'s development encryption key (base64)."""
        private = load_encryption_private_key(self.member_field_keys[member])
        return encryption_key_text(private.public_key())

    def member_key_id(self, member: str) -> str:
        """The key id of ``member``'s development signing key."""
        return SIGNING_KEY_ID if member == GATEWAY_MEMBER_ID else f"{member}-dev-1"

    def member_public_key(self, member: str) -> str:
        """The public key of ``member``'s development signing key (base64)."""
        if member == GATEWAY_MEMBER_ID:
            return self.signing_public_key
        return public_key_text(load_private_key(self.member_signing_keys[member]).public_key())

    @property
    def signing_public_key(self) -> str:
        return public_key_text(load_private_key(self.signing_private_key).public_key())

    @property
    def checkpoint_verifier(self) -> str:
        """The verifier key string auditors give ``interop audit verify --key``."""
        return NoteSigner.parse(self.checkpoint_signer).verifier.key_string()


def _new_seed() -> str:
    seed = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return base64.b64encode(seed).decode("ascii")


def _new_field_key() -> str:
    return encryption_key_text(X25519PrivateKey.generate())


def _providers() -> list[str]:
    return [m.id for m in DEMO_MEMBERS if m.role == "provider"]


def _kafka_users() -> list[str]:
    return [BROKER_USER, KAFKA_ADMIN_USER, *_member_kafka_users()]


def _member_kafka_users() -> list[str]:
    return [GATEWAY_KAFKA_USER, *_providers()]


def _new_secrets() -> DevSecrets:
    callers = [m.id for m in DEMO_MEMBERS if m.role != "provider"]
    return DevSecrets(
        subject_hmac_key=secrets.token_urlsafe(32),
        audit_digest_key=secrets.token_urlsafe(32),
        signing_private_key=_new_seed(),
        checkpoint_signer=NoteSigner.generate(AUDIT_ORIGIN).private_key_string(),
        api_keys={member: secrets.token_urlsafe(32) for member in callers},
        member_signing_keys={member: _new_seed() for member in _providers()},
        member_field_keys={member: _new_field_key() for member in _providers()},
        kafka_passwords={user: new_password() for user in _kafka_users()},
    )


def _write_secrets(path: Path, dev: DevSecrets) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(asdict(dev), out, indent=2)


def load_or_create_secrets(state_dir: Path) -> DevSecrets:
    """The state directory's keys; made (and written 0600) on the first run."""
    path = state_dir / _SECRETS_FILE
    if path.exists():
        dev = DevSecrets(**json.loads(path.read_text(encoding="utf-8")))
        missing = [m for m in _providers() if m not in dev.member_signing_keys]
        unsealed = [m for m in _providers() if m not in dev.member_field_keys]
        logins = [u for u in _kafka_users() if u not in dev.kafka_passwords]
        if missing or unsealed or logins:  # a state directory from an earlier version
            dev = replace(
                dev,
                member_signing_keys={
                    **dev.member_signing_keys,
                    **{m: _new_seed() for m in missing},
                },
                member_field_keys={
                    **dev.member_field_keys,
                    **{m: _new_field_key() for m in unsealed},
                },
                kafka_passwords={
                    **dev.kafka_passwords,
                    **{u: new_password() for u in logins},
                },
            )
            _write_secrets(path, dev)
        return dev
    state_dir.mkdir(parents=True, exist_ok=True)
    made = _new_secrets()
    _write_secrets(path, made)
    return made


def write_members_file(path: Path, dev: DevSecrets) -> None:
    """The demo members (the gateway too), their API keys' hashes, rights and signing keys."""
    members: list[dict[str, Any]] = [
        {
            "id": GATEWAY_MEMBER_ID,
            "name": "interop-bus gateway (dev)",
            "roles": ["gateway"],
            "signing_keys": [_key_entry(dev, GATEWAY_MEMBER_ID)],
        }
    ]
    for member in DEMO_MEMBERS:
        entry: dict[str, Any] = {"id": member.id, "name": member.name, "roles": [member.role]}
        if member.id in dev.member_signing_keys:
            entry["signing_keys"] = [_key_entry(dev, member.id)]
        if member.id in dev.member_field_keys:
            entry["encryption_keys"] = [
                {
                    "key_id": dev.field_key_id(member.id),
                    "public_key": dev.field_public_key(member.id),
                }
            ]
        key = dev.api_keys.get(member.id)
        if key is not None:
            entry["api_keys"] = [{"sha256": hash_api_key(key), "label": "interop dev"}]
        if member.rights:
            entry["rights"] = [
                {"service": service, "purposes": list(purposes)}
                for service, purposes in member.rights
            ]
        members.append(entry)
    path.write_text(yaml.safe_dump({"members": members}, allow_unicode=True), encoding="utf-8")


def _key_entry(dev: DevSecrets, member: str) -> dict[str, str]:
    return {"key_id": dev.member_key_id(member), "public_key": dev.member_public_key(member)}


def add_connector_signing(config: Path, dev: DevSecrets, *, kafka_login: bool = False) -> None:
    """Give a demo ``connector.yaml`` its member's keys: signing (replies, audit events)
    and field (the personal fields sealed for it); with ``kafka_login``, its member's own
    Kafka identity too."""
    document = yaml.safe_load(config.read_text(encoding="utf-8"))
    section = document["connector"]
    member = str(section["member_id"])
    if kafka_login:
        document["kafka"] = {**document["kafka"], **kafka_login_settings(dev, member)}
    section["field_keys"] = {dev.field_key_id(member): dev.member_field_keys[member]}
    section["signing"] = {
        "key_id": dev.member_key_id(member),
        "private_key": dev.member_signing_keys[member],
    }
    descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        yaml.safe_dump(document, out, sort_keys=False, allow_unicode=True)
    os.chmod(config, 0o600)  # it holds a private key now


def kafka_login_settings(dev: DevSecrets, user: str) -> dict[str, str]:
    """The ``kafka:`` settings that log in to the dev broker as ``user`` (SASL/SCRAM)."""
    return dev.broker_auth().login_fields(user)


def write_gateway_config(
    path: Path,
    *,
    state_dir: Path,
    bootstrap: str,
    http_port: int,
    dev: DevSecrets,
    kafka_login: bool = False,
) -> None:
    """``interop gateway --config`` for the development gateway (secrets inline, 0600);
    ``kafka_login``: it logs in to Kafka as its own user."""
    login = kafka_login_settings(dev, GATEWAY_KAFKA_USER) if kafka_login else {}
    document = {
        "kafka": {"bootstrap_servers": bootstrap, "client_id": "interop-dev-gateway", **login},
        "gateway": {
            "http": {"host": "127.0.0.1", "port": http_port},
            "gateway_group": "dev",
            # Every demo provider has an encryption key: nothing personal goes in clear.
            "field_encryption": "required",
            "reply_partitions": [0, 1, 2, 3],
            "store_url": f"sqlite:///{state_dir / 'gateway.db'}",
            "members_file": str(state_dir / "members.yaml"),
            "subject_hmac_key": dev.subject_hmac_key,
            "signing": {"key_id": SIGNING_KEY_ID, "private_key": dev.signing_private_key},
            # The console's demo citizen sign-in (development only): a document number
            # alone signs in, acting through the demo citizen portal.
            "console": {"demo_citizen_member": DEMO_CITIZEN_PORTAL},
            "audit": {
                # The connectors' audit_digest_key: both sides' digests of one request match.
                "digest_key": dev.audit_digest_key,
                "indexer": {
                    # `interop audit index` runs it as its own process (interop dev's
                    # child "audit-indexer"), off the event loop that answers exchanges.
                    "enabled": False,
                    "origin": AUDIT_ORIGIN,
                    "signing_key": dev.checkpoint_signer,
                    "checkpoint_interval_s": 2.0,
                },
            },
        },
    }
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        yaml.safe_dump(document, out)
