"""The Kafka ACLs a deployment needs, derived from the catalogue, and the plan to reach them.

One Kafka identity (SCRAM user, principal ``User:<name>``) per member and one for the
gateway. The rules (issue #13), and nothing else is allowed:

* the gateway writes every request topic and the audit topic, reads its reply topic(s)
  and uses its reply-offsets group; its audit indexer reads the audit topic with its group
  and sets refused audit records aside on ``interop.audit.quarantine``; replies that fail
  verification go to the request's dead-letter topic;
* provider P's connector reads only P's request topics with its own consumer groups
  (``interop.connector.<P>.*``) and writes reply topics, the audit topic and P's
  dead-letter topics.

This module is pure: ``derive_acl_bindings`` gives the desired set, ``plan_acls`` compares it
with what the broker holds; ``bus.acl_admin`` reads and changes the broker.
ACLs cannot stop a member writing an audit event *claiming* another actor: audit events are
signed by their actor and verified by the indexer (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bus.ids import GatewayGroupId, parse_service_id
from bus.topics import AUDIT_QUARANTINE_TOPIC, AUDIT_TOPIC, ReplyTopic, RequestTopic
from contracts.catalogue import Catalogue

__all__ = [
    "AclBinding",
    "AclOperation",
    "AclPlan",
    "AclResource",
    "PatternType",
    "derive_acl_bindings",
    "plan_acls",
    "user",
]


class AclResource(StrEnum):
    """Kafka resource types interop-bus grants on."""

    TOPIC = "topic"
    GROUP = "group"


class AclOperation(StrEnum):
    """Kafka's ACL operations. interop-bus grants only READ, WRITE, DESCRIBE and
    DESCRIBE_CONFIGS (all ALLOW; Kafka denies the rest); the others are named so that a
    binding someone else put on the bus's resources can be shown and removed."""

    READ = "read"
    WRITE = "write"
    DESCRIBE = "describe"
    ALL = "all"
    CREATE = "create"
    DELETE = "delete"
    ALTER = "alter"
    DESCRIBE_CONFIGS = "describe_configs"
    ALTER_CONFIGS = "alter_configs"


class PatternType(StrEnum):
    """How a resource name matches: exactly, or as a prefix."""

    LITERAL = "literal"
    PREFIXED = "prefixed"


@dataclass(frozen=True, order=True)
class AclBinding:
    """One rule: ``principal`` may (or, ``allow=False``, may not) ``operation`` on a
    resource from ``host``. The derived rules are all ALLOW from any host."""

    principal: str
    resource: AclResource
    name: str
    pattern: PatternType
    operation: AclOperation
    allow: bool = True
    host: str = "*"

    def describe(self) -> str:
        """A one-line human form for plans and logs."""
        verb = "" if self.allow else "DENY "
        host = "" if self.host == "*" else f" from {self.host}"
        return (
            f"{self.principal} {verb}{self.operation.value} {self.resource.value} "
            f"{self.name}{'*' if self.pattern is PatternType.PREFIXED else ''}{host}"
        )


@dataclass(frozen=True)
class AclPlan:
    """What to add and what to remove so the broker holds exactly the desired bindings."""

    add: tuple[AclBinding, ...]
    remove: tuple[AclBinding, ...]

    @property
    def changed(self) -> bool:
        """Whether applying the plan would change anything."""
        return bool(self.add or self.remove)


def user(name: str) -> str:
    """The Kafka principal of a SCRAM user."""
    return f"User:{name}"


def _topic(principal: str, name: str, *ops: AclOperation) -> list[AclBinding]:
    # DESCRIBE: metadata and offsets; DESCRIBE_CONFIGS: the replication health check reads
    # each topic's min.insync.replicas (bus.replication_health). Neither reveals records.
    return [
        AclBinding(principal, AclResource.TOPIC, name, PatternType.LITERAL, op)
        for op in (*ops, AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS)
    ]


def _group(principal: str, name: str, pattern: PatternType) -> AclBinding:
    return AclBinding(principal, AclResource.GROUP, name, pattern, AclOperation.READ)


def derive_acl_bindings(
    catalogue: Catalogue,
    *,
    gateway_identity: str,
    gateway_groups: Sequence[GatewayGroupId],
    providers: Collection[str] | None = None,
) -> list[AclBinding]:
    """Every ALLOW binding the catalogue needs, sorted and without duplicates.

    ``providers``: the members (from the members file) that may act as providers; a
    provider the catalogue names but this set lacks gets nothing. None: every one.
    """
    gateway = user(gateway_identity)
    audit = AUDIT_TOPIC.name
    out: set[AclBinding] = set(_topic(gateway, audit, AclOperation.WRITE, AclOperation.READ))
    # The indexer sets aside audit records that fail verification.
    out.update(_topic(gateway, AUDIT_QUARANTINE_TOPIC.name, AclOperation.WRITE))
    reply_names = [ReplyTopic(group).name for group in gateway_groups]
    for group in gateway_groups:
        out.update(_topic(gateway, ReplyTopic(group).name, AclOperation.READ))
        out.add(_group(gateway, f"interop.gateway.{group}.replies", PatternType.LITERAL))
        out.add(_group(gateway, f"interop.audit-indexer.{group}", PatternType.LITERAL))
    for service_id in sorted(catalogue.services):
        service = catalogue.services[service_id]
        for major in sorted(service.majors()):
            request = RequestTopic(parse_service_id(service_id), major)
            out.update(_topic(gateway, request.name, AclOperation.WRITE))
            # Replies that fail verification are dead-lettered by the gateway.
            out.update(_topic(gateway, request.dead_letter.name, AclOperation.WRITE))
            for provider in service.meta.providers:
                if providers is not None and str(provider) not in providers:
                    continue
                member = user(str(provider))
                out.update(_topic(member, request.name, AclOperation.READ))
                out.update(_topic(member, request.dead_letter.name, AclOperation.WRITE))
                out.update(_topic(member, audit, AclOperation.WRITE))
                for reply in reply_names:
                    out.update(_topic(member, reply, AclOperation.WRITE))
                out.add(_group(member, f"interop.connector.{provider}.", PatternType.PREFIXED))
    return sorted(out)


def plan_acls(desired: Iterable[AclBinding], current: Iterable[AclBinding]) -> AclPlan:
    """The additions and removals that turn ``current`` into ``desired`` (stable order)."""
    want, have = set(desired), set(current)
    return AclPlan(add=tuple(sorted(want - have)), remove=tuple(sorted(have - want)))
