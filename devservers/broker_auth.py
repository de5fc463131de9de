"""Authentication and authorization for a local broker: the production trust model in dev.

With a ``BrokerAuth`` the runner starts a broker that no anonymous client can use:

* the client listener speaks SASL_PLAINTEXT with SCRAM-SHA-512, one user per member (the
  gateway, each provider's connector) plus an administrator; production puts the same
  mechanism on SASL_SSL (docs/kafka-acls.md), locally the traffic never leaves loopback;
* the controller listener speaks SASL/PLAIN with one static user, the broker itself: KRaft
  controllers cannot use SCRAM (its credentials live in the metadata log they serve), and a
  PLAINTEXT controller listener would make ``User:ANONYMOUS`` a super user;
* KRaft's ``StandardAuthorizer`` denies everything no ACL allows; the broker's own identity
  and the administrator are the only super users. ``interop acls apply`` writes the ACLs.

SCRAM credentials are written into the metadata log when the data directory is formatted
(``kafka-storage format --add-scram``): a user added later needs a fresh directory (dev) or
``kafka-configs --alter --add-config SCRAM-SHA-512=...`` (production, docs/kafka-acls.md).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from bus import KafkaSettings
from contracts.errors import InteropError

__all__ = ["BROKER_USER", "SCRAM_MECHANISM", "BrokerAuth", "BrokerAuthError", "new_password"]

BROKER_USER: Final = "interop-broker"
"""The brokers' own identity (inter-broker and controller traffic); a super user."""
SCRAM_MECHANISM: Final = "SCRAM-SHA-512"
# Credentials travel on the StorageTool command line as name=...,password=... and into a
# JAAS line: no characters that would need quoting there.
_CREDENTIAL_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")


class BrokerAuthError(InteropError):
    """A user name or password the local broker cannot take."""

    code = "KAFKA_AUTH_CONFIG"


def new_password() -> str:
    """A random SCRAM password (32 URL-safe characters, 192 bits)."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True, slots=True)
class BrokerAuth:
    """SCRAM users and the authorizer of a local broker or cluster."""

    broker_password: str
    admin_user: str
    admin_password: str
    users: Mapping[str, str] = field(default_factory=dict)
    """Member users (name -> password); their rights come only from ACLs."""

    def __post_init__(self) -> None:
        for name, password in self.all_users().items():
            if not (_CREDENTIAL_RE.fullmatch(name) and _CREDENTIAL_RE.fullmatch(password)):
                raise BrokerAuthError(
                    f"Kafka user {name[:64]!r}: names and passwords must be 1..64 of [A-Za-z0-9._-]"
                )
        if self.admin_user == BROKER_USER or BROKER_USER in self.users:
            raise BrokerAuthError(f"{BROKER_USER} is the brokers' own identity, not a user")

    def to_json(self) -> str:
        """The logins as JSON (kept 0600 in the broker's data directory)."""
        return json.dumps(
            {
                "broker_password": self.broker_password,
                "admin_user": self.admin_user,
                "admin_password": self.admin_password,
                "users": dict(self.users),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> BrokerAuth:
        """``to_json``'s text back; ValueError/KeyError/TypeError if it is not that."""
        raw = json.loads(text)
        return cls(
            broker_password=str(raw["broker_password"]),
            admin_user=str(raw["admin_user"]),
            admin_password=str(raw["admin_password"]),
            users={str(k): str(v) for k, v in dict(raw["users"]).items()},
        )

    def all_users(self) -> dict[str, str]:
        """Every SCRAM user the data directory is formatted with."""
        return {
            BROKER_USER: self.broker_password,
            self.admin_user: self.admin_password,
            **self.users,
        }

    def listener_settings(self, host: str, port: int, controller_port: int) -> str:
        """The listener lines: SCRAM clients (and brokers) on ``port``, PLAIN controllers."""
        return "\n".join(
            [
                f"listeners=CLIENT://{host}:{port},CONTROLLER://{host}:{controller_port}",
                f"advertised.listeners=CLIENT://{host}:{port}",
                "inter.broker.listener.name=CLIENT",
                "listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            ]
        )

    def settings(self) -> str:
        """SASL mechanisms, JAAS logins, the authorizer and its super users."""
        scram_login = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{BROKER_USER}" password="{self.broker_password}";'
        )
        plain_login = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{BROKER_USER}" password="{self.broker_password}" '
            f'user_{BROKER_USER}="{self.broker_password}";'
        )
        return "\n".join(
            [
                f"sasl.enabled.mechanisms={SCRAM_MECHANISM}",
                f"sasl.mechanism.inter.broker.protocol={SCRAM_MECHANISM}",
                f"listener.name.client.sasl.enabled.mechanisms={SCRAM_MECHANISM}",
                f"listener.name.client.{SCRAM_MECHANISM.lower()}.sasl.jaas.config={scram_login}",
                "sasl.mechanism.controller.protocol=PLAIN",
                "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
                f"listener.name.controller.plain.sasl.jaas.config={plain_login}",
                "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                f"super.users=User:{BROKER_USER};User:{self.admin_user}",
                "allow.everyone.if.no.acl.found=false",
            ]
        )

    def scram_arguments(self) -> list[str]:
        """``--add-scram`` arguments of ``kafka-storage format`` for every user."""
        return [
            argument
            for name, password in self.all_users().items()
            for argument in ("--add-scram", f"{SCRAM_MECHANISM}=[name={name},password={password}]")
        ]

    def login_fields(self, user: str) -> dict[str, str]:
        """The ``kafka:`` settings fields that log in as ``user`` (config files take them)."""
        password = self.all_users().get(user)
        if password is None or user == BROKER_USER:
            raise BrokerAuthError(f"no Kafka user {user!r} on this broker")
        return {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": SCRAM_MECHANISM,
            "sasl_username": user,
            "sasl_password": password,
        }

    def client_settings(self, bootstrap_servers: str, user: str, **extra: object) -> KafkaSettings:
        """Kafka client settings that log in as ``user`` (the administrator or a member)."""
        return KafkaSettings.model_validate(
            {"bootstrap_servers": bootstrap_servers, **self.login_fields(user), **extra}
        )

    def admin_settings(self, bootstrap_servers: str, **extra: object) -> KafkaSettings:
        """Client settings of the administrator (topics, ACLs, the runner's probe)."""
        return self.client_settings(bootstrap_servers, self.admin_user, **extra)
